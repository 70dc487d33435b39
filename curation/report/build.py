"""Write ``report/report.json``, the PNG pictures and a self-contained ``report/index.html`` for a run."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from curation.config import CurateConfig
from curation.pipeline.layout import RunLayout
from curation.pipeline.manifest import read_manifests
from curation.report.html_parts import img as _img
from curation.report.html_parts import table as _table
from curation.report.plots import counts_png, histogram_png
from curation.report.retrieval import duplicate_pair_tiles, retrieval_summary
from curation.report.sheets import (
    grid,
    kept_tiles,
    pick_rejected,
    png_bytes,
    rejected_tiles,
)
from curation.report.summary import summarize_run
from curation.report.videos import video_pictures, video_section
from shards.writer import atomic_write


def write_report(layout: RunLayout, config: CurateConfig) -> dict[str, Any]:
    """Build the report from what is on disk (so it always describes the whole output) and return its numbers."""
    summary = summarize_run(layout)
    directory = layout.report
    directory.mkdir(parents=True, exist_ok=True)
    pictures = {
        "status_reasons.png": counts_png(
            "inputs by outcome", {"kept": summary["kept"], **summary["by_reason"]}, "outcome (kept, or why rejected)",
            "#55A868"),
        "faces_per_image.png": counts_png(
            "faces found per decoded image", summary["faces_per_image"], "faces in the image"),
        "face_scores.png": histogram_png("detection scores (all faces)", summary["face_score_histogram"], "score"),
        "face_sizes.png": histogram_png(
            "face sizes (all faces)", summary["face_size_histogram"], "shorter box side, original pixels",
            integer_edges=True),
    }
    side = config.report.thumbnail
    rows = read_manifests(layout.manifest).to_pylist()
    below = config.crops.min_score if config.retrieval.enabled else None
    pictures["kept_samples.png"] = png_bytes(grid(kept_tiles(layout, config.report.contact_sheet_kept, side, below)))
    rejected = pick_rejected(rows, config.report.contact_sheet_rejected)
    pictures["rejected_inputs.png"] = png_bytes(grid(rejected_tiles(layout, rejected, side)))
    if config.retrieval.enabled:
        summary["retrieval"] = retrieval_summary(rows, config.crops.min_score)
        pairs = duplicate_pair_tiles(layout, rows, config.report.contact_sheet_rejected // 2, side)
        pictures["duplicates.png"] = png_bytes(grid(pairs))
    pictures.update(video_pictures(layout, rows, summary["videos"], side))
    for name, data in pictures.items():
        atomic_write(directory / name, data)
    summary["pictures"] = sorted(pictures)
    atomic_write(directory / "report.json", (json.dumps(summary, indent=2) + "\n").encode())
    atomic_write(directory / "index.html", page(layout.out, summary, pictures).encode())
    return summary


def page(out: Path, summary: dict[str, Any], pictures: dict[str, bytes]) -> str:
    totals = {k: summary[k] for k in ("inputs", "kept", "rejected", "samples", "faces_detected")}
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pros curate report: {html.escape(str(out))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 0 2em 1em 0; display: inline-table; vertical-align: top; }}
caption {{ font-weight: bold; text-align: left; padding-bottom: .3em; }}
td {{ border-bottom: 1px solid #ddd; padding: .2em .8em; overflow-wrap: anywhere; }}
img {{ max-width: 100%; margin: .5em 0; }}
</style></head><body>
<h1>pros curate report</h1>
<p>Output: <code>{html.escape(str(out))}</code>. Every input has a row in <code>manifest/</code>;
inputs = kept + rejected.</p>
{_table("totals", totals)}{_table("rejected, by reason", summary["by_reason"])}{_table("faces per image", summary["faces_per_image"])}
<h2>Outcomes</h2>{_img(pictures, "status_reasons.png", "inputs by outcome")}
<h2>Faces</h2>{_img(pictures, "faces_per_image.png", "faces per image")}
{_img(pictures, "face_scores.png", "detection scores")}
{_img(pictures, "face_sizes.png", "face sizes")}
<h2>Kept samples</h2><p>The first crops in key order; green: the face the crop is centred on, red: its landmarks.
{_below_note(summary)}</p>
{_img(pictures, "kept_samples.png", "kept samples")}
<h2>Rejected inputs</h2><p>Taken from every reason in turn; grey tiles could not be decoded.</p>
{_img(pictures, "rejected_inputs.png", "rejected inputs")}
{_retrieval_section(summary, pictures)}
{video_section(summary, pictures)}
</body></html>
"""


def _below_note(summary: dict[str, Any]) -> str:
    section = summary.get("retrieval")
    if not section or not section.get("kept_below_min_score"):
        return ""
    return (f"Framed in orange: kept through retrieval with a face score below <code>crops.min_score</code> "
            f"({section['min_score']:g}); the re-check's looser rules kept them ({section['kept_below_min_score']} "
            f"image(s), listed under Retrieval).")


def _retrieval_section(summary: dict[str, Any], pictures: dict[str, bytes]) -> str:
    if "retrieval" not in summary:
        return ""
    section = summary["retrieval"]
    counts = {k: section[k] for k in ("kept_from_seeds", "kept_from_retrieval", "kept_below_min_score",
                                      "samples_from_seeds", "samples_from_retrieval", "duplicates_removed",
                                      "cluster_capped")}
    duplicates = {f"{d['source_id']}": f"duplicate of {d['duplicate_of_source_id']} (cosine {d['similarity']:.3f})"
                  for d in section["duplicates"]}
    below = {f"{r['source_id']}": f"face score {r['max_score']:.2f}; retrieved by {r['seed_source_id'] or r['seed_key']} "
                                  f"(cosine {r['similarity']:.3f})"
             for r in section["retrieved"] if r["below_min_score"]}
    return f"""<h2>Retrieval</h2>
<p>Seeds are the images the first detection pass kept; retrieved images were rejected by the first pass, found
near a seed and passed the detector re-check.</p>
{_table("kept, by origin", counts)}{_table("retrieved, rejected by the re-check", section["retrieved_but_rejected_by_recheck"])}
{_table(f"kept through retrieval with a face score below crops.min_score ({section['min_score']:g})", below, names=True)}
{_table("duplicates removed", duplicates, names=True)}
<h3>Duplicates and the copy kept</h3><p>In pairs: the removed duplicate, then the kept image.</p>
{_img(pictures, "duplicates.png", "duplicates paired with the kept copy")}"""
