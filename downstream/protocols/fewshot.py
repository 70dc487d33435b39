"""Few-shot label subsets, fixed by (shot setting, seed).

A shot setting is either a percentage of the training set (``"1%"``, ``"10%"``) or an integer ``k``:
``k`` images per class for expression, ``k`` images in all for attributes and landmarks (a multi-label or
regression set has no classes to balance). Expression subsets are stratified: each class keeps
``max(1, round(fraction * its size))`` images, so no class disappears. The same setting and seed always give
the same subset; different seeds give different subsets, and results are reported as mean ± std over seeds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from core.errors import UserError


@dataclass(frozen=True)
class Shots:
    """A parsed shot setting: ``fraction`` of the data, or ``k`` images (per class for expression)."""

    label: str
    fraction: float | None = None
    k: int | None = None


def parse_shots(text: str) -> Shots:
    """``"1%"`` -> 1 percent; ``"0.05"`` -> 5 percent; ``"10"`` -> k = 10."""
    raw = str(text).strip()
    try:
        if raw.endswith("%"):
            fraction = float(raw[:-1]) / 100
        elif "." in raw:
            fraction = float(raw)
        else:
            k = int(raw)
            if k < 1:
                raise ValueError
            return Shots(label=f"{k}-shot", k=k)
    except ValueError:
        raise UserError(f"--shots {text!r}: expected a percentage like 1% or 10%, a fraction like 0.01, "
                        f"or a positive integer k (images per class)") from None
    if not 0 < fraction <= 1:
        raise UserError(f"--shots {text!r}: the fraction must be in (0, 100%]")
    return Shots(label=f"{fraction * 100:g}%", fraction=fraction)


def subset_rng(shots: Shots, seed: int) -> np.random.Generator:
    """Generator seeded by the setting and the seed only, so the subset never depends on run order."""
    return np.random.default_rng([seed, zlib.crc32(shots.label.encode())])


def select_subset(task: str, targets: np.ndarray, shots: Shots, seed: int) -> np.ndarray:
    """Sorted indices of the training rows kept for this setting and seed."""
    rng = subset_rng(shots, seed)
    count = len(targets)
    if task == "expression":
        labels = np.asarray(targets).astype(np.int64)
        chosen = []
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            take = shots.k if shots.k is not None else max(1, round(shots.fraction * len(members)))
            chosen.append(rng.choice(members, size=min(take, len(members)), replace=False))
        return np.sort(np.concatenate(chosen))
    take = shots.k if shots.k is not None else max(1, round(shots.fraction * count))
    return np.sort(rng.choice(count, size=min(take, count), replace=False))
