"""What the demo's linear probe measured, in words: ProS trained vs random init vs the floor (majority class).

The probe's test split is small (about 100 images), so a difference under two standard errors of the difference
between two accuracies is read as "no difference".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class ProbeRow:
    name: str  # what the row is, for a reader
    detail: str  # how it was obtained
    accuracy: float  # percent
    mean_class_accuracy: float | None  # percent


@dataclass(frozen=True)
class ProbeSummary:
    rows: list[ProbeRow]
    sentence: str


def split_size(test_dir: Path) -> tuple[int, int]:
    """(images, classes) of an image-folder split."""
    folders = [folder for folder in sorted(test_dir.iterdir()) if folder.is_dir()]
    images = sum(1 for folder in folders for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise FileNotFoundError(f"{test_dir} holds no class folders with images; pass the probe's test split")
    return images, len(folders)


def _metric(results_path: Path, metric: str, field: str = "mean") -> float | None:
    summary = json.loads(results_path.read_text())["summary"]
    values = [entry.get(field) for entry in summary if entry["metric"] == metric and entry["setting"] == "full"]
    return 100 * values[0] if values and values[0] is not None else None


def interpret(trained: float, baseline: float, floor: float, images: int) -> str:
    """One or two sentences on trained vs random init vs floor, with the noise of a test split of ``images``."""
    error = 100 * math.sqrt(sum(p * (1 - p) for p in (trained / 100, baseline / 100)) / images)
    margin = max(2 * error, 100 / images)  # never finer than one test image
    numbers = f"{trained:.1f}% vs {baseline:.1f}%, {images} test images, noise about ±{margin:.1f} points"
    if trained > baseline + margin:
        verdict = f"ProS trained beats random init on this probe ({numbers})."
    elif trained < baseline - margin:
        verdict = f"ProS trained does worse than random init on this probe ({numbers})."
    else:
        verdict = f"ProS trained does not beat random init on this probe ({numbers})."
    if min(trained, baseline) <= floor + margin:
        return verdict + (f" At least one is at the floor of {floor:.1f}% (always the majority class): "
                          f"it learned nothing.")
    return verdict + (f" Both are well above the floor of {floor:.1f}% (always the majority class), so the probe "
                      f"works; random features of a ViT already separate faces from non-face patches this well.")


def probe_summary(trained_results: Path, baseline_results: Path, test_dir: Path) -> ProbeSummary:
    """The rows of the page's table; the floor is the one `pros eval` reports (the training labels' majority class,
    scored on the test split), so the page and the eval table agree."""
    images, classes = split_size(test_dir)
    floor = _metric(trained_results, "accuracy", "floor")
    if floor is None:
        raise ValueError(f"{trained_results} has no floor; rerun the eval step")
    rows = []
    for name, detail, path in (("ProS trained", "the exported teacher backbone", trained_results),
                               ("random init", "the same architecture with random weights (--weights random)",
                                baseline_results)):
        accuracy = _metric(path, "accuracy")
        if accuracy is None:
            raise ValueError(f"{path} has no full-data accuracy; rerun the eval step")
        rows.append(ProbeRow(name, detail, accuracy, _metric(path, "mean_class_accuracy")))
    rows.append(ProbeRow("floor", "always the majority class of the probe's training labels", floor,
                         100 / (classes or 1)))
    return ProbeSummary(rows, interpret(rows[0].accuracy, rows[1].accuracy, floor, images))
