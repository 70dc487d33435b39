"""``RUN/curves.png``: the loss and the collapse monitors over steps, drawn from ``RUN/metrics.jsonl``, with the
reference values that show collapse (log K, 0, 1 prototype, 1/sqrt(D)) and the collapse verdict written under them."""

from __future__ import annotations

import logging
import math
import textwrap
from pathlib import Path

from training.collapse import collapse_verdict, loss_trend, run_sizes
from training.metrics import read_metrics

log = logging.getLogger(__name__)

CURVES_FILE = "curves.png"
PANELS = (
    ("train/loss", "loss"),
    ("train/lr", "learning rate"),
    ("monitor/teacher_entropy", "teacher entropy (nats)"),
    ("monitor/kl_teacher_student", "KL(teacher || student)"),
    ("monitor/prototypes_used", "prototypes winning >= 1 sample"),
    ("monitor/feature_std", "feature std"),
)


def reference_lines(num_prototypes: int | None, feature_dim: int | None) -> dict[str, list[tuple[float, str]]]:
    """Per monitor, the (value, label) lines a reader compares the curve with."""
    lines: dict[str, list[tuple[float, str]]] = {"monitor/kl_teacher_student": [(0.0, "0: student = teacher")],
                                                 "monitor/prototypes_used": [(1.0, "1: one-hot collapse")],
                                                 "monitor/feature_std": [(0.0, "0: feature collapse")]}
    if num_prototypes:
        log_k = math.log(num_prototypes)
        lines["monitor/teacher_entropy"] = [(log_k, f"log K = {log_k:.2f}: uniform"), (0.0, "0: one-hot")]
    if feature_dim:
        spread = 1 / math.sqrt(feature_dim)
        lines["monitor/feature_std"].append((spread, f"1/sqrt(D) = {spread:.3f}: spread out"))
    return lines


def _sizes(run_dir: Path) -> tuple[int | None, int | None]:
    try:
        return run_sizes(run_dir)
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        log.debug("no model sizes in %s/config.yaml: curves drawn without log K", run_dir)
        return None, None


def verdict_text(records: list[dict], num_prototypes: int | None, feature_dim: int | None) -> tuple[str, str]:
    """The verdict's headline (for the title) and its sentence with the loss trend (for the footer)."""
    verdict = collapse_verdict(records, num_prototypes, feature_dim) if num_prototypes else None
    footer = "\n".join(part for part in (verdict.sentence if verdict else "", loss_trend(records)) if part)
    return (verdict.headline if verdict else ""), footer


def plot_curves(run_dir: Path) -> Path | None:
    """Draw the panels that have data; returns the PNG path, or None when there is nothing to draw yet."""
    records = read_metrics(run_dir)
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    num_prototypes, feature_dim = _sizes(run_dir)
    references = reference_lines(num_prototypes, feature_dim)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.2), constrained_layout=True)
    for ax, (key, title) in zip(axes.flat, PANELS):
        points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, lw=1.4, marker="." if len(points) < 40 else None)
            for value, label in references.get(key, []):
                ax.axhline(value, color="tab:red", lw=0.9, ls="--", alpha=0.7, label=label)
            if references.get(key):
                ax.legend(fontsize=7, loc="best")
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    headline, footer = verdict_text(records, num_prototypes, feature_dim)
    fig.suptitle(f"{run_dir.name}: ProS training" + (f", {headline}" if headline else ""), fontsize=12,
                 color="tab:red" if headline.startswith("collapsing") else "black")
    if footer:
        wrapped = "\n".join(textwrap.fill(line, 170) for line in footer.splitlines())
        fig.supxlabel(wrapped, fontsize=8.5, ha="center")
    path = run_dir / CURVES_FILE
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
