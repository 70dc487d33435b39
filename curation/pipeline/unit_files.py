"""The per-unit work files the decode and detect stages leave for the stages after them.

Both are parquet, written row group by row group as items stream through (memory stays flat whatever the unit
size), into ``*.tmp`` that is renamed into place only when the whole unit is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.types import DetectedFace

ROW_GROUP = 32

DECODE_SCHEMA = pa.schema([
    ("item", pa.int64()),
    ("status", pa.string()),  # "ok" or "rejected"
    ("reason", pa.string()),
    ("detail", pa.string()),
    ("width", pa.int64()),  # original size of the source image
    ("height", pa.int64()),
    ("format", pa.string()),
    ("decoded_width", pa.int64()),  # width of the decoded pixels (smaller than width after reduced-size decoding)
    ("scale", pa.float64()),  # detector-resolution side / decoded side
    ("det_width", pa.int64()),
    ("det_height", pa.int64()),
    ("pixels", pa.binary()),  # detector-resolution RGB uint8, row-major (det_height, det_width, 3)
])

DETECT_SCHEMA = pa.schema([("item", pa.int64()), ("faces", pa.string())])  # faces: JSON, detector coordinates


class RowFileWriter:
    """Append rows to a parquet file under ``path.tmp``; ``commit()`` renames it to ``path``."""

    def __init__(self, path: Path, schema: pa.Schema, compression: str = "zstd") -> None:
        self.path = path
        self.tmp = path.with_name(path.name + ".tmp")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows: list[dict[str, Any]] = []
        # Pixels barely compress (about 10%, at 4x the CPU of writing them plain) and dictionary encoding of large
        # binaries is wasted work: the decode cache is written with compression="none", no dictionaries.
        self.writer = pq.ParquetWriter(self.tmp, schema, compression=compression, use_dictionary=compression != "none")

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def commit(self) -> None:
        self._flush()
        self.writer.close()
        with open(self.tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self.tmp, self.path)

    def abandon(self) -> None:
        self.writer.close()
        self.tmp.unlink(missing_ok=True)


def iter_rows(path: Path, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a work file in order, a row group at a time (only ``columns`` when given)."""
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=ROW_GROUP, columns=columns):
        yield from batch.to_pylist()


def pixels_from_row(row: dict[str, Any]) -> np.ndarray | None:
    if row.get("pixels") is None:
        return None
    flat = np.frombuffer(row["pixels"], dtype=np.uint8)
    return flat.reshape(int(row["det_height"]), int(row["det_width"]), 3)


def faces_to_json(faces: list[DetectedFace]) -> str:
    return json.dumps([
        {"box": [float(v) for v in f.box], "landmarks": np.asarray(f.landmarks, dtype=float).tolist(),
         "score": float(f.score)}
        for f in faces
    ], separators=(",", ":"))


def faces_from_json(text: str) -> list[DetectedFace]:
    return [
        DetectedFace(box=tuple(f["box"]), landmarks=np.asarray(f["landmarks"], dtype=np.float64), score=f["score"])
        for f in json.loads(text)
    ]
