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
# Reasons a whole video gives no frames (its own manifest row); see docs/curate_inputs.md.
VIDEO_REASONS = ("corrupt_video", "no_video_stream", "unsupported_codec", "too_long")
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
    open_path: str | None = None  # a video file left unread on disk: curation.sources.video streams it from here
    frame: VideoFrame | None = None  # set on a frame sampled from a video (``data`` is None, the pixels are here)
    video: VideoSummary | None = None  # set on a video's own row, which follows its frames


@dataclass(frozen=True, eq=False)  # pixels: compared by identity
class VideoFrame:
    """One frame sampled from a video: which video, its position among the sampled frames, its time, its pixels."""

    video: str  # the video's source_id
    index: int  # 0, 1, ... in sampling order
    time_s: float  # presentation time from the start of the video stream
    rgb: np.ndarray  # (H, W, 3) uint8


@dataclass(frozen=True)
class VideoSummary:
    """What reading one video gave; its manifest row carries these with the frame counts."""

    frames_sampled: int
    frames_broken: int  # packets or frames that failed to decode; the frames around them are kept
    description: str  # e.g. "h264 640x360, 25.00 fps, 12.0 s"
    width: int = 0
    height: int = 0


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
