"""The FAISS pool index: kind chosen by pool size, overrides, save/load round trip, agreement with exact search."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import ConfigError
from core.errors import UserError
from curation.retrieval.config import IndexConfig
from curation.retrieval.index import build_index, load_index, plan_index


def clustered(count: int, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count // 50, dim)).astype(np.float32)
    rows = centres[rng.integers(0, len(centres), count)] + 0.3 * rng.standard_normal((count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def recall_at(k: int, exact_ids: np.ndarray, approx_ids: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(exact_ids, approx_ids)]))


def test_kind_and_parameters_follow_the_pool_size():
    assert plan_index(5_000, 512, IndexConfig()).kind == "flat"
    medium = plan_index(320_000, 512, IndexConfig())
    assert (medium.kind, medium.nlist, medium.nprobe) == ("ivf_flat", 625, 10)
    large = plan_index(3_000_000, 512, IndexConfig())
    assert (large.kind, large.pq_m) == ("ivf_pq", 64)
    forced = plan_index(320_000, 512, IndexConfig(kind="ivf_fp16", nlist=512, nprobe=40))
    assert (forced.nlist, forced.nprobe) == (512, 40)
    assert plan_index(1000, 64, IndexConfig(kind="ivf_fp16")).nlist <= 1000 // 39  # enough training points per list
    with pytest.raises(ConfigError, match="index.kind"):
        IndexConfig(kind="lsh")
    with pytest.raises(UserError, match="pq_m"):
        plan_index(3_000_000, 100, IndexConfig(pq_m=64))


@pytest.mark.parametrize("kind", ["flat", "ivf_flat", "ivf_fp16", "ivf_pq", "hnsw"])
def test_round_trip_and_agreement_with_exact_search(kind, tmp_path):
    import faiss

    pool = clustered(3000)
    queries = pool[::30]
    config = IndexConfig(kind=kind, pq_m=8, nprobe=8)
    index = build_index(pool.astype(np.float16), config)  # float16 input, as the embedding store holds it
    sims, ids = index.search(queries, 10, batch_size=37)  # several batches: IVF kinds search in list order
    np.testing.assert_array_equal(index.search(queries, 10)[1], ids)  # one batch, in the callers' order
    exact_sims = queries @ pool.T
    exact_ids = np.argsort(-exact_sims, axis=1)[:, :10]
    assert recall_at(10, exact_ids, ids) >= 0.9
    assert (ids[:, 0] == np.arange(0, 3000, 30)).mean() >= 0.95  # each query finds itself first
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=2e-2)

    path = tmp_path / "pool.faiss"
    index.save(path)
    reloaded = load_index(path)
    assert reloaded.plan == index.plan and reloaded.size == 3000
    np.testing.assert_array_equal(reloaded.search(queries, 10)[1], ids)
    # the file is a plain faiss index: readable with no pros code
    assert faiss.read_index(str(path)).ntotal == 3000


def test_missing_index_and_empty_pool_are_explained(tmp_path):
    with pytest.raises(UserError, match="build the index first"):
        load_index(tmp_path / "none.faiss")
    with pytest.raises(UserError, match="no embedded images"):
        build_index(np.zeros((0, 8), np.float32))


def test_small_pool_searches_return_at_most_pool_size():
    pool = clustered(100)
    sims, ids = build_index(pool).search(pool[:2], 500)
    assert ids.shape == (2, 100) and (ids >= 0).all()
