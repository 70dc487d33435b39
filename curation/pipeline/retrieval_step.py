"""The work of the retrieval pool stage (``retrieve_stage``), between the per-unit stages (decode, embed, detect)
and writing.

It reads every unit's embeddings memory-mapped, builds the FAISS index over the pool (saved to ``index/``), takes as
seeds the images the first pass kept (plus the seed folder and prompts, see ``outside_seeds``), retrieves their
neighbours, has the detector check the retrieved images again with the re-check settings, removes near-duplicates
among the images that would be kept (the best by face score, then pixel count, stays), optionally caps clusters, and
writes one decision file per unit; the stage then commits its marker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from curation.config import CurateConfig
from curation.crops import CropConfig, select_faces
from curation.pipeline.decisions import Decision, decisions_path, write_decisions
from curation.pipeline.embed_stage import computing_embedder_for, embeddings_root, runtime_embed_config
from curation.pipeline.layout import RunLayout
from curation.pipeline.outside_seeds import outside_seed_sets
from curation.pipeline.records import to_decoded_pixels
from curation.pipeline.retrieval_config import RetrievalStageConfig
from curation.pipeline.unit_files import faces_from_json, faces_to_json, pixels_from_row
from curation.retrieval.balance import balance_clusters
from curation.retrieval.dedup import find_near_duplicates
from curation.retrieval.embedding_store import part_paths
from curation.retrieval.index import build_index
from curation.retrieval.seeded import pool_seeds, retrieve_from_seeds
from curation.types import DetectedFace, FaceDetector
from shards import make_key

# Face scores of copies of one photo differ by noise: within a step of this size the larger image wins.
SCORE_TIE = 0.05


def recheck_crops(config: CurateConfig) -> CropConfig:
    """How a retrieved image's faces are selected: the first pass's rules with the re-check's ``min_score``."""
    return replace(config.crops, min_score=config.retrieval.recheck.min_score)


@dataclass
class PoolImage:
    """What the step knows about one embedded image from the first pass."""

    unit: int
    item: int
    first_pass_kept: bool
    face_score: float  # best score among the faces that make samples (0 when none)
    pixels: int  # original width x height


def index_path(layout: RunLayout) -> Path:
    return layout.out / "index" / "pool.faiss"


def load_pool(layout: RunLayout, units: Sequence[int]) -> tuple[list[str], np.ndarray]:
    """Keys and vectors (float32, in unit order) of every unit's committed embeddings, read memory-mapped."""
    keys: list[str] = []
    arrays = []
    for unit in units:
        emb_path, meta_path = part_paths(embeddings_root(layout.out), unit)
        array = np.load(emb_path, mmap_mode="r")
        keys += [str(k) for k in pq.read_table(meta_path, columns=["key"]).column("key").to_pylist()]
        if array.shape[0]:
            arrays.append(array)
    matrix = np.concatenate(arrays).astype(np.float32) if arrays else np.zeros((0, 1), np.float32)
    return keys, matrix


def first_pass(layout: RunLayout, unit: int, crops: CropConfig) -> dict[str, PoolImage]:
    """Key -> first-pass facts of a unit's decoded images, from the decode cache (no pixels) and the detections."""
    decode = pq.read_table(layout.decode_cache(unit),
                           columns=["item", "status", "width", "height", "decoded_width", "scale"]).to_pylist()
    faces_of = {r["item"]: r["faces"] for r in pq.read_table(layout.detections(unit)).to_pylist()}
    facts = {}
    for row in decode:
        if row["status"] != "ok":
            continue
        faces = to_decoded_pixels(faces_from_json(faces_of.get(row["item"], "[]")), row["scale"])
        kept, _ = select_faces(faces, crops, scale=row["width"] / max(1, row["decoded_width"]))
        facts[make_key(unit, row["item"])] = PoolImage(
            unit, row["item"], bool(kept), max((f.score for f in kept), default=0.0), row["width"] * row["height"])
    return facts


