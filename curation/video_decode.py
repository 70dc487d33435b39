"""Sampled frames of one video, decoded with PyAV (FFmpeg) as a stream: memory stays flat in the video's length.

``VideoReader(source, ...).frames()`` yields ``(index, time_s, rgb)`` for the frames ``FrameSelector`` picks; after the
generator ends, ``summary`` says how many were sampled and broken, and ``reason`` / ``detail`` why a video gave no
frames at all (one of ``VIDEO_REASONS``, or ``too_small`` / ``too_large`` / ``unreadable`` from the image reasons).

Seeking: while the next wanted time lies more than ``SEEK_GAP_S`` past the last decoded frame, the reader seeks to the
keyframe before it instead of decoding the frames in between. If a seek lands at or before the last decoded frame
(keyframes sparser than the sampling), seeking buys nothing and the reader decodes sequentially from then on. Both ways
take the same frames, since a frame is chosen by its presentation time alone.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np

from curation.decode_config import DecodeConfig
from curation.types import VideoSummary
from curation.video_config import VideoConfig
from curation.video_sampling import TIME_EPS, FrameSelector

SEEK_GAP_S = 0.5  # at 25 fps: seek rather than decode 12 or more frames that are not wanted


class VideoReader:
    """One video from a file path or from its bytes."""

    def __init__(self, source: str | bytes, config: VideoConfig, decode: DecodeConfig) -> None:
        self.source = source
        self.config = config
        self.decode = decode
        self.reason: str | None = None
        self.detail = ""
        self.sampled = 0
        self.broken = 0
        self.description = ""
        self.size = (0, 0)
        self.seeks = 0  # seeks made (a figure for tests and benchmarks)
        self.last_time: float | None = None  # time of the last frame decoded
        self.selector_done = False

    @property
    def summary(self) -> VideoSummary:
        return VideoSummary(self.sampled, self.broken, self.description, *self.size)

    def frames(self) -> Iterator[tuple[int, float, np.ndarray]]:
        import av  # PyAV: FFmpeg bindings, imported only where videos are read

        try:
            container = av.open(io.BytesIO(self.source) if isinstance(self.source, bytes) else self.source,
                                mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as err:
            self._fail("corrupt_video", f"not a readable video container: {_message(err)}")
            return
        except OSError as err:
            self._fail("unreadable", err.strerror or type(err).__name__)
            return
        with container:
            stream = self._video_stream(container)
            if stream is None:
                return
            try:
                yield from self._sample(container, stream)
                self._note_early_end(stream, container)
                if self.sampled == 0 and self.broken:
                    self._fail("corrupt_video", f"none of the {self.broken} packets read decoded to a frame")
            except (av.error.DecoderNotFoundError, av.error.PatchWelcomeError) as err:
                self._fail("unsupported_codec", f"FFmpeg cannot decode this {stream.codec_context.name} stream: "
                                                f"{_message(err)}")
            except av.error.FFmpegError as err:  # the demuxer gave up (cut file, damaged index)
                ended = f"video stream ended early after {self.sampled} sampled frames: {_message(err)}"
                if self.sampled == 0:
                    self._fail("corrupt_video", ended)
                else:
                    self.detail = ended

    def _note_early_end(self, stream: Any, container: Any) -> None:
        """Say so when the frames stop well before the duration the header states (a cut file)."""
        duration = _duration_s(container, stream)
        rate = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if duration is not None and self.last_time is not None and self.last_time < duration - 2.0 / rate \
                and not self.selector_done:
            self.detail = f"the stream ends at {self.last_time:.2f} s of the {duration:.2f} s its header states"

    def _fail(self, reason: str, detail: str) -> None:
        self.reason, self.detail = reason, detail

    def _video_stream(self, container: Any) -> Any | None:
        """The first video stream, checked; None (with the reason set) when the video cannot give frames."""
        streams = list(container.streams.video)
        if not streams:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            self._fail("no_video_stream", f"the container holds no video stream (streams: {', '.join(kinds)})")
            return None
        stream = streams[0]
        codec = stream.codec_context
        if codec is None or not getattr(codec, "name", None):
            self._fail("unsupported_codec", f"FFmpeg has no decoder for codec id {stream.codec_context!r}")
            return None
        width, height = int(codec.width or 0), int(codec.height or 0)
        duration = _duration_s(container, stream)
        rate = float(stream.average_rate or stream.guessed_rate or 0)
        self.size = (width, height)
        self.description = f"{codec.name} {width}x{height}, {rate:.2f} fps, " + (
            f"{duration:.1f} s" if duration is not None else "duration unknown")
        if duration is not None and duration > self.config.max_duration_s:
            self._fail("too_long", f"{duration:.0f} s, above video.max_duration_s={self.config.max_duration_s:g}")
            return None
        if width and height and min(width, height) < self.decode.min_side:
            self._fail("too_small", f"{width}x{height}, shorter side below decode.min_side={self.decode.min_side}")
            return None
        if width * height > self.decode.max_pixels:
            self._fail("too_large", f"{width}x{height} frames, above decode.max_pixels={self.decode.max_pixels}")
            return None
        return stream

    def _sample(self, container: Any, stream: Any) -> Iterator[tuple[int, float, np.ndarray]]:
        selector = FrameSelector(self.config)
        base = float(stream.time_base) if stream.time_base else 0.0
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None and base else 0.0
        seeking = base > 0
        step = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)  # for frames without a timestamp
        last: float | None = None
        frames = self._decoded(container, stream)
        while (target := selector.next_target()) is not None:
            sought = False
            if seeking and target - (last if last is not None else 0.0) > SEEK_GAP_S:
                container.seek(int((target + start) / base), stream=stream, backward=True, any_frame=False)
                frames, sought = self._decoded(container, stream), True
                self.seeks += 1
            for frame in frames:
                time_s = _frame_time(frame, start, last, step)
                if sought:
                    sought = False
                    if last is not None and time_s <= last + TIME_EPS:
                        seeking = False  # the seek went back to a keyframe already passed: decode in order
                last = self.last_time = time_s
                if selector.past_end(time_s):
                    self.selector_done = True
                    return
                if selector.take(time_s):
                    self.sampled += 1
                    yield selector.taken - 1, round(time_s, 6), frame.to_ndarray(format="rgb24")
                    break
            else:
                return  # the stream ended
        self.selector_done = True

    def _decoded(self, container: Any, stream: Any) -> Iterator[Any]:
        """Frames in presentation order; a packet that fails to decode is counted and skipped."""
        import av

        for packet in container.demux(stream):
            try:
                decoded = packet.decode()
            except (av.error.DecoderNotFoundError, av.error.PatchWelcomeError):
                raise  # the codec, not this packet: the whole video is unsupported
            except av.error.FFmpegError:
                self.broken += 1
                continue
            yield from decoded


def _duration_s(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _frame_time(frame: Any, start: float, last: float | None, step: float) -> float:
    if frame.time is not None:
        return float(frame.time) - start
    return 0.0 if last is None else last + step  # no timestamp: one frame duration after the previous frame


def _message(err: Exception) -> str:
    return str(err) or type(err).__name__
