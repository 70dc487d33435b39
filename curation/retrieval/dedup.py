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
    """(rows, cols) of all found pairs with cosine >= threshold, self-pairs excluded: each vector's ``config.k``
    nearest (itself included, as in a kNN search) among those above the threshold. ``vectors`` are the pool ``index``
    holds, row for row (row ids are index ids)."""
    lists = index.inverted_lists()
    if lists is None:
        return _pairs_by_knn_search(index, vectors, config, chunk_rows)
    nprobe = config.nprobe or index.plan.nprobe
    probes = index.pool_lists(nprobe)
    if probes is None:
        probes = index.probed_lists(vectors, nprobe)
    return _pairs_by_list(lists, probes, vectors, config)


def _pairs_by_list(
    lists: list[np.ndarray], probes: np.ndarray, vectors: np.ndarray, config: DedupConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs an IVF search would find, computed list by list: every vector that visits a list is compared with all
    of the list's members in one matrix product. The same comparisons as a search of each vector (same lists
    visited), but at matrix-multiply speed and with a working set of one list at a time, so the time grows with N."""
    visits = probes.ravel()
    order = np.argsort(visits, kind="stable")
    visitors = order // probes.shape[1]  # vector rows grouped by the list they visit
    bounds = np.searchsorted(visits[order], np.arange(len(lists) + 1))
    found_rows, found_cols, found_sims = [], [], []
    for number, members in enumerate(lists):
        rows = visitors[bounds[number] : bounds[number + 1]]
        if len(members) == 0 or len(rows) == 0:
            continue
        sims = np.asarray(vectors[rows], np.float32) @ np.asarray(vectors[members], np.float32).T
        at, to = _links(sims, config)
        found_rows.append(rows[at])
        found_cols.append(members[to])
        found_sims.append(sims[at, to])
    if not found_rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows, cols, sims = (np.concatenate(found) for found in (found_rows, found_cols, found_sims))
    best_first = np.lexsort((cols, -sims, rows))
    rows, cols = rows[best_first].astype(np.int64), cols[best_first].astype(np.int64)
    first_of_row = np.searchsorted(rows, rows)  # rows are sorted: where each row's run starts
    keep = (np.arange(len(rows)) - first_of_row < config.k) & (rows != cols)
    return rows[keep], cols[keep]


def _links(sims: np.ndarray, config: DedupConfig) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) positions of ``sims`` at or above the threshold; where that is more than k per row on average
    (a low threshold), only each row's k best, which bounds memory by N x nprobe x k like a search would."""
    at, to = np.nonzero(sims >= config.threshold)
    if len(at) <= config.k * sims.shape[0] or sims.shape[1] <= config.k:
        return at, to
    best = np.argpartition(-sims, config.k - 1, axis=1)[:, : config.k]
    at, pick = np.nonzero(np.take_along_axis(sims, best, axis=1) >= config.threshold)
    return at, best[at, pick]


def _pairs_by_knn_search(
    index: PoolIndex, vectors: np.ndarray, config: DedupConfig, chunk_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's k nearest through the index (exact, HNSW, or on a GPU), thresholded; memory bounded by chunks."""
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
    from scipy.sparse import coo_matrix  # heavy (scipy, 0.35 s): only the dedup step loads it
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
