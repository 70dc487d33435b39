"""The numbers of the report, from the run's manifests and per-unit detections."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from curation.pipeline.layout import RunLayout
from curation.pipeline.manifest import read_manifests
from curation.report.videos import video_counts
from curation.types import DECODE_REASONS, SELECTION_REASONS, VIDEO_REASONS

SCORE_BINS = [round(0.05 * i, 2) for i in range(21)]
FACE_SIZE_BINS = [0, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 100000]


def histogram(values: list[float], bins: list[float]) -> dict[str, list]:
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def face_stats(layout: RunLayout) -> tuple[list[float], list[float]]:
    """Scores and sizes (shorter box side, original-image pixels) of every face the detector reported.

    Detections are stored at detector resolution; the decode cache's per-item scale and sizes bring them back.
    """
    scores: list[float] = []
    sizes: list[float] = []
    for detections in sorted(layout.detect_dir.glob("[0-9]*.parquet")):
        cache = layout.decode_dir / detections.name
        factors = _original_per_detector(cache) if cache.exists() else {}
        table = pq.read_table(detections)
        for item, faces_json in zip(table.column("item").to_pylist(), table.column("faces").to_pylist()):
            factor = factors.get(item, 1.0)
            for face in json.loads(faces_json):
                x0, y0, x1, y1 = face["box"]
                scores.append(float(face["score"]))
                sizes.append(min(x1 - x0, y1 - y0) * factor)
    return scores, sizes


def _original_per_detector(cache: Path) -> dict[int, float]:
    table = pq.read_table(cache, columns=["item", "width", "det_width"])
    return {
        item: (width / det_width if width and det_width else 1.0)
        for item, width, det_width in zip(*(table.column(c).to_pylist() for c in ("item", "width", "det_width")))
    }


def summarize_run(layout: RunLayout) -> dict[str, Any]:
    rows = read_manifests(layout.manifest).to_pylist()
    manifest = [row for row in rows if row["status"] != "video"]  # a read video is counted by its frames' rows
    statuses = Counter(row["status"] for row in manifest)
    reasons = Counter(row["reason"] for row in manifest if row["status"] == "rejected")
    faces_per_image = Counter(row["n_faces"] for row in manifest if row["n_faces"] is not None)
    scores, sizes = face_stats(layout)
    samples = sum(row["n_kept_faces"] or 0 for row in manifest)
    return {
        "inputs": len(manifest),
        "kept": statuses.get("kept", 0),
        "rejected": statuses.get("rejected", 0),
        "samples": samples,
        "by_status": dict(sorted(statuses.items())),
        "by_reason": dict(reasons.most_common()),
        "decode_rejections": {r: n for r, n in reasons.most_common() if r in DECODE_REASONS + VIDEO_REASONS},
        "selection_rejections": {r: n for r, n in reasons.most_common() if r in SELECTION_REASONS},
        "faces_per_image": {str(k): v for k, v in sorted(faces_per_image.items())},
        "faces_detected": len(scores),
        "face_score_histogram": histogram(scores, SCORE_BINS),
        "face_size_histogram": histogram(sizes, FACE_SIZE_BINS),
        "face_size_unit": "shorter side of the face box, in original-image pixels",
        "videos": video_counts(rows),
    }
