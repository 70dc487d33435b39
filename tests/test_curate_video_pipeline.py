"""Video inputs through ``pros curate``: frames are detected, embedded, deduplicated and cropped like photos; every
video and frame has its manifest row and the counts balance; captions and urls reach the manifest and sample json;
a run SIGKILLed inside a video unit resumes to byte-identical shards. Videos are written by the test with PyAV."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from video_fixtures import face_photo, panned_frames, write_audio_only, write_video

from curation.config import load_curate_config
from curation.pipeline.manifest import read_manifests
from curation.pipeline.run import curate

OVERRIDES = ["detect.input_size=320", "detect.batch_size=4", "video.fps=2"]


def grace_hopper() -> np.ndarray:
    return np.asarray(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB"))


def write_inputs(root: Path) -> tuple[Path, Path]:
    clips, photos = root / "clips", root / "photos"
    clips.mkdir(parents=True)
    photos.mkdir()
    write_video(clips / "astronaut.mp4", panned_frames(face_photo(), 30), fps=10, codec="libx264")
    write_video(clips / "grace.webm", panned_frames(grace_hopper(), 30), fps=10, codec="libvpx-vp9")
    write_audio_only(clips / "speech.mp4")
    (clips / "garbage.mp4").write_bytes(np.random.default_rng(1).bytes(4000))
    Image.fromarray(face_photo()).save(photos / "astronaut.jpg", quality=92)
    return clips, photos


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, object]:
    root = tmp_path_factory.mktemp("video")
    clips, photos = write_inputs(root)
    out = root / "out"
    result = curate([str(clips), str(photos)], out, load_curate_config(None, OVERRIDES))
    return out, result


def samples(out: Path) -> dict[str, dict]:
    metas = {}
    for tar_path in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    metas[member.name[:-5]] = json.loads(tar.extractfile(member).read())
    return metas


@pytest.mark.timeout(300)
def test_frames_and_photos_become_samples_and_every_video_and_frame_is_counted(run):
    out, result = run
    rows = read_manifests(out / "manifest").to_pylist()
    videos = {Path(r["source_id"]).name: r for r in rows if r["frames_sampled"] is not None}
    frames = [r for r in rows if r["source_video"] is not None]
    assert {n: (v["status"], v["reason"]) for n, v in videos.items()} == {
        "astronaut.mp4": ("video", None), "grace.webm": ("video", None),
        "speech.mp4": ("rejected", "no_video_stream"), "garbage.mp4": ("rejected", "corrupt_video")}
    for name in ("astronaut.mp4", "grace.webm"):
        own = [r for r in frames if r["source_video"] == videos[name]["source_id"]]
        assert videos[name]["frames_sampled"] == len(own) == 6  # 3 s at video.fps=2
        assert videos[name]["frames_kept"] == sum(r["status"] == "kept" for r in own) >= 1
        assert [r["source_time_s"] for r in own] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
        assert [r["key"] for r in own] == [f"{videos[name]['key']}_v{n:05d}" for n in range(6)]
    # The counting invariant: inputs = images + frames + videos that gave no frames = kept + rejected.
    items = [r for r in rows if r["status"] != "video"]
    assert result.inputs == len(items) == 1 + 12 + 2 == result.kept + result.rejected
    assert result.videos == 2
    # Near-identical consecutive frames fall to dedup; a kept frame has its face crop in the shards.
    assert any(r["decision"] == "duplicate" for r in frames)
    metas = samples(out)
    from_video = {m["source_video"].rpartition("/")[2] for m in metas.values() if "source_video" in m}
    assert from_video == {"astronaut.mp4", "grace.webm"}
    assert any(m["source_id"].endswith("astronaut.jpg") and "source_video" not in m for m in metas.values())
    frame_meta = next(m for m in metas.values() if "source_video" in m)
    assert {"source_frame", "source_time_s"} <= frame_meta.keys() and frame_meta["original_size"] == [320, 240]


@pytest.mark.timeout(300)
def test_frames_leave_no_pixels_in_the_decode_cache_and_the_report_shows_videos(run):
    out, _ = run
    cache = pa.concat_tables(pq.read_table(p, columns=["item", "format", "pixels"])
                             for p in sorted((out / "work" / "decode").glob("*.parquet"))).to_pylist()
    frames = [r for r in cache if r["format"] == "VIDEO_FRAME"]
    assert len(frames) == 12 and all(r["pixels"] is None for r in frames)
    assert any(r["pixels"] is not None for r in cache)  # the photo keeps its cached pixels
    report = json.loads((out / "report" / "report.json").read_text())
    section = report["videos"]
    assert (section["videos"], section["videos_read"], section["frames_sampled"]) == (4, 2, 12)
    assert section["videos_rejected"] == {"no_video_stream": 1, "corrupt_video": 1}
    assert section["frames_with_faces"] >= 10 and 2 <= section["frames_kept"] < 12
    assert "video_strip.png" in report["pictures"]
    page = (out / "report" / "index.html").read_text()
    assert "<h2>Videos</h2>" in page and "grace.webm" in page and "Kept frames of" in page


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@pytest.mark.timeout(300)
def test_captions_and_urls_reach_the_manifest_and_the_sample_json(tmp_path):
    photo = io.BytesIO()
    Image.fromarray(face_photo()).save(photo, format="JPEG", quality=92)
    shard = tmp_path / "00000.tar"
    with tarfile.open(shard, "w") as tar:
        add_member(tar, "000000000.jpg", photo.getvalue())
        add_member(tar, "000000000.json", json.dumps({"url": "https://example.com/a.jpg", "caption": "json cap"}).encode())
        add_member(tar, "000000001.jpg", photo.getvalue()[:-10] + b"\xff\xd9")
        add_member(tar, "000000001.txt", b"txt caption")
    table = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"jpg": [photo.getvalue()], "url": ["https://example.com/p.jpg"],
                             "caption": ["parquet caption"]}), table)
    out = tmp_path / "out"
    curate([str(shard), str(table)], out, load_curate_config(None, OVERRIDES + ["retrieval.enabled=false"]))
    rows = {r["source_id"].rpartition("/")[2]: r for r in read_manifests(out / "manifest").to_pylist()}
    assert (rows["000000000.jpg"]["caption"], rows["000000000.jpg"]["url"]) == ("json cap", "https://example.com/a.jpg")
    assert rows["000000001.jpg"]["caption"] == "txt caption"
    assert (rows["rows.parquet#0"]["caption"], rows["rows.parquet#0"]["url"]) == (
        "parquet caption", "https://example.com/p.jpg")
    metas = samples(out)
    captions = {(m["caption"], m["source_url"]) for m in metas.values()}
    assert ("json cap", "https://example.com/a.jpg") in captions
    assert ("parquet caption", "https://example.com/p.jpg") in captions
    shard_rows = pq.read_table(out / "shards" / "00001.parquet").to_pylist()
    assert shard_rows[0]["caption"] == "parquet caption" and shard_rows[0]["url"] == "https://example.com/p.jpg"


def shard_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir()) if p.suffix in (".tar", ".parquet")}


@pytest.mark.timeout(600)
def test_sigkill_inside_a_video_unit_then_rerun_gives_identical_shards(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    write_video(clips / "long.mp4", panned_frames(face_photo(), 120), fps=10, codec="libx264")
    write_video(clips / "grace.webm", panned_frames(grace_hopper(), 40), fps=10, codec="libvpx-vp9")
    cmd = lambda out: [sys.executable, "-m", "pros", "curate", str(clips), "--out", str(out), *OVERRIDES,  # noqa: E731
                       "video.fps=0", "detect.batch_size=2"]
    reference = tmp_path / "reference"
    subprocess.run(cmd(reference), check=True, capture_output=True, timeout=300)
    out = tmp_path / "out"
    process = subprocess.Popen(cmd(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    detections = out / "work" / "detect" / "00000.parquet.tmp"
    deadline = time.monotonic() + 200
    while not detections.exists():  # the video unit is being decoded and detected
        assert process.poll() is None and time.monotonic() < deadline, "the run ended before the kill point"
        time.sleep(0.005)
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert not (out / "shards" / "00000.tar").exists()
    subprocess.run(cmd(out), check=True, capture_output=True, timeout=300)
    assert shard_files(out) == shard_files(reference) and len(shard_files(out)) == 2
