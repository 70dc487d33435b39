"""Deterministic, atomic shard writing.

A shard is ``NNNNN.tar`` (members sorted by key then extension, fixed mtime/uid/gid/mode), ``NNNNN.parquet`` (one
row per sample) and ``NNNNN_stats.json`` (img2dataset field names). Each file is written as ``*.tmp``, fsynced and
renamed; the commit marker ``NNNNN.done`` is written last, so a reader that trusts markers never sees a half shard.
Writing the same samples twice gives byte-identical tar and parquet files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from shards.keys import check_key
from shards.layout import SIZES_FILE, ShardPaths, shard_index, shard_paths

FIXED_MTIME = 946684800  # 2000-01-01: any constant works; zero confuses some tar tools.


@dataclass(frozen=True)
class Sample:
    """One sample: its key, its members (extension -> bytes, e.g. ``{"jpg": ..., "json": ...}``) and its
    manifest row (flat, parquet-friendly values)."""

    key: str
    members: Mapping[str, bytes]
    row: Mapping[str, Any] = field(default_factory=dict)


def tar_bytes(samples: Iterable[Sample]) -> bytes:
    """The deterministic tar archive of ``samples``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in sorted(samples, key=lambda s: s.key):
            check_key(sample.key)
            for ext in sorted(sample.members):
                data = sample.members[ext]
                info = tarfile.TarInfo(f"{sample.key}.{ext}")
                info.size = len(data)
                info.mtime = FIXED_MTIME
                info.mode = 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def parquet_bytes(samples: Iterable[Sample]) -> bytes:
    """The manifest table of ``samples`` (``key`` first, rows in key order) as parquet bytes."""
    rows = [{"key": s.key, **s.row} for s in sorted(samples, key=lambda s: s.key)]
    table = pa.Table.from_pylist(rows) if rows else pa.table({"key": pa.array([], pa.string())})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through ``path.tmp``: fsync, then rename, then fsync the directory."""
    atomic_write_with(path, lambda handle: handle.write(data))


def atomic_write_with(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Let ``write`` fill ``path.tmp``, then fsync, rename over ``path`` and fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)  # a fresh file gets the umask's mode; a leftover keeps whatever mode it had
    with open(tmp, "wb") as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_shard(
    directory: Path,
    index: int,
    samples: list[Sample],
    stats: Mapping[str, Any] | None = None,
) -> ShardPaths:
    """Write shard ``index`` of ``samples`` into ``directory`` and commit it with its marker.

    ``stats`` adds to the img2dataset-style stats (e.g. ``failed_to_decode``, ``status_dict``). Keys must be unique.
    """
    keys = [s.key for s in samples]
    if len(set(keys)) != len(keys):
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"shard {index:05d}: duplicate sample keys {duplicates[:5]}")
    started = time.time()
    paths = shard_paths(directory, index)
    paths.directory.mkdir(parents=True, exist_ok=True)
    paths.marker.unlink(missing_ok=True)
    tar_data = tar_bytes(samples)
    parquet_data = parquet_bytes(samples)
    atomic_write(paths.tar, tar_data)
    atomic_write(paths.parquet, parquet_data)
    shard_stats = {
        "count": len(samples),
        "successes": len(samples),
        "start_time": started,
        "end_time": time.time(),
        "duration": time.time() - started,
        **(stats or {}),
    }
    atomic_write(paths.stats, (json.dumps(shard_stats, indent=2, sort_keys=True) + "\n").encode())
    marker = {
        "count": len(samples),
        "tar_sha256": hashlib.sha256(tar_data).hexdigest(),
        "parquet_sha256": hashlib.sha256(parquet_data).hexdigest(),
    }
    atomic_write(paths.marker, (json.dumps(marker, sort_keys=True) + "\n").encode())
    return paths


def read_marker(paths: ShardPaths) -> dict[str, Any] | None:
    """The commit marker of a shard, or None when the shard is not committed."""
    try:
        marker: dict[str, Any] = json.loads(paths.marker.read_text())
        return marker
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def committed_shards(directory: Path) -> list[ShardPaths]:
    """Shards in ``directory`` whose commit marker exists, in index order."""
    found = []
    for tar in sorted(Path(directory).glob("*.tar")):
        index = shard_index(tar)
        if index is not None and shard_paths(directory, index).marker.exists():
            found.append(shard_paths(directory, index))
    return found


def write_sizes(directory: Path) -> dict[str, int]:
    """Write ``sizes.json`` (shard file name -> sample count) from the committed shards' markers."""
    sizes = {}
    for paths in committed_shards(directory):
        marker = read_marker(paths)
        if marker is not None:
            sizes[paths.tar.name] = int(marker["count"])
    atomic_write(Path(directory) / SIZES_FILE, (json.dumps(sizes, indent=2, sort_keys=True) + "\n").encode())
    return sizes
