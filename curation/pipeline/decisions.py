"""Per-unit decision files of the retrieval step: for each image it decided on, keep or drop and why.

``work/decisions/NNNNN.parquet``, one row per decided item of unit NNNNN. Items without a row keep their first-pass
outcome. ``decision`` is one of ``seed`` (kept by the first pass, a retrieval seed), ``retrieved`` (rejected by the
first pass, retrieved by ``seed_key`` at cosine ``similarity`` and passed the detector re-check), ``recheck_<why>``
(retrieved but failed the re-check), ``duplicate`` (a near-copy of ``duplicate_of``, cosine ``similarity``) or
``cluster_cap`` (its cluster was full).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shards.writer import atomic_write

DECISION_SCHEMA = pa.schema([
    ("item", pa.int64()),
    ("key", pa.string()),
    ("keep", pa.bool_()),
    ("decision", pa.string()),
    ("seed_key", pa.string()),
    ("similarity", pa.float64()),
    ("duplicate_of", pa.string()),
    ("faces", pa.string()),  # retrieved images: the re-check's faces (JSON, detector coordinates)
])


@dataclass
class Decision:
    item: int
    key: str
    keep: bool
    decision: str
    seed_key: str | None = None
    similarity: float | None = None
    duplicate_of: str | None = None
    faces: str | None = None


def decisions_path(work: Path, unit: int) -> Path:
    return Path(work) / "decisions" / f"{unit:05d}.parquet"


def write_decisions(path: Path, decisions: list[Decision]) -> None:
    rows = [asdict(d) for d in sorted(decisions, key=lambda d: d.item)]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=DECISION_SCHEMA), buffer, compression="zstd")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue())


def read_decisions(path: Path) -> dict[int, dict[str, Any]]:
    """item -> decision row of one unit."""
    table = pq.read_table(path, schema=DECISION_SCHEMA)
    return {row["item"]: row for row in table.to_pylist()}
