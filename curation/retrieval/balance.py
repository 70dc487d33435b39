"""Cluster-balanced sampling: k-means over the embeddings, then at most ``cap`` images kept per cluster.

So that a few identities or scenes do not dominate the curated set. Within a cluster the highest-scoring images
are kept (ties broken by a seeded shuffle); the same seed gives the same selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from curation.retrieval.config import BalanceConfig


@dataclass(frozen=True)
class BalanceDecision:
    key: str
    status: str  # "kept" or "dropped"
    reason: str  # "within_cluster_cap" or "cluster_cap"
    cluster: int


def cluster_labels(vectors: np.ndarray, clusters: int, iterations: int, seed: int) -> np.ndarray:
    """Spherical k-means (faiss) labels of each row."""
    import faiss

    data = np.ascontiguousarray(vectors, dtype=np.float32)
    # best of 3 restarts: one unlucky initialisation would otherwise split a big cluster and merge small ones
    kmeans = faiss.Kmeans(data.shape[1], clusters, niter=iterations, seed=seed, spherical=True, nredo=3, verbose=False)
    kmeans.train(data)
    _, labels = kmeans.index.search(data, 1)
    return labels[:, 0].astype(np.int64)


def balance_clusters(
    vectors: np.ndarray, keys: Sequence[str], scores: np.ndarray | None = None, config: BalanceConfig = BalanceConfig()
) -> list[BalanceDecision]:
    """One decision per key, in pool order; ``scores`` (N,): higher is kept first within a cluster."""
    size = len(keys)
    if size == 0:
        return []
    clusters = min(size, config.clusters or max(1, round(np.sqrt(size))))
    labels = cluster_labels(vectors, clusters, config.iterations, config.seed)
    cap = config.cap or max(1, int(np.ceil(2 * size / clusters)))
    tie_break = np.random.default_rng(config.seed).permutation(size)
    score_values = np.zeros(size) if scores is None else np.asarray(scores, np.float64).reshape(size)
    order = np.lexsort([tie_break, -score_values, labels])  # by cluster, then best score, then seeded shuffle
    kept = np.zeros(size, bool)
    taken: dict[int, int] = {}
    for row in order:
        label = int(labels[row])
        if taken.get(label, 0) < cap:
            taken[label] = taken.get(label, 0) + 1
            kept[row] = True
    return [
        BalanceDecision(key, "kept" if kept[row] else "dropped", "within_cluster_cap" if kept[row] else "cluster_cap", int(labels[row]))
        for row, key in enumerate(keys)
    ]
