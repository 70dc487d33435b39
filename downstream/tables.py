"""Tables of results: our runs (mean ± std over seeds) beside published references, as Markdown and CSV.

One row per (model, benchmark, split, protocol, setting, metric). Values are printed in percent. Reference rows are
added for every (benchmark, split, metric) that one of our runs reports, each with its source.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from downstream.references import references_for
from downstream.results import LOWER_IS_BETTER

COLUMNS = ("model", "benchmark", "split", "protocol", "setting", "metric", "value", "floor", "seeds", "source")
METRIC_NAMES = {
    "mean_accuracy": "mean accuracy (%)",
    "accuracy": "accuracy (%)",
    "mean_class_accuracy": "mean class accuracy (%)",
    "nme": "NME (%)",
    "nme_box": "NME box (%)",
    "fr_10": "FR@0.1 (%)",
    "auc_10": "AUC@0.1 (%)",
}
NORM_NAMES = {"inter_ocular": "NME inter-ocular (%)", "box_diagonal": "NME diag (%)"}


@dataclass(frozen=True)
class Row:
    model: str
    benchmark: str
    split: str
    protocol: str
    setting: str
    metric: str
    mean: float  # percent
    std: float | None  # percent; None for references and single runs
    seeds: int | None
    source: str
    is_reference: bool = False
    floor: float | None = None  # percent: the image-blind floor on the same split and training rows

    def value_text(self) -> str:
        if self.is_reference:
            return f"{self.mean:g}"  # as published
        return f"{self.mean:.2f}" if self.std is None else f"{self.mean:.2f} ± {self.std:.2f}"

    def cells(self, metric_label: str, source: str) -> list[str]:
        seeds = "" if self.seeds is None else str(self.seeds)
        floor = "" if self.floor is None else f"{self.floor:.2f}"
        return [self.model, self.benchmark, self.split, self.protocol, self.setting, metric_label, self.value_text(),
                floor, seeds, source]


def model_name(results: dict[str, Any]) -> str:
    """The backbone as the table names it: an export folder's name, or a timm name with its weights."""
    spec = str(results["backbone"].get("spec", "?"))
    name = Path(spec).name if "/" in spec and not spec.startswith("open_clip:") else spec
    weights = str(results["backbone"].get("weights", ""))
    if weights == "random":
        return f"{name} (random init)"
    return f"{name} ({Path(weights).name})" if weights else name


def rows_of(results: dict[str, Any], source: str) -> list[Row]:
    """Our rows from one results document."""
    rows = []
    for entry in results["summary"]:
        std = 100 * entry["std"] if entry["n"] > 1 else None
        floor = 100 * entry["floor"] if "floor" in entry else None
        rows.append(Row(model_name(results), results["benchmark"], entry["split"], results["protocol"],
                        entry["setting"], entry["metric"], 100 * entry["mean"], std, entry["n"], source,
                        floor=floor))
    return rows


def reference_rows(ours: list[Row], num_classes: dict[str, int | None]) -> list[Row]:
    seen: set[tuple[str, str, str]] = set()
    rows = []
    for row in ours:
        key = (row.benchmark, row.split, row.metric)
        if key in seen:
            continue
        seen.add(key)
        for ref in references_for(*key, num_classes=num_classes.get(row.benchmark)):
            rows.append(Row(ref.method, ref.benchmark, ref.split, ref.protocol, ref.setting, ref.metric, ref.value,
                            None, None, ref.source, is_reference=True))
    return rows


def build_table(documents: list[tuple[dict[str, Any], str]], with_references: bool = True) -> list[Row]:
    """Rows of every (results, source) pair, then references, sorted so comparable rows sit together."""
    ours = [row for results, source in documents for row in rows_of(results, source)]
    classes = {results["benchmark"]: results.get("num_classes") for results, _ in documents}
    rows = ours + (reference_rows(ours, classes) if with_references else [])
    order = {name: i for i, name in enumerate(METRIC_NAMES)}
    rows.sort(key=lambda r: (r.benchmark, r.split, order.get(r.metric, 99), r.is_reference, r.protocol, r.setting))
    return rows


def metric_label(row: Row, norms: dict[str, str]) -> str:
    if row.metric == "nme" and norms.get(row.benchmark) in NORM_NAMES:
        label = NORM_NAMES[norms[row.benchmark]]
    else:
        label = METRIC_NAMES.get(row.metric, row.metric)
    return label + (" ↓" if row.metric in LOWER_IS_BETTER else " ↑")


def to_markdown(rows: list[Row], norms: dict[str, str], floor_names: tuple[str, ...] = ()) -> str:
    """The table, with each published number's source as a numbered note below it."""
    notes: dict[str, int] = {}
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        source = row.source
        if row.is_reference:
            source = f"[{notes.setdefault(row.source, len(notes) + 1)}]"
        cells = [cell.replace("|", "\\|") for cell in row.cells(metric_label(row, norms), source)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Values in percent; ↑ higher is better, ↓ lower is better; ours: mean ± std (population) over seeds.")
    floors = sorted({name for name in floor_names if name})
    if floors:
        lines.append(f"floor: what an image-blind predictor fitted on the same training labels scores "
                     f"({', '.join(floors)}); a result that does not beat it has learned nothing from the images.")
    if notes:
        lines.append("")
        lines.append("Sources:")
        lines.append("")
        lines.extend(f"[{number}] {source}" + "  " for source, number in notes.items())
    return "\n".join(lines) + "\n"


def to_csv(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["model", "benchmark", "split", "protocol", "setting", "metric", "mean_percent", "std_percent",
                     "floor_percent", "seeds", "source"])
    for row in rows:
        writer.writerow([row.model, row.benchmark, row.split, row.protocol, row.setting, row.metric,
                         f"{row.mean:.4f}", "" if row.std is None else f"{row.std:.4f}",
                         "" if row.floor is None else f"{row.floor:.4f}",
                         "" if row.seeds is None else row.seeds, row.source])
    return buffer.getvalue()


def write_tables(
    documents: list[tuple[dict[str, Any], str]], out_dir: Path, stem: str = "table", with_references: bool = True
) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.csv`` into ``out_dir``; returns their paths."""
    rows = build_table(documents, with_references)
    norms = {results["benchmark"]: results.get("nme_norm", "") for results, _ in documents}
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown, table_csv = out_dir / f"{stem}.md", out_dir / f"{stem}.csv"
    markdown.write_text(to_markdown(rows, norms, floor_names_of(documents)))
    table_csv.write_text(to_csv(rows))
    return markdown, table_csv


def floor_names_of(documents: list[tuple[dict[str, Any], str]]) -> tuple[str, ...]:
    """The kinds of floor the documents report (mean shape, majority class, ...), for the note under the table."""
    return tuple(str(results.get("floor_name", "")) for results, _ in documents)
