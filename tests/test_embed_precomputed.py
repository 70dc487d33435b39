"""Precomputed embeddings in the clip-retrieval layout, written here with plain numpy + pyarrow, matched by key."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import ConfigError
from core.errors import UserError
from curation.embed.config import EmbedderConfig
from curation.embed.precomputed import PrecomputedEmbeddings


def write_layout(root, parts, column="key"):
    (root / "img_emb").mkdir(parents=True)
    (root / "metadata").mkdir()
    for number, (keys, vectors) in enumerate(parts):
        np.save(root / "img_emb" / f"img_emb_{number}.npy", vectors.astype(np.float16))
        pq.write_table(pa.table({column: keys, "caption": ["x"] * len(keys)}), root / "metadata" / f"metadata_{number}.parquet")


def unit_rows(count, dim, seed):
    rows = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_vectors_are_matched_by_key_across_parts(tmp_path):
    first, second = unit_rows(3, 8, 0), unit_rows(2, 8, 1)
    write_layout(tmp_path, [(["a", "b", "c"], first), (["d", "e"], second)])
    store = PrecomputedEmbeddings(tmp_path)
    assert len(store) == 5 and store.dim == 8
    vectors, found = store.lookup(["e", "zzz", "a"])
    assert found.tolist() == [True, False, True]
    np.testing.assert_allclose(vectors[0], second[1], atol=2e-3)
    np.testing.assert_allclose(vectors[2], first[0], atol=2e-3)
    assert not vectors[1].any()
    np.testing.assert_allclose(np.linalg.norm(vectors[found], axis=1), 1.0, atol=1e-5)


def test_image_path_column_is_the_fallback_key(tmp_path):
    write_layout(tmp_path, [(["img/1.jpg", "img/2.jpg"], unit_rows(2, 4, 2))], column="image_path")
    _, found = PrecomputedEmbeddings(tmp_path).lookup(["img/2.jpg"])
    assert found.all()


def test_broken_layouts_are_explained(tmp_path):
    with pytest.raises(UserError, match="img_emb/ and metadata/"):
        PrecomputedEmbeddings(tmp_path)
    write_layout(tmp_path / "short", [(["a", "b", "c"], unit_rows(2, 4, 3))])
    with pytest.raises(UserError, match="must align"):
        PrecomputedEmbeddings(tmp_path / "short")
    write_layout(tmp_path / "nokey", [(["a"], unit_rows(1, 4, 4))], column="url")
    with pytest.raises(UserError, match="precomputed_key_column"):
        PrecomputedEmbeddings(tmp_path / "nokey")
    assert PrecomputedEmbeddings(tmp_path / "nokey", key_column="url").lookup(["a"])[1].all()
    with pytest.raises(ConfigError, match="embed.precomputed=DIR"):
        EmbedderConfig(backend="precomputed")
