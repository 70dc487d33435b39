"""The interface every benchmark loader returns: samples with targets, and the split's metadata.

A loader reads a dataset folder exactly as downloaded from its official page and returns one
``BenchmarkSplit``. Targets are numpy arrays whose shape and dtype depend on the task:

- ``attributes``: ``(A,)`` int8 in {0, 1} (1 = attribute present);
- ``expression``: ``()`` int64 class index in ``0..C-1`` (names in ``label_names``);
- ``landmarks``: ``(P, 2)`` float32 pixel coordinates (x, y) in the original image.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from core.errors import UserError

Task = Literal["attributes", "expression", "landmarks"]
NmeNorm = Literal["inter_ocular", "box_diagonal", ""]


@dataclass(frozen=True, eq=False)  # eq=False: numpy targets do not compare to a single bool
class FaceSample:
    """One image and its target; ``box`` is the face box (x0, y0, x1, y1) in image pixels when the dataset gives one."""

    image_path: Path
    target: np.ndarray
    box: tuple[float, float, float, float] | None = None


@dataclass(frozen=True, eq=False, repr=False)
class BenchmarkSplit:
    """One split of one benchmark, ready for feature extraction and metrics.

    ``nme_norm`` says how landmark errors are normalized: ``inter_ocular`` divides by the distance
    between the two points at ``eye_corner_indices`` (outer eye corners); ``box_diagonal`` by the
    diagonal sqrt(w^2 + h^2) of each sample's ``box`` (AFLW-19, as FaRL reports it; see docs/eval_datasets.md).
    """

    benchmark: str
    split: str
    task: Task
    samples: tuple[FaceSample, ...]
    label_names: tuple[str, ...]
    num_points: int = 0
    nme_norm: NmeNorm = ""
    eye_corner_indices: tuple[int, int] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_classes(self) -> int:
        """Number of classes (expression) or attributes (attributes); 0 for landmarks."""
        return len(self.label_names)

    def targets(self) -> np.ndarray:
        """All targets stacked: (N, A) int8, (N,) int64 or (N, P, 2) float32 (also when N is 0)."""
        if self.samples:
            return np.stack([s.target for s in self.samples])
        if self.task == "attributes":
            return np.zeros((0, len(self.label_names)), dtype=np.int8)
        if self.task == "expression":
            return np.zeros((0,), dtype=np.int64)
        return np.zeros((0, self.num_points, 2), dtype=np.float32)

    def __repr__(self) -> str:  # the default would print every sample
        return (
            f"BenchmarkSplit({self.benchmark!r}, {self.split!r}, task={self.task!r}, samples={len(self.samples)}, "
            f"labels={len(self.label_names)}, num_points={self.num_points}, nme_norm={self.nme_norm!r})"
        )


def unknown_split(benchmark: str, split: str, known: list[str]) -> UserError:
    """The error for a split name the benchmark does not define."""
    return UserError(f"{benchmark}: unknown split {split!r}; choose one of {', '.join(known)}")


def first_existing(root: Path, candidates: list[str]) -> Path | None:
    """The first of ``root / c`` that exists, or None."""
    for candidate in candidates:
        path = Path(root) / candidate
        if path.exists():
            return path
    return None


def check_images_exist(benchmark: str, samples: list[FaceSample], listed_in: Path, hint: str) -> None:
    """Raise a UserError if images named by an annotation file are missing on disk (names a few of them).

    Lists each folder once instead of a stat per image: 200k CelebA images take a fraction of a second.
    """
    listings: dict[str, set[str]] = {}
    missing = []
    for sample in samples:
        folder, name = os.path.split(str(sample.image_path))
        if folder not in listings:
            listings[folder] = set(os.listdir(folder)) if os.path.isdir(folder) else set()
        if name not in listings[folder]:
            missing.append(sample.image_path)
    if missing:
        examples = ", ".join(str(p) for p in missing[:3])
        raise UserError(
            f"{benchmark}: {len(missing)} of {len(samples)} images listed in {listed_in} are missing, e.g. {examples}. "
            f"{hint}"
        )


def annotation_error(benchmark: str, path: Path, line_number: int, problem: str) -> UserError:
    """The error for a malformed annotation line: names the file, the 1-based line number and the problem."""
    return UserError(
        f"{benchmark}: {path} line {line_number}: {problem}; the file does not follow the published format "
        f"(re-extract it from the official download)"
    )
