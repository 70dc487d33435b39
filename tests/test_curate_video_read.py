"""Video inputs, reading side: frame sampling, PyAV decoding (seek and sequential alike), damaged and odd videos, and
videos found in folders, tars and parquet files. Every video is written by the test with PyAV."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from video_fixtures import write_audio_only, write_panned_video

import curation.video_decode as video_decode
from curation.decode_config import DecodeConfig
from curation.sources import SourceConfig, iter_items, list_units
from curation.sources.video import expand_videos
from curation.video_config import VideoConfig
from curation.video_decode import VideoReader
from curation.video_sampling import FrameSelector
from shards import make_key
from shards.keys import frame_item, item_order

pytestmark = pytest.mark.timeout(120)


def read(source, **video) -> tuple[list[tuple[int, float, np.ndarray]], VideoReader]:
    reader = VideoReader(str(source) if isinstance(source, Path) else source, VideoConfig(**video), DecodeConfig())
    return list(reader.frames()), reader


def taken(config: VideoConfig, times: list[float]) -> list[float]:
    selector = FrameSelector(config)
    return [t for t in times if selector.take(t)]


def test_frame_selector_takes_the_first_frame_at_or_after_each_target_once():
    ten_fps = [n / 10 for n in range(40)]
    assert taken(VideoConfig(), ten_fps) == [0.0, 1.0, 2.0, 3.0]
    assert taken(VideoConfig(fps=25), ten_fps) == ten_fps  # above the video's rate: every frame once
    assert taken(VideoConfig(fps=0, start_s=1.0, end_s=1.5), ten_fps) == [1.0, 1.1, 1.2, 1.3, 1.4]
    assert taken(VideoConfig(fps=2, max_frames=3, start_s=0.25), ten_fps) == [0.3, 0.8, 1.3]
    assert taken(VideoConfig(), [0.0, 0.9996, 1.7, 2.5]) == [0.0, 0.9996, 2.5]  # 0.9996 is 1.0 within rounding


def test_frame_keys_name_video_position_and_frame():
    assert make_key(3, frame_item(17, 42)) == "00003_0000017_v00042"
    assert make_key(3, frame_item(17, 0), 1) == "00003_0000017_v00000_f1"
    assert make_key(3, 17) == "00003_0000017"  # photos keep their keys
    order = sorted([frame_item(2, 1), 3, frame_item(2, 0), 2, 1], key=item_order)
    assert order == [1, 2, frame_item(2, 0), frame_item(2, 1), 3]


@pytest.mark.parametrize("name,codec", [("clip.mp4", "libx264"), ("clip.webm", "libvpx-vp9"), ("clip.mkv", "mpeg4")])
def test_two_containers_and_codecs_give_frames_at_the_sampled_times(tmp_path, name, codec):
    path = write_panned_video(tmp_path / name, count=30, fps=10, codec=codec)
    frames, reader = read(path)
    assert [(i, t) for i, t, _ in frames] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert all(rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8 for _, _, rgb in frames)
    assert not np.array_equal(frames[0][2], frames[2][2])  # the photo moved
    assert reader.reason is None and reader.summary.frames_sampled == 3 and reader.size == (320, 240)
    assert "320x240" in reader.description and "3.0 s" in reader.description


def test_seeking_takes_the_same_frames_as_decoding_every_frame(tmp_path, monkeypatch):
    path = write_panned_video(tmp_path / "gop5.mp4", count=100, fps=25, options={"g": "5"})
    sought, seeking = read(path, fps=1)
    monkeypatch.setattr(video_decode, "SEEK_GAP_S", 1e9)
    decoded, sequential = read(path, fps=1)
    assert seeking.seeks >= 3 and sequential.seeks == 0
    assert [t for _, t, _ in sought] == [t for _, t, _ in decoded] == [0.0, 1.0, 2.0, 3.0]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(sought, decoded))


def test_sparse_keyframes_stop_seeking_and_still_take_the_same_frames(tmp_path):
    path = write_panned_video(tmp_path / "gop250.mp4", count=100, fps=25, options={"g": "250"})
    frames, reader = read(path, fps=1)
    assert [t for _, t, _ in frames] == [0.0, 1.0, 2.0, 3.0]
    assert reader.seeks == 1  # the first seek landed on the keyframe already passed: decoding goes on in order


def test_a_broken_frame_is_counted_and_the_frames_around_it_are_kept(tmp_path):
    path = write_panned_video(tmp_path / "m.avi", count=30, fps=10, codec="mjpeg", pix_fmt="yuvj420p")
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 3) if data[i:i + 3] == b"\xff\xd8\xff"]
    assert len(starts) == 30
    data[starts[15] + 2:starts[15] + 600] = bytes(598)  # wipe frame 15's JPEG header
    broken = tmp_path / "broken.avi"
    broken.write_bytes(bytes(data))
    frames, reader = read(broken, fps=0)
    times = [round(t, 2) for _, t, _ in frames]
    assert reader.broken == 1 and reader.reason is None
    assert len(frames) == 29 and 1.4 in times and 1.5 not in times and 1.6 in times


def test_truncated_videos(tmp_path):
    whole = write_panned_video(tmp_path / "whole.mp4", count=40, fps=10,
                               container_options={"movflags": "+faststart"})
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 9 // 10])  # the first keyframe is most of the file
    frames, reader = read(cut, fps=0)
    assert reader.reason is None and 10 <= len(frames) < 40  # the frames before the cut
    assert "ends at" in reader.detail
    moov_last = write_panned_video(tmp_path / "moov_last.mp4", count=40, fps=10)  # index at the end: lost
    head = tmp_path / "head.mp4"
    head.write_bytes(moov_last.read_bytes()[:20000])
    frames, reader = read(head)
    assert frames == [] and reader.reason == "corrupt_video"


def test_audio_only_garbage_and_too_long(tmp_path):
    frames, reader = read(write_audio_only(tmp_path / "speech.mp4"))
    assert frames == [] and reader.reason == "no_video_stream" and "audio" in reader.detail
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    frames, reader = read(garbage)
    assert frames == [] and reader.reason == "corrupt_video"
    frames, reader = read(b"not a video at all")  # bytes from a tar member or a parquet cell
    assert frames == [] and reader.reason == "corrupt_video"
    frames, reader = read(write_panned_video(tmp_path / "long.mp4", count=30), max_duration_s=2)
    assert frames == [] and reader.reason == "too_long" and "video.max_duration_s=2" in reader.detail


def expanded(inputs: list[Path], **video) -> list:
    config = SourceConfig()
    units = list_units([str(p) for p in inputs], config)
    return [item for unit in units
            for item in expand_videos(iter_items(unit, config), VideoConfig(**video), DecodeConfig())]


def test_videos_in_folders_tars_and_parquet_become_frames_then_their_own_row(tmp_path):
    from PIL import Image

    folder = tmp_path / "clips"
    folder.mkdir()
    video = write_panned_video(folder / "a.mp4", count=20, fps=10)
    Image.new("RGB", (64, 64)).save(folder / "b.jpg")
    items = expanded([folder])
    assert [(i.item, i.source_id.rpartition("/")[2]) for i in items] == [
        (frame_item(0, 0), "a.mp4#frame0"), (frame_item(0, 1), "a.mp4#frame1"), (0, "a.mp4"), (1, "b.jpg")]
    assert items[1].frame.time_s == 1.0 and items[1].frame.video.endswith("a.mp4") and items[1].data is None
    assert items[2].video.frames_sampled == 2 and items[3].data is not None

    shard = tmp_path / "videos.tar"
    with tarfile.open(shard, "w") as tar:
        for name, data in (("k1.mp4", video.read_bytes()), ("k1.json", json.dumps(
                {"url": "https://example.com/k1.mp4", "caption": "a person talking"}).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    items = expanded([shard])
    assert [i.source_id.rpartition("/")[2] for i in items] == ["k1.mp4#frame0", "k1.mp4#frame1", "k1.mp4"]
    assert {(i.url, i.caption) for i in items} == {("https://example.com/k1.mp4", "a person talking")}

    table = tmp_path / "clips.parquet"
    pq.write_table(pa.table({"jpg": [video.read_bytes(), b"garbage"], "caption": ["c0", "c1"]}), table)
    items = expanded([table], fps=0, max_frames=3)
    assert [(i.source_id.rpartition("/")[2], i.caption) for i in items] == [
        ("clips.parquet#0#frame0", "c0"), ("clips.parquet#0#frame1", "c0"), ("clips.parquet#0#frame2", "c0"),
        ("clips.parquet#0", "c0"), ("clips.parquet#1", "c1")]
    assert items[3].video is not None and items[4].video is None  # unnamed garbage bytes stay an image input

    paths = tmp_path / "paths.parquet"
    pq.write_table(pa.table({"path": ["clips/a.mp4"]}), paths)
    items = expanded([paths])
    assert [i.source_id.rpartition("/")[2] for i in items] == ["paths.parquet#0#frame0", "paths.parquet#0#frame1",
                                                              "paths.parquet#0"]


def test_a_fifo_named_like_a_video_is_unreadable_not_a_hang(tmp_path):
    import os

    folder = tmp_path / "clips"
    folder.mkdir()
    os.mkfifo(folder / "pipe.mp4")
    (item,) = expanded([folder])
    assert item.video is not None and item.error == "not_a_file" and "regular file" in item.error_detail


def test_a_stream_ffmpeg_cannot_decode_is_unsupported_codec(tmp_path, monkeypatch):
    import av

    path = write_panned_video(tmp_path / "clip.mp4", count=20, fps=10)

    def no_decoder(self, container, stream):
        raise av.error.DecoderNotFoundError(-1, "decoder not found")
        yield  # a generator, like the real one

    monkeypatch.setattr(VideoReader, "_decoded", no_decoder)
    frames, reader = read(path)
    assert frames == [] and reader.reason == "unsupported_codec" and "h264" in reader.detail


def test_retrieval_recheck_says_not_cached_for_a_frame_instead_of_failing(tmp_path):
    from curation.config import load_curate_config
    from curation.pipeline.layout import RunLayout
    from curation.pipeline.retrieval_step import PoolImage, Recheck
    from curation.pipeline.unit_files import DECODE_SCHEMA, RowFileWriter

    layout = RunLayout(tmp_path)
    writer = RowFileWriter(layout.decode_cache(0), DECODE_SCHEMA, compression="none")
    writer.add({"item": frame_item(0, 0), "status": "ok", "reason": None, "detail": "", "width": 320, "height": 240,
                "format": "VIDEO_FRAME", "decoded_width": 320, "scale": 1.0, "det_width": 320, "det_height": 240,
                "pixels": None})
    writer.commit()
    key = make_key(0, frame_item(0, 0))
    facts = {key: PoolImage(0, frame_item(0, 0), False, 0.0, 320 * 240)}

    def no_detector():
        raise AssertionError("a frame without cached pixels must not reach the detector")

    recheck = Recheck(layout, load_curate_config(), facts, no_detector)
    assert recheck([key]) == ["not_cached"]


def test_start_and_end_times_bound_the_frames_taken(tmp_path, monkeypatch):
    path = write_panned_video(tmp_path / "gop5.mp4", count=100, fps=25, options={"g": "5"})
    window, seeking = read(path, fps=1, start_s=1.5, end_s=3.6)
    monkeypatch.setattr(video_decode, "SEEK_GAP_S", 1e9)
    same, _ = read(path, fps=1, start_s=1.5, end_s=3.6)
    assert [(i, t) for i, t, _ in window] == [(0, 1.52), (1, 2.52), (2, 3.52)]  # the first frame at or after each
    assert seeking.seeks >= 1 and all(np.array_equal(a[2], b[2]) for a, b in zip(window, same))
