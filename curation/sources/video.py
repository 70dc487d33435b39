"""Video inputs: which inputs are videos, and each video turned into its sampled frames followed by its own row.

Sources yield a video like any input: a tar member or parquet cell with its bytes, a file in a folder unread with
``open_path`` set (it is streamed from disk, never read whole). ``expand_videos`` replaces each video by one item
per sampled frame, then the video's own item (``video`` set: frames sampled and broken, or the reason it gave none).

Keys: frame ``k`` of the video at position ``p`` of its unit is item ``shards.frame_item(p, k)``, so its key
``UUUUU_PPPPPPP_vKKKKK`` depends only on (unit, position, frame index); the video's own row keeps key ``UUUUU_PPPPPPP``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from curation.decode_config import DecodeConfig
from curation.sources.safe_read import regular_file_problem
from curation.types import InputItem, VideoFrame, VideoSummary
from curation.video_config import VideoConfig
from curation.video_decode import VideoReader
from shards.keys import frame_item

VIDEO_EXTENSIONS = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".m4v")


def is_video_name(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS)


def looks_like_video(data: bytes) -> bool:
    """True for the headers of ISO media (mp4, mov, m4v), Matroska / WebM and AVI: parquet cells carry no name."""
    return (data[4:8] == b"ftyp" and data[8:12] not in (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1")) \
        or data[:4] == b"\x1a\x45\xdf\xa3" or (data[:4] == b"RIFF" and data[8:12] == b"AVI ")


def is_video_item(item: InputItem) -> bool:
    if item.frame is not None or item.video is not None:
        return False
    if item.open_path is not None:
        return True
    names = (item.source_id, item.path or "")
    return any(is_video_name(n) for n in names) or (item.data is not None and looks_like_video(item.data))


def expand_videos(items: Iterator[InputItem], config: VideoConfig, decode: DecodeConfig) -> Iterator[InputItem]:
    """``items`` with every video replaced by its sampled frames and then its own item; other items unchanged."""
    for item in items:
        if is_video_item(item):
            yield from video_items(item, config, decode)
        else:
            yield item


def video_items(item: InputItem, config: VideoConfig, decode: DecodeConfig) -> Iterator[InputItem]:
    """The frames of one video, then the video's own item; a video that cannot be read gives only the latter."""
    own = replace(item, data=None, open_path=None)
    if item.error is not None:  # unreadable, too_large, unsafe_path...: the video's row says so
        yield replace(own, video=VideoSummary(0, 0, ""))
        return
    source = item.data if item.data is not None else _regular_file(item.open_path)
    if isinstance(source, tuple):
        yield replace(own, error=source[0], error_detail=source[1], video=VideoSummary(0, 0, ""))
        return
    reader = VideoReader(source, config, decode)
    for index, time_s, rgb in reader.frames():
        yield replace(own, item=frame_item(item.item, index), source_id=f"{item.source_id}#frame{index}",
                      frame=VideoFrame(video=item.source_id, index=index, time_s=time_s, rgb=rgb))
    yield replace(own, error=reader.reason, error_detail=reader.detail, video=reader.summary)


def _regular_file(path: str | None) -> str | tuple[str, str]:
    """``path`` when it is a regular file (a FIFO or device would block or never end), else (reason, detail)."""
    if path is None:
        return "unreadable", "no path to read the video from"
    try:
        problem = regular_file_problem(path)
    except OSError as err:
        return "unreadable", err.strerror or type(err).__name__
    return path if problem is None else ("not_a_file", problem)
