"""Face-aware retrieval: seeds pull their nearest pool images, which the detector then checks again.

Seeds are the pool images the detector judged face-dominant, plus optional seed images from outside the pool and
text prompts (when the embedder has a text tower). Each seed retrieves its k nearest pool images above a cosine
threshold; every retrieved image keeps its most similar seed. A ``recheck`` callback (the pipeline passes the
detector with its retrieval settings) decides which candidates are kept. Every decision carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.errors import UserError
from curation.embed.base import has_text_tower
from curation.retrieval.config import RetrievalConfig
from curation.retrieval.index import PoolIndex

# Given candidate keys, return for each None (passes) or the reason it is dropped (e.g. "no_face").
RecheckFn = Callable[[list[str]], list[str | None]]


@dataclass(frozen=True)
class SeedSet:
    """Seeds of one kind: ids (pool keys, ``image:NAME`` or ``text:PROMPT``), unit vectors and their threshold."""

    keys: list[str]
    vectors: np.ndarray
    min_similarity: float


@dataclass(frozen=True)
class RetrievalDecision:
    key: str
    status: str  # "kept" or "dropped"
    reason: str  # "seed", "retrieved", or "recheck_<why>" for a candidate the detector rejected
    seed_key: str | None = None  # the most similar seed that retrieved it
    similarity: float | None = None


def pool_seeds(pool_keys: Sequence[str], vectors: np.ndarray, seed_keys: Sequence[str], config: RetrievalConfig) -> SeedSet:
    """Seeds taken from the pool itself (the first pass's face-dominant images), by key."""
    row_of = {key: row for row, key in enumerate(pool_keys)}
    missing = [k for k in seed_keys if k not in row_of]
    if missing:
        raise UserError(f"{len(missing)} seed keys are not in the embedded pool (first: {missing[0]!r}); re-run embedding")
    rows = np.array([row_of[k] for k in seed_keys], dtype=np.int64)
    return SeedSet(list(seed_keys), np.asarray(vectors[rows], np.float32).reshape(len(rows), -1), config.min_similarity)


def image_seeds(embedder, images: Sequence[np.ndarray], names: Sequence[str], config: RetrievalConfig) -> SeedSet:
    """Seed images from outside the pool (e.g. a folder the user gives), embedded with the pool's embedder."""
    return SeedSet([f"image:{n}" for n in names], embedder.embed_images(images), config.min_similarity)


def text_seeds(embedder, prompts: Sequence[str], config: RetrievalConfig) -> SeedSet:
    """Text prompts as seeds; only embedders with a text tower (open_clip) can place them among images."""
    if not has_text_tower(embedder):
        raise UserError(
            f"text seeds need an embedder with a text tower, and {embedder.name} has none; "
            "use retrieval.embed.backend=open_clip or drop the prompts"
        )
    return SeedSet([f"text:{p}" for p in prompts], embedder.embed_texts(prompts), config.min_text_similarity)


def nearest_candidates(
    index: PoolIndex, seed_sets: Sequence[SeedSet], config: RetrievalConfig
) -> dict[int, tuple[float, str]]:
    """Pool row -> (best similarity, seed key) for every row some seed retrieved above its threshold."""
    best: dict[int, tuple[float, str]] = {}
    for seeds in seed_sets:
        if not seeds.keys:
            continue
        sims, rows = index.search(seeds.vectors, config.k, config.batch_size)
        hits = (rows >= 0) & (sims >= seeds.min_similarity)
        for seed_index, neighbour in zip(*np.nonzero(hits)):
            row, sim = int(rows[seed_index, neighbour]), float(sims[seed_index, neighbour])
            if row not in best or sim > best[row][0]:
                best[row] = (sim, seeds.keys[seed_index])
    return best


def retrieve_from_seeds(
    index: PoolIndex,
    pool_keys: Sequence[str],
    seed_sets: Sequence[SeedSet],
    config: RetrievalConfig = RetrievalConfig(),
    recheck: RecheckFn | None = None,
) -> list[RetrievalDecision]:
    """Decisions for the pool seeds (``seed``) and every retrieved image (``retrieved`` or ``recheck_<why>``).

    Pool images neither seeded nor retrieved get no decision here: the first pass's reason stands for them.
    Results are ordered seeds first, then candidates in pool order, so reruns give identical output.
    """
    if index.size != len(pool_keys):
        raise ValueError(f"index holds {index.size} vectors but {len(pool_keys)} pool keys were given")
    pool_key_set = set(pool_keys)
    seed_pool_keys = [k for s in seed_sets for k in s.keys if k in pool_key_set]
    decisions = [RetrievalDecision(k, "kept", "seed") for k in dict.fromkeys(seed_pool_keys)]
    already = set(seed_pool_keys)
    found = nearest_candidates(index, seed_sets, config)
    rows = sorted(row for row in found if pool_keys[row] not in already)
    candidate_keys = [pool_keys[row] for row in rows]
    verdicts = recheck(candidate_keys) if recheck and candidate_keys else [None] * len(candidate_keys)
    if len(verdicts) != len(candidate_keys):
        raise ValueError(f"recheck returned {len(verdicts)} verdicts for {len(candidate_keys)} candidates")
    for row, key, verdict in zip(rows, candidate_keys, verdicts):
        sim, seed_key = found[row]
        status, reason = ("kept", "retrieved") if verdict is None else ("dropped", f"recheck_{verdict}")
        decisions.append(RetrievalDecision(key, status, reason, seed_key, round(sim, 6)))
    return decisions
