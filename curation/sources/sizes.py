"""How many inputs a unit holds, when that is cheap to know without reading any image (for progress totals)."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable

import pyarrow.parquet as pq

from curation.sources.config import SourceConfig
from curation.sources.units import InputUnit
from curation.sources.video import is_video_name


def estimate_items(units: Iterable[InputUnit], sources: SourceConfig) -> int | None:
    """Inputs ``units`` hold, for a progress bar's total; None when a unit's size is not cheap to know."""
    total = 0
    for unit in units:
        count = unit_size(unit, sources)
        if count is None:
            return None
        total += count
    return total


def unit_size(unit: InputUnit, sources: SourceConfig) -> int | None:
    """The number of inputs of ``unit``, from a listing, parquet metadata or tar headers (no image is read)."""
    try:
        if unit.kind == "directory":  # a video's frame count is known only once it is read
            return None if any(map(is_video_name, unit.members)) else len(unit.members)
        if not os.path.isfile(unit.path):  # a FIFO or a device: never opened here (its item says not_a_file)
            return None
        if unit.kind == "parquet":
            return int(pq.ParquetFile(unit.path).metadata.num_rows)
        if unit.kind == "tar" and unit.path.lower().endswith(".tar"):
            with tarfile.open(unit.path, mode="r:") as tar:  # seeks from header to header
                members = [m.name for m in tar.getmembers()]
                return None if any(map(is_video_name, members)) else sum(map(sources.is_image_name, members))
    except Exception:  # a damaged file: its size is unknown, the run itself reports it
        return None
    return None
