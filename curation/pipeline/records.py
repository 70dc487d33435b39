"""What travels between a unit's stages: one ``ItemRecord`` per input, and the resize every stage agrees on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.types import DecodedImage, DetectedFace, InputItem


@dataclass
class ItemRecord:
    """One input on its way through a unit's stages."""

    item: InputItem
    status: str = "ok"  # "ok" while it may still be kept, "rejected" once a stage rejected it
    reason: str | None = None
    detail: str = ""
    width: int = 0  # original size of the source image
    height: int = 0
    format: str = ""
    decoded_width: int = 0
    scale: float = 1.0  # detector-resolution pixels per decoded pixel
    det_rgb: np.ndarray | None = None  # the image the detector sees (the decode stage's cached output)
    decoded: DecodedImage | None = None  # full decode, present only where this process decoded it
    faces: list[DetectedFace] | None = None  # in detector-resolution coordinates


def to_decoded_pixels(faces: list[DetectedFace], scale: float) -> list[DetectedFace]:
    """Faces found at detector resolution, in the decoded image's pixels (``scale`` = detector / decoded)."""
    if scale == 1.0:
        return list(faces)
    return [
        DetectedFace(box=(f.box[0] / scale, f.box[1] / scale, f.box[2] / scale, f.box[3] / scale),
                     landmarks=f.landmarks / scale, score=f.score)
        for f in faces
    ]


def fit_within(rgb: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    """``rgb`` shrunk (never enlarged) so its longer side is at most ``side``, and the scale applied."""
    import cv2  # heavy (OpenCV): only the processes that decode load it

    height, width = rgb.shape[:2]
    scale = min(1.0, side / max(height, width))
    if scale >= 1.0:
        return np.ascontiguousarray(rgb), 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return resized, size[0] / width
