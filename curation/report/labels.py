"""Words for the report's pictures and tables: ``report.json`` keeps the manifest's snake_case names (for programs),
the page and the PNGs show these."""

from __future__ import annotations

LABELS = {
    # manifest statuses and reasons
    "kept": "kept",
    "rejected": "rejected",
    "no_face": "no face found",
    "faces_below_threshold": "faces below threshold",
    "not_an_image": "not an image",
    "truncated": "truncated file",
    "corrupt": "corrupt image",
    "too_large": "too large",
    "too_small": "too small",
    "unsupported_format": "unsupported format",
    "unreadable": "unreadable file",
    "unsafe_path": "unsafe path in tar",
    "duplicate": "near-duplicate",
    "cluster_cap": "cluster full",
    # retrieval decisions and counts
    "seed": "seed (first pass)",
    "retrieved": "retrieved",
    "kept_from_seeds": "kept as seeds (first pass)",
    "kept_from_retrieval": "kept through retrieval",
    "kept_below_min_score": "kept through retrieval, face score below crops.min_score",
    "samples_from_seeds": "face samples from seeds",
    "samples_from_retrieval": "face samples from retrieval",
    "duplicates_removed": "near-duplicates removed",
    "cluster_capped": "dropped: cluster full",
    # totals
    "inputs": "inputs",
    "samples": "face samples",
    "faces_detected": "faces detected (all scores)",
}

RECHECK_PREFIX = "recheck_"


def human(label: object) -> str:
    """``no_face`` -> ``no face found``; ``recheck_no_face`` -> ``re-check: no face found``; unknown names lose
    their underscores."""
    text = str(label)
    if text in LABELS:
        return LABELS[text]
    if text.startswith(RECHECK_PREFIX):
        return "re-check: " + human(text[len(RECHECK_PREFIX):])
    return text.replace("_", " ")


def human_keys(counts: dict[str, object]) -> dict[str, object]:
    return {human(key): value for key, value in counts.items()}
