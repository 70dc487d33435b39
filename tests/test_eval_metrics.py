"""Metric functions of `pros eval` against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from downstream.metrics import (
    attribute_accuracy,
    auc_at,
    ced_curve,
    classification_metrics,
    confusion_matrix,
    failure_rate,
    landmark_metrics,
    normalizing_distance,
    per_face_nme,
)


def test_per_attribute_accuracy_from_logits_and_from_labels() -> None:
    logits = np.array([[1.0, -1.0], [-1.0, -1.0], [2.0, 3.0]])
    targets = np.array([[1, 0], [1, 0], [1, 1]], dtype=np.int8)
    result = attribute_accuracy(logits, targets)
    assert result["per_attribute"] == pytest.approx([2 / 3, 1.0])
    assert result["mean_accuracy"] == pytest.approx(5 / 6)
    assert attribute_accuracy((logits > 0).astype(np.int8), targets)["mean_accuracy"] == pytest.approx(5 / 6)


def test_accuracy_mean_class_accuracy_and_confusion() -> None:
    targets = np.array([0, 0, 0, 1, 2, 2])
    predicted = np.array([0, 0, 1, 1, 2, 0])
    logits = np.eye(3)[predicted]
    result = classification_metrics(logits, targets, num_classes=3)
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["per_class_accuracy"] == pytest.approx([2 / 3, 1.0, 1 / 2])
    assert result["mean_class_accuracy"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    assert result["confusion"] == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_mean_class_accuracy_ignores_classes_absent_from_the_split() -> None:
    result = classification_metrics(np.eye(4)[[0, 1, 1]], np.array([0, 1, 0]), num_classes=4)
    assert result["mean_class_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    assert confusion_matrix(np.array([3]), np.array([2]), 4)[2, 3] == 1


def test_nme_inter_ocular_by_hand() -> None:
    truth = np.array([[[0, 0], [10, 0]], [[0, 0], [20, 0]]], dtype=np.float32)
    predicted = np.array([[[1, 0], [10, 2]], [[0, 0], [20, 0]]], dtype=np.float32)
    norm = normalizing_distance(truth, "inter_ocular", eye_corners=(0, 1))
    assert norm.tolist() == [10.0, 20.0]
    errors = per_face_nme(predicted, truth, norm)
    assert errors.tolist() == pytest.approx([0.15, 0.0])  # (1 + 2) / 2 / 10
    result = landmark_metrics(predicted, truth, "inter_ocular", eye_corners=(0, 1))
    assert result["nme"] == pytest.approx(0.075)
    assert "nme_box" not in result


def test_box_normalizations() -> None:
    truth = np.zeros((1, 2, 2))
    boxes = np.array([[0.0, 0.0, 30.0, 40.0]])
    assert normalizing_distance(truth, "box_diagonal", boxes=boxes)[0] == pytest.approx(50.0)
    assert normalizing_distance(truth, "box_size", boxes=boxes)[0] == pytest.approx(np.sqrt(1200.0))
    points = np.array([[[0.0, 0.0], [30.0, 40.0]]])  # without boxes: the extent of the true points
    assert normalizing_distance(points, "box_diagonal")[0] == pytest.approx(50.0)
    predicted = points + np.array([3.0, 4.0])  # every point 5 px off
    result = landmark_metrics(predicted, points, "box_diagonal", boxes=boxes)
    assert result["nme"] == pytest.approx(0.1)
    assert result["nme_box"] == pytest.approx(5 / np.sqrt(1200.0))


def test_failure_rate_auc_and_ced_on_hand_made_errors() -> None:
    errors = np.array([0.02, 0.05, 0.2, 0.1])
    assert failure_rate(errors, 0.1) == pytest.approx(0.25)  # only 0.2 is above 0.1
    # CED is 0 until 0.02, 1/4 until 0.05, 2/4 until 0.1: area = 0.25 * 0.03 + 0.5 * 0.05 = 0.0325 -> /0.1
    assert auc_at(errors, 0.1) == pytest.approx(0.325)
    grid, fraction = ced_curve(errors, 0.1, steps=11)
    assert grid[5] == pytest.approx(0.05) and fraction[5] == pytest.approx(0.5)
    assert fraction[0] == 0.0 and fraction[-1] == pytest.approx(0.75)
    fine_grid, fine_fraction = ced_curve(errors, 0.1, steps=200_001)
    assert np.trapezoid(fine_fraction, fine_grid) / 0.1 == pytest.approx(auc_at(errors, 0.1), abs=1e-4)


def test_perfect_landmarks_score_zero_error_and_full_auc() -> None:
    truth = np.random.default_rng(0).uniform(0, 100, size=(5, 68, 2))
    result = landmark_metrics(truth, truth, "inter_ocular", eye_corners=(36, 45))
    assert result["nme"] == 0.0 and result["fr_10"] == 0.0 and result["auc_10"] == pytest.approx(1.0)
