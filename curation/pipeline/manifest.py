"""The per-unit manifest: one row for every input, kept or not, so counts balance: inputs = kept + rejected.

A video adds its own row (status ``video`` when read) beside its frames' rows; inputs count images and frames.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shards.keys import item_order
from shards.writer import atomic_write

MANIFEST_SCHEMA = pa.schema([
    ("key", pa.string()),  # shards.make_key(unit, item); kept faces are key + "_f<face>"
    ("unit", pa.int64()),
    ("item", pa.int64()),
    ("source_id", pa.string()),
    ("path", pa.string()),
    ("url", pa.string()),
    ("status", pa.string()),  # "kept" or "rejected"; "video" for a video that was read (its frames are rows too)
    ("reason", pa.string()),  # None when kept; a decode or selection reason otherwise
    ("detail", pa.string()),
    ("width", pa.int64()),  # original image size; None when it could not be decoded
    ("height", pa.int64()),
    ("n_faces", pa.int64()),  # faces the detector found
    ("n_kept_faces", pa.int64()),  # samples written for this input
    ("max_score", pa.float64()),
    ("largest_face_area_ratio", pa.float64()),  # largest face box area / image area
    # The retrieval step's decision (None when it made none, or retrieval is off): seed, retrieved,
    # recheck_<why>, duplicate, cluster_cap; see curation/pipeline/decisions.py.
    ("decision", pa.string()),
    ("seed_key", pa.string()),  # retrieved: the seed that retrieved it
    ("similarity", pa.float64()),  # retrieved: cosine to that seed; duplicate: cosine to the kept copy
    ("duplicate_of", pa.string()),  # duplicate: the key of the kept copy
    ("caption", pa.string()),  # img2dataset .txt / .json caption, parquet caption column
    # A frame sampled from a video: the video's source_id, the frame's index among the sampled ones, its time.
    ("source_video", pa.string()),
    ("source_frame", pa.int64()),
    ("source_time_s", pa.float64()),
    # A video's own row (status "video", or "rejected" with the reason it gave no frames): its frame counts.
    ("frames_sampled", pa.int64()),
    ("frames_kept", pa.int64()),
    ("frames_broken", pa.int64()),  # packets that failed to decode; the frames around them were still sampled
])

COLUMNS = tuple(MANIFEST_SCHEMA.names)


def manifest_bytes(rows: Iterable[dict[str, Any]]) -> bytes:
    table = pa.Table.from_pylist(sorted(rows, key=lambda r: item_order(r["item"])), schema=MANIFEST_SCHEMA)
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def write_manifest(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, manifest_bytes(rows))


def read_manifests(directory: Path, columns: list[str] | None = None) -> pa.Table:
    """All unit manifests of a run as one table (in unit order)."""
    files = sorted(Path(directory).glob("[0-9]*.parquet"))
    if not files:
        return MANIFEST_SCHEMA.empty_table() if columns is None else MANIFEST_SCHEMA.empty_table().select(columns)
    return pa.concat_tables(pq.read_table(f, columns=columns, schema=MANIFEST_SCHEMA) for f in files)
