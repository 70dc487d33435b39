"""Seeded retrieval and cluster balancing on generated vectors: thresholds, seed bookkeeping, caps, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from curation.retrieval.balance import balance_clusters
from curation.retrieval.config import (
    BalanceConfig,
    DedupConfig,
    IndexConfig,
    RetrievalConfig,
)
from curation.retrieval.dedup import find_near_duplicates, similar_pairs
from curation.retrieval.index import PoolIndex, build_index
from curation.retrieval.seeded import (
    SeedSet,
    pool_seeds,
    retrieve_from_seeds,
    text_seeds,
)


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_each_candidate_keeps_its_most_similar_seed_and_thresholds_apply():
    rng = np.random.default_rng(0)
    pool = unit(rng.standard_normal((200, 16)))
    keys = [f"k{i:03d}" for i in range(200)]
    near_a = unit(pool[0:1] + 0.05 * rng.standard_normal((1, 16)))[0]
    near_b = unit(pool[0:1] + 0.4 * rng.standard_normal((1, 16)))[0]
    pool[1], pool[2] = near_a, near_b
    index = build_index(pool)
    strict = RetrievalConfig(k=5, min_similarity=0.9)
    decisions = retrieve_from_seeds(index, keys, [pool_seeds(keys, pool, ["k000"], strict)], strict)
    assert [(d.key, d.reason) for d in decisions] == [("k000", "seed"), ("k001", "retrieved")]
    assert decisions[1].seed_key == "k000" and decisions[1].similarity == pytest.approx(float(pool[0] @ pool[1]), abs=1e-5)
    loose = RetrievalConfig(k=5, min_similarity=float(pool[0] @ pool[2]) - 1e-3)
    outside = SeedSet(["image:x.jpg"], unit(pool[2:3] + 0.01), loose.min_similarity)
    decisions = retrieve_from_seeds(index, keys, [pool_seeds(keys, pool, ["k000"], loose), outside], loose)
    by_key = {d.key: d for d in decisions}
    assert by_key["k002"].seed_key == "image:x.jpg"  # nearer to the outside seed than to k000
    assert "image:x.jpg" not in by_key  # outside seeds are not pool decisions


def test_seed_errors_name_the_fix():
    pool = unit(np.eye(4) + 0.1)
    with pytest.raises(UserError, match="not in the embedded pool"):
        pool_seeds(["a", "b", "c", "d"], pool, ["zz"], RetrievalConfig())

    class NoText:
        name = "efficientnet_lite0"

    with pytest.raises(UserError, match="text tower"):
        text_seeds(NoText(), ["a face"], RetrievalConfig())


def test_chains_of_duplicates_form_one_group_beyond_k():
    rng = np.random.default_rng(1)
    walk = np.cumsum(np.concatenate([rng.standard_normal((1, 32)), 0.06 * rng.standard_normal((29, 32))]), axis=0)
    chain = unit(walk)  # a random walk: each step is a near-copy of the last, the ends are not near-copies
    assert chain[0] @ chain[-1] < 0.97 < min(chain[i] @ chain[i + 1] for i in range(29))
    others = unit(rng.standard_normal((50, 32)))
    vectors = np.concatenate([chain, others])
    keys = [f"k{i:03d}" for i in range(len(vectors))]
    decisions = find_near_duplicates(vectors, keys, config=DedupConfig(threshold=0.97, k=4))
    dropped = [d for d in decisions if d.status == "dropped"]
    assert len(dropped) == 29 and {d.duplicate_of for d in dropped} == {"k000"}  # ties go to the earlier key
    assert all(d.reason == "unique" for d in decisions[30:])


def clustered_with_copies(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """4000 clustered vectors, 150 of them replaced by near-copies of others; returns (pool, copied rows)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((40, 32)))
    pool = unit(centres[rng.integers(0, 40, 4000)] + 0.35 * rng.standard_normal((4000, 32)))
    copies = rng.choice(4000, 300, replace=False)
    pool[copies[:150]] = unit(pool[copies[150:]] + 0.03 * rng.standard_normal((150, 32)))
    return pool, copies


@pytest.mark.parametrize("kind, threshold", [("ivf_flat", 0.8), ("ivf_fp16", 0.8), ("ivf_flat", 0.3)])
def test_dedup_over_inverted_lists_links_the_pairs_a_knn_search_finds(kind, threshold):
    """Dedup compares, list by list, each vector with the members of the lists it would visit as a query; it must
    link exactly the pairs that searching each vector's k nearest through the same index links."""
    from curation.retrieval.dedup import _pairs_by_knn_search

    pool, _ = clustered_with_copies(3)
    index = build_index(pool, IndexConfig(kind=kind, nlist=32, nprobe=4))
    config = DedupConfig(threshold=threshold, k=4, nprobe=3)  # at 0.3 most of a cluster links: k caps it
    by_list = similar_pairs(index, pool, config)
    by_search = _pairs_by_knn_search(index, pool, config, chunk_rows=1 << 20)
    assert index.inverted_lists() is not None and len(by_list[0]) >= 290  # nearly all planted pairs, both ways
    assert set(zip(*(side.tolist() for side in by_list))) == set(zip(*(side.tolist() for side in by_search)))
    reloaded = PoolIndex(index.index, index.plan)  # as read from disk: the lists each row visits are found again
    assert [side.tolist() for side in similar_pairs(reloaded, pool, config)] == [side.tolist() for side in by_list]
    assert np.bincount(by_list[0]).max() <= config.k - 1  # at most k nearest per image, itself among them


def test_identical_copies_beyond_k_form_one_group_over_inverted_lists():
    pool, copies = clustered_with_copies(4)
    pool[copies[:40]] = pool[copies[40]]  # 41 identical images: similarity ties everywhere
    keys = [f"k{i:04d}" for i in range(len(pool))]
    index = build_index(pool, IndexConfig(kind="ivf_flat", nlist=32))
    decisions = find_near_duplicates(pool, keys, config=DedupConfig(threshold=0.99, k=8), index=index)
    group = [decisions[row] for row in copies[:41]]
    kept = [d for d in group if d.status == "kept"]
    assert len(kept) == 1 and {d.duplicate_of for d in group if d.status == "dropped"} == {kept[0].key}


def test_balance_caps_a_dominant_cluster_deterministically():
    rng = np.random.default_rng(2)
    centres = unit(rng.standard_normal((4, 16)) * 5)
    sizes = [400, 20, 20, 20]
    vectors = unit(np.concatenate([c + 0.05 * rng.standard_normal((n, 16)) for c, n in zip(centres, sizes)]))
    keys = [f"k{i:04d}" for i in range(len(vectors))]
    scores = rng.uniform(size=len(vectors))
    config = BalanceConfig(enabled=True, clusters=4, cap=50, seed=3)
    decisions = balance_clusters(vectors, keys, scores, config)
    labels = np.array([d.cluster for d in decisions])
    kept = np.array([d.status == "kept" for d in decisions])
    for label in np.unique(labels):
        members = labels == label
        assert kept[members].sum() == min(50, members.sum())  # capped, and small clusters keep everyone
        if members.sum() > 50:  # the best-scoring members are the ones kept
            assert scores[members & kept].min() >= scores[members & ~kept].max()
    assert kept[:400].mean() < 0.5 and kept[400:].all()  # the dominant scene no longer dominates
    assert all(d.reason == "cluster_cap" for d in decisions if d.status == "dropped")
    assert decisions == balance_clusters(vectors, keys, scores, config)