class Recheck:
    """The detector with the re-check settings, run on the decode cache's images of retrieved candidates."""

    def __init__(self, layout: RunLayout, config: CurateConfig, facts: dict[str, PoolImage],
                 detector: Callable[[], FaceDetector]) -> None:
        self.layout, self.config, self.facts, self.detector = layout, config, facts, detector
        self.crops = recheck_crops(config)
        self.kept_faces: dict[str, str] = {}  # key -> faces JSON (detector coordinates) of passing candidates
        self.scores: dict[str, float] = {}

    def __call__(self, keys: list[str]) -> list[str | None]:
        by_unit: dict[int, list[str]] = defaultdict(list)
        for key in keys:
            by_unit[self.facts[key].unit].append(key)
        verdicts: dict[str, str | None] = {}
        for unit, unit_keys in sorted(by_unit.items()):
            wanted = {self.facts[k].item: k for k in unit_keys}
            table = pq.read_table(self.layout.decode_cache(unit), filters=[("item", "in", list(wanted))])
            rows = table.to_pylist()
            for row in rows:  # video frames keep no pixels in the decode cache, so they cannot be re-checked
                if row["pixels"] is None:
                    verdicts[wanted[row["item"]]] = "not_cached"
            rows = [row for row in rows if row["pixels"] is not None]
            batch = self.config.detect.batch_size
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                found = self.detector().detect([p for r in chunk if (p := pixels_from_row(r)) is not None])
                for row, faces in zip(chunk, found):
                    verdicts[wanted[row["item"]]] = self._judge(wanted[row["item"]], row, faces)
        return [verdicts.get(k, "unreadable") for k in keys]

    def _judge(self, key: str, row: dict[str, Any], found: list[DetectedFace]) -> str | None:
        text = faces_to_json(found)
        faces = to_decoded_pixels(faces_from_json(text), row["scale"])
        kept, reason = select_faces(faces, self.crops, scale=row["width"] / max(1, row["decoded_width"]))
        if not kept:
            return reason
        self.kept_faces[key] = text
        self.scores[key] = max(f.score for f in kept)
        return None


@dataclass
class Pool:
    """The embedded images of every unit: keys and vectors in unit order, and what the first pass found."""

    keys: list[str]
    vectors: np.ndarray
    facts: dict[str, PoolImage]


def read_pool(layout: RunLayout, units: Sequence[int], crops: CropConfig) -> Pool:
    keys, vectors = load_pool(layout, units)
    facts: dict[str, PoolImage] = {}
    for unit in units:
        facts.update(first_pass(layout, unit, crops))
    return Pool(keys, vectors, facts)


def decide(layout: RunLayout, pool: Pool, config: CurateConfig,
           detector: Callable[[], FaceDetector]) -> dict[str, Decision]:
    """Retrieve from the seeds, re-check, dedup and cap clusters: key -> decision for every image it judged."""
    section = config.retrieval
    keys, vectors, facts = pool.keys, pool.vectors, pool.facts
    seeds = [k for k in keys if facts[k].first_pass_kept]
    recheck = Recheck(layout, config, facts, detector)
    index = build_index(vectors, section.index)
    index.save(index_path(layout))
    seed_sets = [pool_seeds(keys, vectors, seeds, section.seeded)] if seeds else []
    if section.seed_images or section.prompts:
        seed_sets += outside_seed_sets(config, computing_embedder_for(runtime_embed_config(config)))
    decisions: dict[str, Decision] = {}
    for d in retrieve_from_seeds(index, keys, seed_sets, section.seeded, recheck):
        decision = d.reason if d.reason != "seed" else "seed"
        decisions[d.key] = Decision(facts[d.key].item, d.key, d.status == "kept", decision, d.seed_key,
                                    d.similarity, faces=recheck.kept_faces.get(d.key))
    score_of = {**{k: facts[k].face_score for k in seeds}, **recheck.scores}
    remove_duplicates(decisions, pool, score_of, section)
    point_to_kept_seeds(decisions, keys, vectors)
    if section.balance.enabled:
        cap_clusters(decisions, pool, score_of, section)
    return decisions


