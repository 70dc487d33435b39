"""Kill-and-resume: ``pros curate`` killed with SIGKILL mid-run and started again finishes without redoing committed
units, and its shards are byte-identical to an uninterrupted run's. Runs the real CLI and the real default detector
in subprocesses, on small real-photo-derived images."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from shards.verify import verify_directory

UNITS = 6
PER_UNIT = 3


def real_photos() -> list[Image.Image]:
    import insightface
    import matplotlib
    import skimage.data

    insight = Path(insightface.__file__).parent / "data" / "images"
    grace = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photos = [Image.open(insight / "t1.jpg"), Image.open(grace), Image.fromarray(skimage.data.astronaut()),
              Image.fromarray(skimage.data.coffee()), Image.open(insight / "Tom_Hanks_54745.png")]
    return [p.convert("RGB") for p in photos]


def write_dump(folder: Path, count: int, photos: list[Image.Image] | None = None, longest: int = 320) -> None:
    """``count`` variants (resized, cropped, mirrored) of real photos, at most ``longest`` px."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    photos = photos or real_photos()
    for n in range(count):
        image = photos[n % len(photos)]
        w, h = image.size
        cut = rng.uniform(0.0, 0.1, size=4)
        image = image.crop((int(cut[0] * w), int(cut[1] * h), int(w - cut[2] * w), int(h - cut[3] * h)))
        if n % 2:
            image = ImageOps.mirror(image)
        image.thumbnail((int(rng.integers(200, longest)),) * 2)
        image.save(folder / f"img_{n:03d}.jpg", quality=92)


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("resume") / "dump"
    write_dump(folder, UNITS * PER_UNIT)
    return folder


def command(dump: Path, out: Path, *extra: str) -> list[str]:
    # The first pass alone: the kill points follow one unit through its stages. Killing and resuming with retrieval
    # (all units embedded before any is written) is tested in test_curate_retrieval.py.
    return [sys.executable, "-m", "pros", "curate", str(dump), "--out", str(out), "detect.input_size=320",
            f"sources.files_per_unit={PER_UNIT}", "detect.batch_size=2", "retrieval.enabled=false", *extra]


def shard_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / "shards").iterdir()) if p.suffix in (".tar", ".parquet")}


def markers(out: Path, stage: str) -> dict[str, tuple[bytes, int]]:
    folder = out / "work" / "markers" / stage
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.glob("*.json")} if folder.exists() else {}


def count_markers(stage: str, at_least: int) -> Callable[[Path], bool]:
    return lambda out: len(list((out / "work" / "markers" / stage).glob("*.json"))) >= at_least


def kill_when(cmd: list[str], out: Path, condition: Callable[[Path], bool], delay: float = 0.0) -> list[int]:
    """Start ``cmd``, SIGKILL it once ``condition(out)`` holds (plus ``delay`` seconds), check it was killed, and
    return the ids of the child processes it had then."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not condition(out):
        assert process.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(delay)
    children = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"
    return [int(c) for c in children]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state  # a zombie has exited


@pytest.fixture(scope="module")
def reference(dump: Path, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("reference") / "out"
    subprocess.run(command(dump, out), check=True, capture_output=True, timeout=300)
    return shard_files(out)


def test_sigkill_at_several_moments_then_resume_gives_identical_shards(dump, reference, tmp_path):
    out = tmp_path / "out"
    cmd = command(dump, out)
    kill_when(cmd, out, count_markers("decode", 1))  # inside the first unit
    kill_when(cmd, out, count_markers("write", 2), delay=0.05)  # somewhere in a later unit
    kill_when(cmd, out, count_markers("detect", 4))  # between a unit's stages
    committed = markers(out, "write")
    assert 0 < len(committed) < UNITS

    finished = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    assert f"write   done {len(committed):>6}  to do {UNITS - len(committed):>6}" in finished.stderr
    after = markers(out, "write")
    assert all(after[name] == stamp for name, stamp in committed.items()), "a committed unit was written again"
    assert shard_files(out) == reference
    assert verify_directory(out / "shards").ok

    again = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300)
    assert "nothing to do" in again.stderr


def test_sigkill_with_two_workers_then_resume(dump, reference, tmp_path):
    """The parent is killed; its worker processes die with it (no orphan keeps writing) and the rerun finishes."""
    out = tmp_path / "out"
    cmd = command(dump, out, "--workers", "2", "detect.threads=1")
    workers = kill_when(cmd, out, count_markers("write", 2))
    assert len(workers) >= 2
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in workers), "worker processes outlived the killed run"
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    assert shard_files(out) == reference


def test_ctrl_c_stops_the_run_and_its_workers_at_once(dump, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        command(dump, out, "--workers", "2"), start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not count_markers("decode", 1)(out):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.005)
    workers = [int(p) for p in subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                                              text=True).stdout.split()]
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, errors = process.communicate(timeout=20)
    assert process.returncode == 130 and "run the same command again" in errors
    time.sleep(0.5)
    assert not any(alive(pid) for pid in workers)
