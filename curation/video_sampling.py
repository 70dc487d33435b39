"""Which frames of a video are sampled: a pure rule on presentation times, so every run picks the same frames.

With ``fps`` > 0 the targets are ``start_s + k / fps`` (k = 0, 1, ...) before ``end_s``; each target takes the first
frame whose time is at or after it (within ``TIME_EPS``), and a frame is taken once even when several targets fall on
it (``fps`` above the video's own rate). ``fps`` = 0 takes every frame in [start_s, end_s). At most ``max_frames``.
"""

from __future__ import annotations

import math

from curation.video_config import VideoConfig

TIME_EPS = 1e-3  # seconds; absorbs rounding of pts * time_base (25 fps: 0.04 * 25 = 1.0000000000000002)


class FrameSelector:
    """Feed it frame times in presentation order; it says which to take and when nothing more will be taken."""

    def __init__(self, config: VideoConfig) -> None:
        self.config = config
        self.step = 0  # index of the next target (fps > 0)
        self.taken = 0

    def next_target(self) -> float | None:
        """Time of the next frame wanted, or None when sampling is over."""
        limit = self.config.max_frames
        if limit and self.taken >= limit:
            return None
        if self.config.fps == 0:
            target = self.config.start_s
        else:
            target = self.config.start_s + self.step / self.config.fps
        end = self.config.end_s
        if end is not None and target >= end - TIME_EPS:
            return None
        return target

    def take(self, time_s: float) -> bool:
        """True when the frame at ``time_s`` is sampled (its index is then ``taken - 1``)."""
        target = self.next_target()
        if target is None or time_s + TIME_EPS < target:
            return False
        end = self.config.end_s
        if end is not None and time_s >= end - TIME_EPS:
            return False
        if self.config.fps > 0:  # skip every target this frame already answers
            self.step = max(self.step + 1, math.floor((time_s + TIME_EPS - self.config.start_s) * self.config.fps) + 1)
        self.taken += 1
        return True

    def done(self) -> bool:
        return self.next_target() is None

    def past_end(self, time_s: float) -> bool:
        """True once ``time_s`` is at or beyond ``end_s``: no later frame can be taken."""
        end = self.config.end_s
        return end is not None and time_s >= end - TIME_EPS
