"""The demo's one report page: contact sheets, curation counts, training curves with the collapse verdict, and the
probe's table (ProS trained, random init, floor) with what it means."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pros.demo.probe import ProbeSummary
    from training.collapse import Verdict

PICTURES = (
    ("Kept face-centric crops (boxes and landmarks drawn)", "curated/report/kept_samples.png"),
    ("Rejected inputs and why", "curated/report/rejected_inputs.png"),
    ("Inputs by outcome", "curated/report/status_reasons.png"),
    ("Near-duplicates removed, each beside the copy kept", "curated/report/duplicates.png"),
    ("Kept frames of one video", "curated/report/video_strip.png"),
)
CURVES = ("Training curves: loss and collapse monitors (dashed: the values that mean collapse)", "train/curves.png")


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)


def probe_table(probe: ProbeSummary) -> str:
    head = "<tr><th>backbone</th><th>accuracy (%)</th><th>mean class accuracy (%)</th><th>what it is</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(row.name)}</td><td>{row.accuracy:.2f}</td>"
        f"<td>{'' if row.mean_class_accuracy is None else f'{row.mean_class_accuracy:.2f}'}</td>"
        f"<td>{html.escape(row.detail)}</td></tr>" for row in probe.rows)
    return f"<table>{head}{body}</table><p><b>{html.escape(probe.sentence)}</b></p>"


def training_section(out: Path, verdict: Verdict, trend: str) -> str:
    colour = "#b00" if verdict.state == "collapsing" else "#060"
    title, path = CURVES
    picture = f'<img src="{path}" alt="{html.escape(title)}">' if (out / path).exists() else ""
    rest = verdict.sentence.removeprefix(verdict.headline)  # the sentence starts with the headline, shown in bold
    return (f'<h2>Training</h2><p style="color:{colour}">Collapse verdict: <b>{html.escape(verdict.headline)}</b>'
            f"{html.escape(rest)}</p><p>{html.escape(trend)}</p><h3>{html.escape(title)}</h3>{picture}")


def data_paragraph(curation: dict[str, Any], media: str) -> str:
    """What the dump held: packaged photos, and the real face videos when they were fetched."""
    if not media:
        return ("<p>Real photos from installed packages (no face videos: turned off with "
                "<code>--no-face-videos</code>, or not reachable), curated, used to pre-train a tiny ProS ViT, and ")
    crops = curation.get("training crops from video frames", 0)
    return (f"<p>Real photos from installed packages and real face videos and stills ({html.escape(media)}), "
            f"curated: <b>{crops} of the {curation.get('samples', 0)} training crops come from video frames</b> "
            f"({curation.get('video frames kept', 0)} of {curation.get('video frames sampled', 0)} sampled frames "
            f"kept), used to pre-train a tiny ProS ViT, and ")


def write_page(out: Path, curation: dict[str, Any], probe: ProbeSummary, verdict: Verdict, trend: str,
               media: str = "") -> Path:
    counts = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_cell(v))}</td></tr>" for k, v in curation.items())
    figures = "".join(
        f'<h2>{html.escape(title)}</h2><img src="{path}" alt="{html.escape(title)}">'
        for title, path in PICTURES if (out / path).exists()
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pros demo</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}img{{max-width:100%;border:1px solid #ccc}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style>
</head><body><h1>pros demo</h1>
{data_paragraph(curation, media)}evaluated by a linear probe that separates faces from non-faces on scikit-image's <code>lfw_subset</code> (a sanity check, not a published benchmark),
beside the same architecture with random weights and the floor of always answering the majority class.</p>
<h2>Evaluation: linear probe, faces vs non-faces</h2>{probe_table(probe)}
<p>Full table: <a href="eval/table.md">eval/table.md</a></p>
{training_section(out, verdict, trend)}
<h2>Curation</h2><table>{counts}</table>
<p>Full curation report: <a href="curated/report/index.html">curated/report/index.html</a></p>
{figures}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path
