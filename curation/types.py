"""The values that flow between curation stages, and the protocol of a face detector backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

# Reasons an input is not kept; every input gets a manifest row with one of these or "kept".
DECODE_REASONS = (
    "truncated", "corrupt", "not_an_image", "too_large", "too_small", "unsupported_format", "unreadable", "unsafe_path",
    "not_a_file",
)
SELECTION_REASONS = ("no_face", "faces_below_threshold")


@dataclass(frozen=True)
class InputItem:
    """One raw input as a source yields it: its position (stable across reruns), identity and bytes.

    ``data`` is None when the bytes could not be read; then ``error`` is a reason from DECODE_REASONS.
    """

    unit: int  # index of the input unit (a directory chunk, a tar, a parquet file) in the sorted unit list
    item: int  # position of this input inside its unit
    source_id: str  # e.g. relative path, "shard.tar/member", "file.parquet#row"
    path: str | None
    url: str | None
    data: bytes | None
    error: str | None = None
    error_detail: str = ""
    caption: str | None = None  # from an img2dataset ``.json``/``.txt`` member or a parquet caption column


@dataclass(frozen=True)
class DecodedImage:
    rgb: np.ndarray  # (H, W, 3) uint8, EXIF orientation applied
    original_size: tuple[int, int]  # (width, height) of the source before any reduced-size decoding
    format: str  # e.g. "JPEG", "PNG"


@dataclass(frozen=True)
class Rejection:
    reason: str  # one of DECODE_REASONS or SELECTION_REASONS
    detail: str = ""


@dataclass(frozen=True)
class DetectedFace:
    """One face in image pixel coordinates of the image given to the detector."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    landmarks: np.ndarray  # (5, 2): left eye, right eye, nose, left mouth corner, right mouth corner
    score: float


class FaceDetector(Protocol):
    """A face detector backend. ``name`` and ``version`` enter the detection stage's marker."""

    name: str
    version: str

    def detect(self, images: Sequence[np.ndarray]) -> list[list[DetectedFace]]:
        """Faces for each RGB (H, W, 3) uint8 image, highest score first."""
        ...
