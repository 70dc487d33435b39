"""Floors: what a predictor that never looks at the image scores, fitted on the same training labels as the probe.

Every result of ``pros eval`` is reported beside its floor, so a number that does not beat it is visible as the bug it
is (on a learnable task):

- landmarks: the **mean shape**, the mean of the training targets in crop-window coordinates ([0, 1] of the window
  the backbone sees), placed in each evaluation image's window. Where the window comes from the annotated points
  (300W's tight box) this floor is strong: the window already fixes the face's position and scale;
- expression (and any single-label classification, ``imagefolder`` included): the **majority class** of the
  training labels, predicted for every image;
- attributes: the **per-attribute prior**: each attribute predicted present when it is present in more than half of
  the training images.

``floor_training_loss`` is the probe's own loss for that constant predictor on its training set (L1 of the mean
shape, cross-entropy of the label frequencies, BCE of the attribute frequencies): a probe whose training loss ends
above it has not even learned the labels' statistics, which is how the linear probe's convergence check reads it.
"""

from __future__ import annotations

import numpy as np

FLOOR_NAMES = {"attributes": "per-attribute prior", "expression": "majority class", "landmarks": "mean shape"}


def floor_outputs(task: str, train_targets: np.ndarray, count: int, num_outputs: int) -> np.ndarray:
    """Outputs for ``count`` images in the probe's output format (logits, or window coordinates for landmarks).

    ``train_targets``: class indices (N,), 0/1 attributes (N, A), or landmarks in window coordinates (N, P, 2).
    """
    targets = np.asarray(train_targets)
    if task == "landmarks":
        mean_shape = targets.astype(np.float64).mean(axis=0)
        return np.repeat(mean_shape[None], count, axis=0).astype(np.float32)
    if task == "expression":
        majority = int(np.bincount(targets.astype(np.int64), minlength=num_outputs).argmax())
        logits = np.zeros((count, num_outputs), dtype=np.float32)
        logits[:, majority] = 1.0
        return logits
    if task == "attributes":
        present = targets.astype(np.float64).mean(axis=0) > 0.5
        return np.repeat(np.where(present, 1.0, -1.0)[None], count, axis=0).astype(np.float32)
    raise ValueError(f"unknown task {task!r}")


def floor_training_loss(task: str, train_targets: np.ndarray, num_outputs: int) -> float:
    """The probe's training loss (see ``downstream.heads.task_loss``) of the best image-blind constant predictor."""
    targets = np.asarray(train_targets, dtype=np.float64)
    if task == "landmarks":  # L1: the per-coordinate median is the best constant; the mean is what we report
        return float(np.abs(targets - np.median(targets, axis=0)).mean())
    if task == "expression":
        counts = np.bincount(targets.astype(np.int64), minlength=num_outputs).astype(np.float64)
        frequencies = counts[counts > 0] / counts.sum()
        return float(-(frequencies * np.log(frequencies)).sum())
    if task == "attributes":
        prior = np.clip(targets.mean(axis=0), 1e-6, 1 - 1e-6)
        return float(-(prior * np.log(prior) + (1 - prior) * np.log(1 - prior)).mean())
    raise ValueError(f"unknown task {task!r}")
