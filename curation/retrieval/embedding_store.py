"""Embeddings on disk in the clip-retrieval layout, so autofaiss and clip-retrieval read them unchanged.

``ROOT/img_emb/img_emb_{part:05d}.npy``: (rows, D) float16, L2-normalized, one file per input unit (part);
``ROOT/metadata/metadata_{part:05d}.parquet``: the same rows in the same order, with ``key`` (the manifest key)
and ``image_path`` (the source id) plus any extra columns. The metadata file is written last: a part with both
files is complete. Reading needs only numpy and pyarrow (or pandas); nothing from pros.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import UserError
from curation.embed.base import l2_normalize
from curation.embed.precomputed import find_parts

EMBEDDING_DTYPE = np.float16


def part_paths(root: Path, part: int) -> tuple[Path, Path]:
    return root / "img_emb" / f"img_emb_{part:05d}.npy", root / "metadata" / f"metadata_{part:05d}.parquet"


def write_part(
    root: str | Path,
    part: int,
    keys: Sequence[str],
    vectors: np.ndarray,
    image_paths: Sequence[str] | None = None,
    extra_columns: Mapping[str, Sequence] | None = None,
) -> tuple[Path, Path]:
    """Store one part's embeddings (normalized here, saved as float16) and its metadata, each file atomically."""
    root = Path(root)
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(keys):
        raise ValueError(f"part {part}: {len(keys)} keys but embeddings of shape {vectors.shape}")
    emb_path, meta_path = part_paths(root, part)
    emb_path.parent.mkdir(parents=True, exist_ok=True)
    meta_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = emb_path.with_name(emb_path.name + ".tmp")
    with tmp.open("wb") as handle:
        np.save(handle, l2_normalize(vectors).astype(EMBEDDING_DTYPE))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, emb_path)
    columns = {"key": [str(k) for k in keys], "image_path": [str(p) for p in (image_paths or keys)]}
    columns.update({name: list(values) for name, values in (extra_columns or {}).items()})
    tmp = meta_path.with_name(meta_path.name + ".tmp")
    pq.write_table(pa.table(columns), tmp)
    os.replace(tmp, meta_path)
    return emb_path, meta_path


@dataclass(frozen=True)
class StoredPart:
    part: int
    vectors: np.ndarray  # (rows, D) float16, memory-mapped
    keys: list[str]


class EmbeddingStore:
    """Every complete part of a clip-retrieval folder: keys in row order and memory-mapped vectors."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.parts: list[StoredPart] = []
        for emb_path, meta_path in find_parts(self.root):
            vectors = np.load(emb_path, mmap_mode="r")
            keys = [str(k) for k in pq.read_table(meta_path, columns=["key"]).column("key").to_pylist()]
            if vectors.ndim != 2 or vectors.shape[0] != len(keys):
                raise UserError(f"{emb_path} has shape {vectors.shape} but {meta_path} has {len(keys)} rows; re-embed it")
            self.parts.append(StoredPart(int(emb_path.stem.rsplit("_", 1)[1]), vectors, keys))
        widths = {p.vectors.shape[1] for p in self.parts}
        if len(widths) > 1:
            raise UserError(f"{self.root}: parts have widths {sorted(widths)}; embed every part with the same model")
        self.dim = widths.pop() if widths else 0

    def __len__(self) -> int:
        return sum(len(p.keys) for p in self.parts)

    def keys(self) -> list[str]:
        """All keys in global row order (part by part): row i of ``matrix()`` belongs to ``keys()[i]``."""
        return [key for part in self.parts for key in part.keys]

    def iter_batches(self, rows: int = 65536) -> Iterator[np.ndarray]:
        """float32 batches of at most ``rows`` rows in global row order, read from the memory maps."""
        for part in self.parts:
            for start in range(0, part.vectors.shape[0], rows):
                yield np.asarray(part.vectors[start : start + rows], dtype=np.float32)

    def matrix(self) -> np.ndarray:
        """All vectors as one (N, D) float16 array (parts are concatenated; a single part stays memory-mapped)."""
        if len(self.parts) == 1:
            return self.parts[0].vectors
        if not self.parts:
            return np.zeros((0, 0), EMBEDDING_DTYPE)
        return np.concatenate([p.vectors for p in self.parts])
