"""Embeddings stored in the clip-retrieval layout load with plain numpy + pyarrow + faiss, aligned with keys."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from curation.embed.precomputed import PrecomputedEmbeddings
from curation.retrieval.embedding_store import EmbeddingStore, write_part


def test_parts_are_float16_unit_rows_aligned_with_keys(tmp_path):
    rng = np.random.default_rng(0)
    first, second = rng.standard_normal((4, 16)) * 3, rng.standard_normal((2, 16))
    write_part(tmp_path, 1, ["u1-a", "u1-b", "u1-c", "u1-d"], first, extra_columns={"face_score": [0.9, 0.8, 0.7, 0.6]})
    write_part(tmp_path, 0, ["u0-a", "u0-b"], second, image_paths=["x/a.jpg", "x/b.jpg"])
    store = EmbeddingStore(tmp_path)
    assert store.keys() == ["u0-a", "u0-b", "u1-a", "u1-b", "u1-c", "u1-d"]
    matrix = store.matrix()
    assert matrix.dtype == np.float16 and matrix.shape == (6, 16)
    np.testing.assert_allclose(np.linalg.norm(matrix.astype(np.float32), axis=1), 1.0, atol=2e-3)
    expected = first[2] / np.linalg.norm(first[2])
    np.testing.assert_allclose(matrix[4].astype(np.float32), expected, atol=2e-3)
    assert np.concatenate(list(store.iter_batches(rows=3))).shape == (6, 16)
    assert isinstance(store.parts[0].vectors, np.memmap)
    # the same folder is valid precomputed input
    vectors, found = PrecomputedEmbeddings(tmp_path).lookup(["u1-c"])
    assert found.all() and float(vectors[0] @ expected) > 0.999


def test_store_loads_without_pros_code(tmp_path):
    rng = np.random.default_rng(1)
    write_part(tmp_path, 0, [f"k{i}" for i in range(50)], rng.standard_normal((50, 8)))
    write_part(tmp_path, 1, [f"k{i}" for i in range(50, 80)], rng.standard_normal((30, 8)))
    script = textwrap.dedent(f"""
        import glob, sys, numpy as np, pyarrow.parquet as pq, faiss
        assert not any(m.split('.')[0] in ('curation', 'pros', 'shards') for m in sys.modules)
        embs = sorted(glob.glob('{tmp_path}/img_emb/*.npy'))
        metas = sorted(glob.glob('{tmp_path}/metadata/*.parquet'))
        x = np.concatenate([np.load(p) for p in embs]).astype('float32')
        keys = [k for p in metas for k in pq.read_table(p).column('key').to_pylist()]
        index = faiss.IndexFlatIP(x.shape[1]); index.add(x)
        _, ids = index.search(x[60:61], 1)
        print(keys[ids[0, 0]], x.shape[0], len(keys))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["k60", "80", "80"]
