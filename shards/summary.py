"""What a shard directory holds, in numbers: samples, bytes, faces per sample and crop sizes, per shard and in total.

Only the ``.json`` members are read (the tar is read with seeks, jpg bytes are skipped), so this is fast.
A damaged shard is summarized as far as it reads and flagged; ``pros shards verify`` says what exactly is wrong.
"""

from __future__ import annotations

import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.errors import UserError
from shards.layout import shard_index, shard_paths
from shards.sample_meta import SampleMeta
from shards.verify import member_end, trailer_problem


@dataclass
class ShardSummary:
    """Counts of one shard (or of all shards together, for the total)."""

    name: str
    committed: bool = True
    samples: int = 0
    bytes: int = 0
    unreadable: int = 0  # samples whose json is missing or not valid sample metadata
    faces: Counter[int] = field(default_factory=Counter)  # faces per sample -> number of samples
    crop_sizes: Counter[int] = field(default_factory=Counter)  # crop side in pixels -> number of samples
    error: str | None = None

    def add(self, other: ShardSummary) -> None:
        self.samples += other.samples
        self.bytes += other.bytes
        self.unreadable += other.unreadable
        self.faces.update(other.faces)
        self.crop_sizes.update(other.crop_sizes)
        self.committed = self.committed and other.committed

    @property
    def faces_mean(self) -> float | None:
        total = sum(self.faces.values())
        return sum(k * v for k, v in self.faces.items()) / total if total else None

    @property
    def crop_min_median_max(self) -> tuple[int, float, int] | None:
        if not self.crop_sizes:
            return None
        return min(self.crop_sizes), counter_median(self.crop_sizes), max(self.crop_sizes)

    def to_dict(self) -> dict[str, Any]:
        crops = self.crop_min_median_max
        return {
            "name": self.name,
            "committed": self.committed,
            "samples": self.samples,
            "bytes": self.bytes,
            "unreadable_samples": self.unreadable,
            "faces_per_sample": {
                "mean": self.faces_mean,
                "max": max(self.faces) if self.faces else None,
                "histogram": {str(k): v for k, v in sorted(self.faces.items())},
            },
            "crop_size": None if crops is None else {"min": crops[0], "median": crops[1], "max": crops[2]},
            "error": self.error,
        }


@dataclass
class DirectorySummary:
    directory: Path
    shards: list[ShardSummary]

    @property
    def total(self) -> ShardSummary:
        total = ShardSummary("total")
        for shard in self.shards:
            total.add(shard)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "shards": [s.to_dict() for s in self.shards],
            "total": {**self.total.to_dict(), "shards": len(self.shards)},
        }


def counter_median(counts: Counter[int]) -> float:
    """Median of the multiset ``counts`` (value -> multiplicity) without expanding it."""
    n = sum(counts.values())
    ordered = sorted(counts.items())

    def nth(position: int) -> int:
        seen = 0
        for value, count in ordered:
            seen += count
            if position < seen:
                return value
        raise IndexError(position)

    return float(nth(n // 2)) if n % 2 else (nth(n // 2 - 1) + nth(n // 2)) / 2


def summarize_shard(tar_path: Path) -> ShardSummary:
    """Counts of one shard tar; a damaged tar gives the counts of what could be read plus ``error``."""
    index = shard_index(tar_path)
    committed = index is not None and shard_paths(tar_path.parent, index).marker.exists()
    summary = ShardSummary(tar_path.name, committed=committed)
    summary.bytes = tar_path.stat().st_size
    keys: set[str] = set()
    with_json: set[str] = set()
    end_of_members = 0
    try:
        with tarfile.open(tar_path, mode="r:") as tar:
            for member in tar:
                end_of_members = member_end(member)
                key, _, ext = member.name.partition(".")
                keys.add(key)
                if ext != "json" or not member.isfile():
                    continue
                with_json.add(key)
                handle = tar.extractfile(member)
                _count_meta(summary, handle.read() if handle is not None else b"")
        trailer = trailer_problem(tar_path, end_of_members)
        if trailer:
            summary.error = f"damaged tar ({trailer}); run pros shards verify for details"
    except (tarfile.TarError, OSError, EOFError) as err:
        summary.error = f"damaged tar ({err}); run pros shards verify for details"
    summary.samples = len(keys)
    summary.unreadable += len(keys - with_json)
    return summary


def _count_meta(summary: ShardSummary, data: bytes) -> None:
    try:
        meta = SampleMeta.from_json(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        summary.unreadable += 1
        return
    summary.faces[len(meta.faces)] += 1
    summary.crop_sizes[meta.crop_size] += 1


def summarize_directory(directory: Path, on_shard: Callable[[str, int, int], None] | None = None) -> DirectorySummary:
    """Summaries of every ``NNNNN.tar`` in ``directory``, in index order; ``on_shard(name, done, total)`` reports
    progress. Raises UserError when there is no such directory or no shard in it."""
    directory = Path(directory)
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory; pass the shard directory (the one holding 00000.tar ...)")
    tars = sorted((p for p in directory.glob("*.tar") if shard_index(p) is not None), key=lambda p: shard_index(p) or 0)
    if not tars:
        raise UserError(f"{directory} holds no shard (no NNNNN.tar file); pass a directory written by pros curate")
    summaries = []
    if on_shard is not None:
        on_shard("", 0, len(tars))
    for done, tar in enumerate(tars, start=1):
        summaries.append(summarize_shard(tar))
        if on_shard is not None:
            on_shard(tar.name, done, len(tars))
    return DirectorySummary(directory, summaries)
