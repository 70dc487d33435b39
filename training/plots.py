"""``RUN/curves.png``: the loss and the collapse monitors over steps, drawn from ``RUN/metrics.jsonl``."""

from __future__ import annotations

import logging
from pathlib import Path

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


def plot_curves(run_dir: Path) -> Path | None:
    """Draw the panels that have data; returns the PNG path, or None when there is nothing to draw yet."""
    records = read_metrics(run_dir)
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), constrained_layout=True)
    for ax, (key, title) in zip(axes.flat, PANELS):
        points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, lw=1.4, marker="." if len(points) < 40 else None)
        else:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    fig.suptitle(f"{run_dir.name}: ProS training", fontsize=12)
    path = run_dir / CURVES_FILE
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(path)
    return path
