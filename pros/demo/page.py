"""The demo's one report page: contact sheets, curation counts, training curves and the eval table."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

PICTURES = (
    ("Kept face-centric crops (boxes and landmarks drawn)", "curated/report/kept_samples.png"),
    ("Rejected inputs and why", "curated/report/rejected_inputs.png"),
    ("Inputs by outcome", "curated/report/status_reasons.png"),
    ("Near-duplicates removed, each beside the copy kept", "curated/report/duplicates.png"),
    ("Training curves: loss and collapse monitors", "train/curves.png"),
)


def markdown_table_to_html(markdown: str) -> str:
    """A pipe table as an HTML table; other lines (notes) as paragraphs."""
    rows, notes = [], []
    for line in markdown.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([html.escape(cell.strip()) for cell in line.strip("|").split("|")])
        elif line.strip() and not line.startswith("|"):
            notes.append(f"<p>{html.escape(line)}</p>")
    if not rows:
        return "".join(notes)
    head = "".join(f"<th>{cell}</th>" for cell in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows[1:])
    return f"<table><tr>{head}</tr>{body}</table>" + "".join(notes)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return str(value)


def write_page(out: Path, curation: dict[str, Any], table: Path) -> Path:
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
<p>Real photos from installed packages, curated, used to pre-train a tiny ProS ViT, and evaluated by a linear probe
that separates faces from non-faces on scikit-image's <code>lfw_subset</code> (a sanity check, not a published benchmark),
beside the same architecture with random weights.</p>
<h2>Curation</h2><table>{counts}</table>
<p>Full curation report: <a href="curated/report/index.html">curated/report/index.html</a></p>
<h2>Evaluation</h2>{markdown_table_to_html(table.read_text())}
{figures}
</body></html>
"""
    path = out / "index.html"
    path.write_text(page)
    return path
