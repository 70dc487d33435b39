"""The quality benchmark's own arithmetic: ROC AUC, head pose from 68 points, ridge pose against its floor."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from quality import roc_auc  # noqa: E402
from quality_data import MODEL_POINTS, POSE_INDICES, head_pose  # noqa: E402


def test_roc_auc_counts_ordered_pairs_with_ties_as_half() -> None:
    positive = np.array([True, True, False, False])
    assert roc_auc(np.array([0.9, 0.8, 0.1, 0.2]), positive) == 1.0
    assert roc_auc(np.array([0.1, 0.2, 0.9, 0.8]), positive) == 0.0
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.5]), positive) == 0.5


@pytest.mark.parametrize("yaw", [-30.0, 0.0, 25.0])
def test_head_pose_recovers_the_yaw_of_a_projected_model_face(yaw: float) -> None:
    cv2 = pytest.importorskip("cv2")
    width = height = 400
    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)
    rotation, _ = cv2.Rodrigues(np.array([0.0, np.radians(yaw), 0.0]))
    flip = np.diag([1.0, -1.0, -1.0])  # model y up / z towards the camera -> camera y down / z forward
    projected, _ = cv2.projectPoints(MODEL_POINTS, cv2.Rodrigues(flip @ rotation)[0], np.array([0.0, 0.0, 1500.0]),
                                     camera, np.zeros(4))
    points = np.zeros((68, 2), dtype=np.float32)
    points[list(POSE_INDICES)] = projected.reshape(-1, 2)
    estimate = head_pose(points, width, height)
    assert abs(abs(estimate[0]) - abs(yaw)) < 2.0 and abs(estimate[2]) < 2.0


def test_each_source_gets_a_folder_of_its_own_media_as_they_are(tmp_path: Path) -> None:
    from quality_data import Source, folder_per_source

    media = tmp_path / "media"
    media.mkdir()
    for name in ("clm_franck.mp4", "clm_franck_01829.jpg", "pyfeat_single_face.mp4"):
        (media / name).write_bytes(name.encode())
    sources = [Source("franck", "video", media / "clm_franck.mp4"), Source("franck", "photo", media / "clm_franck_01829.jpg"),
               Source("single_face", "video", media / "pyfeat_single_face.mp4")]
    folders = folder_per_source(sources, tmp_path / "sources")
    assert sorted(folders) == ["franck", "single_face"]
    assert sorted(p.name for p in folders["franck"].iterdir()) == ["clm_franck.mp4", "clm_franck_01829.jpg"]
    assert (folders["single_face"] / "pyfeat_single_face.mp4").read_bytes() == b"pyfeat_single_face.mp4"
    assert folder_per_source(sources, tmp_path / "sources") == folders  # a second call finds them in place
