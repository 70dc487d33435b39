"""Pictures of one evaluation: per-attribute accuracy bars, confusion matrix, CED curve (PNG, matplotlib Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def attribute_bars(per_attribute: Sequence[float], names: Sequence[str], title: str, path: Path) -> Path:
    """Horizontal bars of accuracy (%) per attribute, sorted from worst to best, with the mean as a line."""
    plt = _pyplot()
    values = 100 * np.asarray(per_attribute, dtype=float)
    order = np.argsort(values)
    figure, axes = plt.subplots(figsize=(7, 0.22 * len(values) + 1.4))
    axes.barh(np.arange(len(values)), values[order], color="#4C72B0")
    axes.set_yticks(np.arange(len(values)), [names[i] for i in order], fontsize=7)
    axes.axvline(values.mean(), color="#C44E52", linestyle="--", label=f"mean {values.mean():.2f}%")
    axes.set_xlim(max(0.0, values.min() - 5), 100)
    axes.set_xlabel("accuracy (%)")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def confusion_plot(confusion: Sequence[Sequence[int]], names: Sequence[str], title: str, path: Path) -> Path:
    """Row-normalized confusion matrix (true class per row), each cell annotated with its percentage."""
    plt = _pyplot()
    counts = np.asarray(confusion, dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = 1.0 + 0.7 * len(names)
    figure, axes = plt.subplots(figsize=(size + 1.2, size))
    image = axes.imshow(100 * rates, cmap="Blues", vmin=0, vmax=100)
    for row in range(len(names)):
        for column in range(len(names)):
            colour = "white" if rates[row, column] > 0.6 else "black"
            axes.text(column, row, f"{100 * rates[row, column]:.0f}", ha="center", va="center", fontsize=8,
                      color=colour)
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=10)
    figure.colorbar(image, ax=axes, label="% of true class")
    return _save(figure, path)


def ced_plot(curves: dict[str, tuple[Sequence[float], Sequence[float]]], title: str, path: Path) -> Path:
    """Cumulative error distribution, one line per label (e.g. per test split): fraction of faces with NME <= t."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 4))
    for label, (thresholds, fraction) in curves.items():
        axes.plot(100 * np.asarray(thresholds), 100 * np.asarray(fraction), label=label, drawstyle="steps-post")
    axes.set_xlabel("NME (%)")
    axes.set_ylabel("faces with NME below (%)")
    axes.set_ylim(0, 100)
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(figure)
    return path
