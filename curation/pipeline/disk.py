"""Will the decode cache fit? The disk the run's decoding will still write, estimated before it starts.

The cache keeps every decoded image at detector resolution, uncompressed (docs/curate.md), so a large dump can need
far more room than its JPEGs take. A full disk stops a run (it resumes once there is room); the estimate lets the user
see that coming before hours of work.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curation.config import CurateConfig
from curation.pipeline.decode_stage import DECODE
from curation.pipeline.layout import RunLayout
from curation.pipeline.planner import Plan
from curation.sources import InputUnit

CANVAS_SHARE = 0.75  # a 4:3 photo shrunk to fit the detector's square covers 3/4 of it


@dataclass(frozen=True)
class CacheEstimate:
    needed: int  # bytes the pending decoding will write
    free: int  # bytes free where the output goes
    uncounted_units: int  # pending units whose image count is unknown before reading them (tar shards)

    @property
    def fits(self) -> bool:
        return self.needed <= self.free

    def describe(self) -> str:
        at_least = "at least " if self.uncounted_units else ""
        return f"decode cache still to write: {at_least}{_size(self.needed)} ({_size(self.free)} free)"

    def warning(self, work: Path) -> str:
        return (f"warning: the decode cache will need {'at least ' if self.uncounted_units else ''}{_size(self.needed)} "
                f"in {work}, but only {_size(self.free)} are free there; the run stops when the disk is full (it "
                "resumes where it stopped). Free some space, lower detect.input_size, or curate the inputs in parts.")


def estimate_cache(plan: Plan, config: CurateConfig, out: Path) -> CacheEstimate:
    per_image = int(config.detect.input_size**2 * 3 * CANVAS_SHARE)
    images, uncounted = 0, 0
    for unit_plan in plan.pending:
        if DECODE not in unit_plan.todo:
            continue
        count = _image_count(unit_plan.unit)
        images += count or 0
        uncounted += count is None
    return CacheEstimate(images * per_image, shutil.disk_usage(_existing(out)).free, uncounted)


def _image_count(unit: InputUnit) -> int | None:
    if unit.kind == "directory":
        return len(unit.members)
    if unit.kind == "parquet":
        if not os.path.isfile(unit.path):  # a FIFO or a device is never opened (its one item says not_a_file)
            return 0
        try:
            return int(pq.ParquetFile(unit.path).metadata.num_rows)
        except (OSError, ValueError):  # unreadable: decoding will say so, row by row
            return 0
    return None


def _existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists():
        path = path.parent
    return path


def _size(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def decode_cache_bytes(layout: RunLayout) -> int:
    """Bytes the decode cache (``work/decode``) holds now."""
    folder = layout.decode_dir
    return sum(p.stat().st_size for p in folder.glob("*.parquet")) if folder.is_dir() else 0


def prune_decode_cache(layout: RunLayout) -> int:
    """Delete the decode cache of a finished run; returns the bytes freed. Resume stays correct: the decode markers
    now name missing outputs, so a later run decodes again (and, its signatures unchanged, writes the same shards)."""
    freed = 0
    for path in sorted(layout.decode_dir.glob("*.parquet")):
        freed += path.stat().st_size
        path.unlink()
    return freed


def size_text(size: int) -> str:
    return _size(size)
