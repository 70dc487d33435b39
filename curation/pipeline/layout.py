"""Where a curation run keeps its files, in one place.

``OUT/shards`` (the product), ``OUT/manifest`` (one parquet per input unit, a row for every input), ``OUT/report``,
and ``OUT/work`` (per-stage outputs and commit markers that make the run resumable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunLayout:
    out: Path

    @property
    def shards(self) -> Path:
        return self.out / "shards"

    @property
    def manifest(self) -> Path:
        return self.out / "manifest"

    @property
    def report(self) -> Path:
        return self.out / "report"

    @property
    def work(self) -> Path:
        return self.out / "work"

    def marker(self, stage: str, unit: int) -> Path:
        return self.work / "markers" / stage / f"{unit:05d}.json"

    def pool_marker(self, stage: str) -> Path:
        """The marker of a pool stage, which commits once for the whole run."""
        return self.work / "markers" / stage / "global.json"

    @property
    def decode_dir(self) -> Path:
        """The decode cache: every unit's images at detector resolution."""
        return self.work / "decode"

    @property
    def detect_dir(self) -> Path:
        return self.work / "detect"

    def decode_cache(self, unit: int) -> Path:
        return self.decode_dir / f"{unit:05d}.parquet"

    def detections(self, unit: int) -> Path:
        return self.detect_dir / f"{unit:05d}.parquet"

    def manifest_file(self, unit: int) -> Path:
        return self.manifest / f"{unit:05d}.parquet"

    def unit_files(self, unit: int, stages: Sequence[str]) -> list[Path]:
        """Every file this run layout keeps for ``unit`` (``stages``: the names of every per-unit stage)."""
        stem = f"{unit:05d}"
        names = [f"{stem}.tar", f"{stem}.parquet", f"{stem}_stats.json", f"{stem}.done"]
        files = [self.shards / n for n in names] + [self.manifest_file(unit), self.decode_cache(unit),
                                                     self.detections(unit)]
        retrieval = [self.out / "embeddings" / "img_emb" / f"img_emb_{stem}.npy",
                     self.out / "embeddings" / "metadata" / f"metadata_{stem}.parquet",
                     self.work / "decisions" / f"{stem}.parquet"]
        return files + retrieval + [self.marker(stage, unit) for stage in stages]

    def stale_units(self, count: int) -> list[int]:
        """Units numbered ``count`` or above that earlier runs left (the inputs or ``files_per_unit`` changed)."""
        found = set()
        for folder in (self.shards, self.manifest):
            for path in folder.glob("[0-9][0-9][0-9][0-9][0-9]*"):
                stem = path.name[:5]
                if stem.isdigit() and int(stem) >= count:
                    found.add(int(stem))
        return sorted(found)

    def make_dirs(self) -> None:
        for directory in (self.shards, self.manifest, self.report, self.decode_dir, self.detect_dir):
            directory.mkdir(parents=True, exist_ok=True)
