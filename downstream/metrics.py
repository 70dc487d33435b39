"""Benchmark metrics, numpy only: attribute accuracy, expression accuracy, landmark NME / FR / AUC / CED.

Conventions:
- accuracies are fractions in [0, 1]; tables show them in percent;
- NME is the mean point-to-point error of one face divided by a normalizing distance, averaged over faces;
- FR@T is the fraction of faces whose NME is above T; AUC@T is the area under the CED curve on [0, T], divided by T.
  The CED curve is a step function of the per-face errors, so its area has the closed form
  ``mean_i max(0, 1 - e_i / T)``; we use it rather than a trapezoid over a grid (which approximates it).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NormKind = Literal["inter_ocular", "box_diagonal", "box_size"]


def attribute_accuracy(logits_or_pred: np.ndarray, targets: np.ndarray) -> dict[str, object]:
    """Per-attribute accuracy and their mean. ``logits_or_pred`` (N, A): logits (>0 = present) or 0/1 predictions."""
    scores = np.asarray(logits_or_pred)
    truth = np.asarray(targets).astype(bool)
    if scores.shape != truth.shape:
        raise ValueError(f"predictions {scores.shape} and targets {truth.shape} differ in shape")
    predicted = scores > 0 if scores.dtype.kind == "f" else scores.astype(bool)
    per_attribute = (predicted == truth).mean(axis=0)
    return {"mean_accuracy": float(per_attribute.mean()), "per_attribute": per_attribute.tolist()}


def confusion_matrix(predicted: np.ndarray, targets: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(targets, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def classification_metrics(logits: np.ndarray, targets: np.ndarray, num_classes: int) -> dict[str, object]:
    """Accuracy, mean class accuracy (mean over classes present in ``targets`` of their recall) and confusion."""
    predicted = np.asarray(logits).argmax(axis=1)
    matrix = confusion_matrix(predicted, targets, num_classes)
    support = matrix.sum(axis=1)
    present = support > 0
    recall = np.divide(np.diag(matrix), support, out=np.zeros(num_classes), where=present)
    return {
        "accuracy": float(np.trace(matrix) / max(1, matrix.sum())),
        "mean_class_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "per_class_accuracy": recall.tolist(),
        "confusion": matrix.tolist(),
    }


def normalizing_distance(
    truth: np.ndarray,
    kind: NormKind,
    eye_corners: tuple[int, int] | None = None,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """Per-face normalizer (N,): outer-eye-corner distance, or the face box's diagonal sqrt(w^2+h^2) or size
    sqrt(w*h). Without ``boxes`` the box is the extent of the true landmarks."""
    truth = np.asarray(truth, dtype=np.float64)
    if kind == "inter_ocular":
        if eye_corners is None:
            raise ValueError("inter_ocular normalization needs eye_corner_indices")
        left, right = eye_corners
        return np.linalg.norm(truth[:, left] - truth[:, right], axis=-1)
    if boxes is None:
        boxes = np.concatenate([truth.min(axis=1), truth.max(axis=1)], axis=1)
    boxes = np.asarray(boxes, dtype=np.float64)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if kind == "box_diagonal":
        return np.sqrt(width**2 + height**2)
    if kind == "box_size":
        return np.sqrt(width * height)
    raise ValueError(f"unknown NME normalization {kind!r}")


def per_face_nme(predicted: np.ndarray, truth: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """(N,) mean point-to-point distance of each face divided by its normalizer."""
    distance = np.linalg.norm(np.asarray(predicted, np.float64) - np.asarray(truth, np.float64), axis=-1)
    return distance.mean(axis=1) / np.maximum(np.asarray(norm, np.float64), 1e-12)


def failure_rate(errors: np.ndarray, threshold: float = 0.1) -> float:
    """Fraction of faces whose NME is strictly above ``threshold``."""
    return float((np.asarray(errors) > threshold).mean())


def auc_at(errors: np.ndarray, threshold: float = 0.1) -> float:
    """Area under the CED curve on [0, threshold], divided by ``threshold`` (1.0 = every face error-free)."""
    errors = np.asarray(errors, dtype=np.float64)
    return float(np.clip(1.0 - errors / threshold, 0.0, None).mean())


def ced_curve(errors: np.ndarray, threshold: float = 0.1, steps: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: thresholds t in [0, threshold] and the fraction of faces with NME <= t."""
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    grid = np.linspace(0.0, threshold, steps)
    fraction = np.searchsorted(errors, grid, side="right") / max(1, errors.size)
    return grid, fraction


def landmark_metrics(
    predicted: np.ndarray,
    truth: np.ndarray,
    norm_kind: NormKind,
    eye_corners: tuple[int, int] | None = None,
    boxes: np.ndarray | None = None,
    threshold: float = 0.1,
) -> dict[str, object]:
    """NME, FR@threshold, AUC@threshold and the CED curve; box-normalized sets also get ``nme_box`` (sqrt(w*h))."""
    errors = per_face_nme(predicted, truth, normalizing_distance(truth, norm_kind, eye_corners, boxes))
    grid, fraction = ced_curve(errors, threshold)
    result: dict[str, object] = {
        "nme": float(errors.mean()),
        "fr_10": failure_rate(errors, threshold),
        "auc_10": auc_at(errors, threshold),
        "ced": {"threshold": grid.tolist(), "fraction": fraction.tolist()},
        "norm": norm_kind,
    }
    if norm_kind == "box_diagonal":
        box_errors = per_face_nme(predicted, truth, normalizing_distance(truth, "box_size", None, boxes))
        result["nme_box"] = float(box_errors.mean())
    return result