def run_retrieval_step(layout: RunLayout, units: Sequence[int], config: CurateConfig,
                       detector: Callable[[], FaceDetector]) -> tuple[list[Path], dict[str, int]]:
    """Decide and write one decision file per unit; returns the files written and counts by decision (the caller
    commits the step's marker)."""
    pool = read_pool(layout, units, config.crops)
    decisions = decide(layout, pool, config, detector) if pool.keys else {}
    outputs = [index_path(layout)] if pool.keys else []
    per_unit: dict[int, list[Decision]] = {unit: [] for unit in units}
    for key, decision in decisions.items():
        per_unit[pool.facts[key].unit].append(decision)
    for unit, unit_decisions in per_unit.items():
        path = decisions_path(layout.work, unit)
        write_decisions(path, unit_decisions)
        outputs.append(path)
    counts: dict[str, int] = defaultdict(int)
    for decision in decisions.values():
        counts[decision.decision] += 1
    return outputs, {"pool": len(pool.keys), **dict(sorted(counts.items()))}


def kept_keys(decisions: dict[str, Decision], keys: Sequence[str]) -> list[str]:
    return [k for k in keys if k in decisions and decisions[k].keep]


def remove_duplicates(decisions: dict[str, Decision], pool: Pool, score_of: dict[str, float],
                      section: RetrievalStageConfig) -> None:
    """Among the images still kept, keep the best of each near-duplicate group: the best face score in steps of
    ``SCORE_TIE``, then the most pixels, then the exact score."""
    kept = kept_keys(decisions, pool.keys)
    if len(kept) < 2:
        return
    row_of = {k: r for r, k in enumerate(pool.keys)}
    rows = np.array([row_of[k] for k in kept])
    scores = np.array([[np.floor(score_of.get(k, 0.0) / SCORE_TIE), pool.facts[k].pixels, score_of.get(k, 0.0)]
                       for k in kept], np.float64)
    found = find_near_duplicates(pool.vectors[rows], kept, scores, section.dedup, index_config=section.index)
    for d in found:
        if d.status == "dropped":
            old = decisions[d.key]
            decisions[d.key] = replace(old, keep=False, decision="duplicate", duplicate_of=d.duplicate_of,
                                       similarity=d.similarity, seed_key=None, faces=None)


def point_to_kept_seeds(decisions: dict[str, Decision], keys: Sequence[str], vectors: np.ndarray) -> None:
    """A retrieved image whose seed was itself removed as a near-duplicate names the copy kept instead, with the
    cosine to that copy (vectors are unit length), so ``seed_key`` always points to an image in the shards."""
    row_of = {k: r for r, k in enumerate(keys)}
    for key, decision in list(decisions.items()):
        seed = decision.seed_key
        seen: set[str] = set()
        while seed in decisions and decisions[seed].decision == "duplicate" and seed not in seen:
            seen.add(seed)
            seed = decisions[seed].duplicate_of
        if seed != decision.seed_key and seed in row_of and key in row_of:
            cosine = float(np.dot(vectors[row_of[key]], vectors[row_of[seed]]))
            decisions[key] = replace(decision, seed_key=seed, similarity=round(cosine, 6))


def cap_clusters(decisions: dict[str, Decision], pool: Pool, score_of: dict[str, float],
                 section: RetrievalStageConfig) -> None:
    kept = kept_keys(decisions, pool.keys)
    if not kept:
        return
    row_of = {k: r for r, k in enumerate(pool.keys)}
    rows = np.array([row_of[k] for k in kept])
    scores = np.array([score_of.get(k, 0.0) for k in kept])
    for d in balance_clusters(pool.vectors[rows], kept, scores, section.balance):
        if d.status == "dropped":
            decisions[d.key] = replace(decisions[d.key], keep=False, decision="cluster_cap", faces=None)
