"""File names of one shard and of the dataset-level files, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SIZES_FILE = "sizes.json"


@dataclass(frozen=True)
class ShardPaths:
    """The files that make up shard ``index`` in ``directory``; ``marker`` is written last and commits it."""

    directory: Path
    index: int

    @property
    def stem(self) -> str:
        return f"{self.index:05d}"

    @property
    def tar(self) -> Path:
        return self.directory / f"{self.stem}.tar"

    @property
    def parquet(self) -> Path:
        return self.directory / f"{self.stem}.parquet"

    @property
    def stats(self) -> Path:
        return self.directory / f"{self.stem}_stats.json"

    @property
    def marker(self) -> Path:
        return self.directory / f"{self.stem}.done"


def shard_paths(directory: Path, index: int) -> ShardPaths:
    if index < 0:
        raise ValueError(f"shard index must be non-negative, got {index}")
    return ShardPaths(Path(directory), index)


def shard_index(tar: Path) -> int | None:
    """The integer index of ``NNNNN.tar``, or None when the name is not a shard name."""
    stem = tar.name.removesuffix(".tar")
    return int(stem) if tar.name.endswith(".tar") and stem.isdigit() else None
