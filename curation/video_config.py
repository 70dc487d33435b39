"""Settings of video inputs: which frames of a video become items (see docs/curate_inputs.md, "Videos")."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import ConfigError


@dataclass(frozen=True)
class VideoConfig:
    """How frames are sampled from a video file.

    fps: frames sampled per second of video: the frame shown at ``start_s``, ``start_s + 1/fps``, ... is taken;
        0 takes every frame.
    max_frames: at most this many frames per video (the first ones in time); 0 = no limit.
    start_s: sampling starts at this time (seconds from the start of the video stream).
    end_s: sampling stops before this time; ``None`` = the end of the video.
    max_duration_s: a video whose container states a longer duration is rejected as ``too_long`` without decoding
        (a guard against bogus headers and against one unit holding hours of decoding); raise it for long recordings.
    """

    fps: float = 1.0
    max_frames: int = 300
    start_s: float = 0.0
    end_s: float | None = None
    max_duration_s: float = 7200.0

    def __post_init__(self) -> None:
        if self.fps < 0:
            raise ConfigError(f"video.fps={self.fps} must be >= 0 (0 = every frame), e.g. 1 or 0.5")
        if self.max_frames < 0:
            raise ConfigError(f"video.max_frames={self.max_frames} must be >= 0 (0 = no limit)")
        if self.start_s < 0:
            raise ConfigError(f"video.start_s={self.start_s} must be >= 0 seconds")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise ConfigError(f"video.end_s={self.end_s} must be above video.start_s={self.start_s}, or null")
        if self.max_duration_s <= 0:
            raise ConfigError(f"video.max_duration_s={self.max_duration_s} must be above 0 seconds")
