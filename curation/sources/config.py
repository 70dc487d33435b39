"""What counts as an input and how inputs are cut into units of work."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

# files_per_unit=auto: about this many units per folder (so small folders still split across workers), with units of
# at least AUTO_MIN_FILES (per-unit overhead) and at most AUTO_MAX_FILES files (resume granularity, shard size).
AUTO_UNITS_PER_FOLDER = 8
AUTO_MIN_FILES = 16
AUTO_MAX_FILES = 1000

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")

# Bytes columns tried, in this order, when a parquet file has neither ``image_column`` nor ``path_column``.
FALLBACK_IMAGE_COLUMNS = ("image", "img", "bytes", "image_bytes", "jpeg", "png", "webp")


@dataclass(frozen=True)
class SourceConfig:
    """How raw inputs are found and read.

    image_column: parquet column holding encoded image bytes (binary, or a struct with a ``bytes`` field as
        Hugging Face datasets write it). When missing, ``path_column`` is used, then the FALLBACK_IMAGE_COLUMNS.
    path_column: parquet column holding image file paths; relative paths are taken from the parquet file's folder.
    url_column: parquet column copied into each input's ``url`` when present.
    caption_column: parquet column copied into each input's ``caption`` when present.
    files_per_unit: a directory tree (and a run of loose image files) is cut into units of this many files,
        in the order of their relative paths; one unit is one resumable piece of work and one shard. ``auto``:
        from the folder's file count N alone (never from the machine, so shards and keys are the same
        everywhere): N / 8 rounded up to a power of two, at least 16 and at most 1000 (see ``unit_size``).
    extensions: file name endings (case-insensitive) that are images, in directories and in tars.
    max_bytes: a file or tar member larger than this is rejected as ``too_large`` without being read.
    """

    image_column: str = "jpg"
    path_column: str = "path"
    url_column: str = "url"
    caption_column: str = "caption"
    files_per_unit: int | Literal["auto"] = "auto"
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS
    max_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.files_per_unit != "auto" and self.files_per_unit < 1:
            raise ValueError(f"files_per_unit must be at least 1, got {self.files_per_unit}")
        if self.max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")

    def is_image_name(self, name: str) -> bool:
        return name.lower().endswith(tuple(e.lower() for e in self.extensions))

    def unit_size(self, files: int) -> int:
        """Files per unit for a folder (or run of loose files) of ``files`` files. ``auto`` rounds to a power of two
        so that adding or removing a few files seldom moves the unit boundaries of a folder."""
        if self.files_per_unit != "auto":
            return self.files_per_unit
        wanted = math.ceil(max(1, files) / AUTO_UNITS_PER_FOLDER)
        return min(AUTO_MAX_FILES, max(AUTO_MIN_FILES, 1 << (wanted - 1).bit_length()))
