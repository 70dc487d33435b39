"""Precomputed embeddings as input: vectors in the clip-retrieval layout, matched to samples by key.

Layout (what clip-retrieval writes and LAION publishes): ``DIR/img_emb/img_emb_{i}.npy`` holds one (rows, D) array
per part and ``DIR/metadata/metadata_{i}.parquet`` the rows' metadata in the same order, with a key column
(``key`` in img2dataset-derived sets, else ``image_path``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow.parquet as pq

from core.errors import UserError
from curation.embed.base import l2_normalize

_PART = re.compile(r"_(\d+)$")
KEY_COLUMNS = ("key", "image_path")


def part_number(path: Path) -> int:
    match = _PART.search(path.stem)
    if not match:
        raise UserError(f"{path}: expected a name ending in _<number> (e.g. img_emb_0.npy), as clip-retrieval writes")
    return int(match.group(1))


def find_parts(root: Path) -> list[tuple[Path, Path]]:
    """(img_emb npy, metadata parquet) pairs in part order; a part missing either half is an error."""
    emb_dir, meta_dir = root / "img_emb", root / "metadata"
    if not emb_dir.is_dir() or not meta_dir.is_dir():
        raise UserError(f"{root} has no img_emb/ and metadata/ folders; point it at a clip-retrieval embeddings folder")
    embeddings = {part_number(p): p for p in emb_dir.glob("img_emb_*.npy")}
    metadata = {part_number(p): p for p in meta_dir.glob("metadata_*.parquet")}
    if not embeddings:
        raise UserError(f"{emb_dir} holds no img_emb_*.npy files")
    unmatched = sorted(set(embeddings) ^ set(metadata))
    if unmatched:
        raise UserError(f"{root}: parts {unmatched} have an img_emb or a metadata file but not both; re-export them")
    return [(embeddings[n], metadata[n]) for n in sorted(embeddings)]


def pick_key_column(names: Sequence[str], wanted: str, where: Path) -> str:
    if wanted:
        if wanted not in names:
            raise UserError(f"{where} has no column {wanted!r} (columns: {', '.join(names)}); fix retrieval.embed.precomputed_key_column")
        return wanted
    for name in KEY_COLUMNS:
        if name in names:
            return name
    raise UserError(f"{where} has neither a 'key' nor an 'image_path' column; set retrieval.embed.precomputed_key_column")


class PrecomputedEmbeddings:
    """Vectors from a clip-retrieval folder, looked up by key; parts are memory-mapped, read only where needed."""

    name = "precomputed"

    def __init__(self, root: str | Path, key_column: str = "") -> None:
        self.root = Path(root).expanduser()
        self.arrays: list[np.ndarray] = []
        self.location: dict[str, tuple[int, int]] = {}
        for part, (emb_path, meta_path) in enumerate(find_parts(self.root)):
            array = np.load(emb_path, mmap_mode="r")
            column = pick_key_column(pq.read_schema(meta_path).names, key_column, meta_path)
            keys = [str(k) for k in pq.read_table(meta_path, columns=[column]).column(column).to_pylist()]
            if array.ndim != 2 or len(keys) != array.shape[0]:
                raise UserError(f"{emb_path} has shape {array.shape} but {meta_path} has {len(keys)} rows; they must align")
            for row, key in enumerate(keys):
                self.location.setdefault(key, (part, row))
            self.arrays.append(array)
        dims = {a.shape[1] for a in self.arrays}
        if len(dims) != 1:
            raise UserError(f"{self.root}: parts have different widths {sorted(dims)}; they must come from one model")
        self.dim = dims.pop()
        self.version = f"precomputed-{self.root.name}-{len(self.location)}x{self.dim}"

    def __len__(self) -> int:
        return len(self.location)

    def lookup(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(vectors (N, D) float32 unit rows, found (N,) bool); rows of keys not found are zero."""
        vectors = np.zeros((len(keys), self.dim), np.float32)
        found = np.zeros(len(keys), bool)
        for position, key in enumerate(keys):
            where = self.location.get(str(key))
            if where is not None:
                vectors[position] = self.arrays[where[0]][where[1]]
                found[position] = True
        vectors[found] = l2_normalize(vectors[found])
        return vectors, found
