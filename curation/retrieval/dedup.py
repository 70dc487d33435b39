"""Near-duplicates across the whole pool: link pairs with cosine >= threshold, keep the best of each linked group.

Links come from a kNN search of every pool vector against the pool index (each image's k nearest, thresholded);
groups are the connected components of that graph, so a chain of near-copies forms one group even when the group
is larger than k. In each group the image with the highest score (e.g. face score, then pixel count) is kept;
ties go to the earlier key, so the result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from curation.retrieval.config import DedupConfig, IndexConfig
from curation.retrieval.index import PoolIndex, build_index


@dataclass(frozen=True)
class DedupDecision:
    key: str
    status: str  # "kept" or "dropped"
    reason: str  # "unique", "best_of_duplicates", or "near_duplicate"
    group: int = -1  # duplicate group id (its kept member's row); -1 for unique images
    duplicate_of: str | None = None  # for dropped images: the kept image of the group
    similarity: float | None = None  # cosine to the kept image


def similar_pairs(
    index: PoolIndex, vectors: np.ndarray, config: DedupConfig, chunk_rows: int = 1 << 20
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of all found pairs with cosine >= threshold, self-pairs excluded; memory bounded by chunks."""
    all_rows, all_cols = [], []
    for start in range(0, vectors.shape[0], chunk_rows):
        chunk = vectors[start : start + chunk_rows]
        sims, ids = index.search(chunk, config.k, config.batch_size, nprobe=config.nprobe)
        row_grid = np.repeat(np.arange(start, start + chunk.shape[0])[:, None], ids.shape[1], axis=1)
        linked = (ids >= 0) & (sims >= config.threshold) & (ids != row_grid)
        all_rows.append(row_grid[linked].astype(np.int64))
        all_cols.append(ids[linked].astype(np.int64))
    return np.concatenate(all_rows), np.concatenate(all_cols)


def duplicate_groups(size: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Component label of each of ``size`` rows in the graph of (rows, cols) links."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(size, size))
    _, labels = connected_components(graph, directed=True, connection="weak")
    return labels


def _rank_order(size: int, scores: np.ndarray | None) -> np.ndarray:
    """Position of each row in "best first" order: higher scores first (columns compared left to right), then row."""
    if scores is None:
        return np.arange(size)
    scores = np.asarray(scores, np.float64).reshape(size, -1)
    # np.lexsort sorts by the last key first: row index breaks ties, the first score column decides first.
    order = np.lexsort([np.arange(size)] + [-scores[:, c] for c in reversed(range(scores.shape[1]))])
    rank = np.empty(size, np.int64)
    rank[order] = np.arange(size)
    return rank


def find_near_duplicates(
    vectors: np.ndarray,
    keys: Sequence[str],
    scores: np.ndarray | None = None,
    config: DedupConfig = DedupConfig(),
    index: PoolIndex | None = None,
    index_config: IndexConfig = IndexConfig(),
) -> list[DedupDecision]:
    """One decision per key, in pool order. ``scores`` (N,) or (N, m): higher is better, e.g. [face score, pixels]."""
    size = len(keys)
    if vectors.shape[0] != size:
        raise ValueError(f"{size} keys but {vectors.shape[0]} vectors")
    if size == 0:
        return []
    index = index or build_index(vectors, index_config)
    rows, cols = similar_pairs(index, vectors, config)
    labels = duplicate_groups(size, rows, cols)
    rank = _rank_order(size, scores)
    best_of_label: dict[int, int] = {}
    for row in np.argsort(rank, kind="stable"):
        best_of_label.setdefault(int(labels[row]), int(row))
    counts = np.bincount(labels)
    decisions = []
    for row, key in enumerate(keys):
        label = int(labels[row])
        if counts[label] == 1:
            decisions.append(DedupDecision(key, "kept", "unique"))
            continue
        best = best_of_label[label]
        if best == row:
            decisions.append(DedupDecision(key, "kept", "best_of_duplicates", group=best))
        else:
            sim = float(np.dot(np.asarray(vectors[row], np.float32), np.asarray(vectors[best], np.float32)))
            decisions.append(DedupDecision(key, "dropped", "near_duplicate", best, keys[best], round(sim, 6)))
    return decisions
