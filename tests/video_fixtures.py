"""Videos written by the tests with PyAV: a real photo panned across the frames, in a chosen container and codec.

Importable by the tests (``from video_fixtures import write_panned_video``); nothing here is a fixture file.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def face_photo() -> np.ndarray:
    """scikit-image's astronaut (512x512 RGB, one clear face): a real photo that ships inside an installed package."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def panned_frames(photo: np.ndarray, count: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """``count`` frames of ``size`` (width, height) cut from ``photo`` scaled to the frame height, sliding right."""
    import cv2

    width, height = size
    scale = height / photo.shape[0]
    scaled = cv2.resize(photo, (max(width, round(photo.shape[1] * scale * 1.4)), round(height * 1.4)))
    travel = scaled.shape[1] - width
    frames = []
    for n in range(count):
        x = round(travel * n / max(1, count - 1))
        y = round((scaled.shape[0] - height) * 0.3)
        frames.append(np.ascontiguousarray(scaled[y:y + height, x:x + width]))
    return frames


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10, codec: str = "libx264",
                pix_fmt: str = "yuv420p", options: dict[str, str] | None = None, audio: bool = False,
                container_options: dict[str, str] | None = None) -> Path:
    """Write ``frames`` (RGB uint8, even sides) to ``path``; the container follows the file name's ending.
    ``options`` go to the encoder (e.g. ``{"g": "5"}``: a keyframe every 5 frames), ``container_options`` to the
    muxer (e.g. ``{"movflags": "+faststart"}``: the mp4 index first)."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), mode="w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.time_base = Fraction(1, fps)
        audio_stream = container.add_stream("aac", rate=8000) if audio else None
        for n, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = n
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if audio_stream is not None:
            _write_silence(container, audio_stream, seconds=len(frames) / fps)
    return path


def write_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """A file with one audio stream (silence) and no video stream."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        _write_silence(container, stream, seconds)
    return path


def _write_silence(container, stream, seconds: float) -> None:
    import av

    samples = 1024
    for n in range(max(1, round(seconds * stream.rate / samples))):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = stream.rate, n * samples
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_panned_video(path: Path, count: int = 30, fps: int = 10, codec: str = "libx264", **kwargs) -> Path:
    return write_video(path, panned_frames(face_photo(), count), fps=fps, codec=codec, **kwargs)
