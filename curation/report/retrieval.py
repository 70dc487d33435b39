"""The retrieval part of the report: kept from seeds vs from retrieval, re-check rejections, the duplicates removed
(with the kept copy and the cosine between them), and a contact sheet pairing each duplicate with its kept copy."""

from __future__ import annotations

from collections import Counter
from typing import Any

from PIL import Image

from curation.pipeline.layout import RunLayout
from curation.report.sheets import _reason_card, _tile, cached_pixels

LISTED = 200  # most duplicates / retrieved images listed one by one in report.json


def retrieval_summary(rows: list[dict[str, Any]], min_score: float | None = None) -> dict[str, Any]:
    """Counts by decision and the duplicates and retrieved images one by one (``rows``: the manifests' rows).
    Retrieved images are judged by the looser re-check rules: those whose best face scores below ``min_score``
    (``crops.min_score``, the first pass's rule) are counted and listed as such."""
    by_key = {row["key"]: row for row in rows}
    decided = [row for row in rows if row["decision"] is not None]
    decisions = Counter(row["decision"] for row in decided)
    kept = [row for row in decided if row["status"] == "kept"]
    duplicates = [row for row in decided if row["decision"] == "duplicate"]
    retrieved = [row for row in kept if row["decision"] == "retrieved"]
    below = {row["key"] for row in retrieved if min_score is not None and (row["max_score"] or 0.0) < min_score}
    return {
        "kept_from_seeds": sum(row["decision"] == "seed" for row in kept),
        "kept_from_retrieval": len(retrieved),
        "samples_from_seeds": sum(row["n_kept_faces"] or 0 for row in kept if row["decision"] == "seed"),
        "samples_from_retrieval": sum(row["n_kept_faces"] or 0 for row in retrieved),
        "retrieved_but_rejected_by_recheck": {d: n for d, n in sorted(decisions.items()) if d.startswith("recheck_")},
        "kept_below_min_score": len(below),
        "min_score": min_score,
        "duplicates_removed": len(duplicates),
        "cluster_capped": decisions.get("cluster_cap", 0),
        "by_decision": dict(sorted(decisions.items())),
        "duplicates": [
            {"key": row["key"], "source_id": row["source_id"], "duplicate_of": row["duplicate_of"],
             "duplicate_of_source_id": by_key.get(row["duplicate_of"], {}).get("source_id"),
             "similarity": row["similarity"], "why": "near-duplicate of a kept image with a better face score or "
                                                      "more pixels (cosine >= retrieval.dedup.threshold)"}
            for row in duplicates[:LISTED]
        ],
        "retrieved": [
            {"key": row["key"], "source_id": row["source_id"], "seed_key": row["seed_key"],
             "seed_source_id": by_key.get(row["seed_key"], {}).get("source_id"), "similarity": row["similarity"],
             "max_score": row["max_score"], "below_min_score": row["key"] in below}
            for row in retrieved[:LISTED]
        ],
    }


def duplicate_pair_tiles(layout: RunLayout, rows: list[dict[str, Any]], limit: int, side: int) -> list[Image.Image]:
    """Tiles in pairs: a removed duplicate, then the kept image it duplicates (decode-cache pixels)."""
    by_key = {row["key"]: row for row in rows}
    pairs = [(row, by_key[row["duplicate_of"]]) for row in rows
             if row["decision"] == "duplicate" and row["duplicate_of"] in by_key][:limit]
    pixels = cached_pixels(layout, [row for pair in pairs for row in pair])
    tiles = []
    for duplicate, original in pairs:
        for row, label in ((duplicate, f"removed, cosine {duplicate['similarity']:.2f}"), (original, "kept copy")):
            rgb = pixels.get((row["unit"], row["item"]))
            image = Image.fromarray(rgb) if rgb is not None else _reason_card(label, side)
            tiles.append(_tile(image, side, [label, row["source_id"] or row["key"]]))
    return tiles
