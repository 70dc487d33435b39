"""``pros curate --executor ray``: the same shards as the local executor, resumable after the driver is killed, on a
local Ray instance (2 CPUs) with the real default detector and small real-photo-derived images."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_curate_resume import command, count_markers, markers, shard_files, write_dump
from typer.testing import CliRunner

from curation.config import load_curate_config
from curation.pipeline.executor import default_detector_factory
from curation.pipeline.manifest import read_manifests
from curation.pipeline.run import curate
from pros.errors import UserError
from shards.verify import verify_directory

ray = pytest.importorskip("ray")

UNITS = 6
PER_UNIT = 3
SETTINGS = ["detect.input_size=320", f"sources.files_per_unit={PER_UNIT}", "detect.batch_size=2"]


@pytest.fixture(scope="module")
def dump(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ray") / "dump"
    write_dump(folder, UNITS * PER_UNIT)
    return folder


@pytest.fixture(scope="module")
def local_out(dump: Path, tmp_path_factory) -> Path:
    """The local executor's output on the dump (in this process, one worker)."""
    out = tmp_path_factory.mktemp("local") / "out"
    curate([str(dump)], out, load_curate_config(None, SETTINGS))
    return out


@pytest.fixture(scope="class")
def local_ray():
    """A local Ray with 2 CPUs for the in-process tests, gone before the subprocess tests start their own."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=128 * 2**20,
             logging_level="WARNING")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # actors get the test's detector by value
    yield
    ray.shutdown()


class PoisonedDetector:
    """The real detector, except that it raises on a solid magenta image (a unit that fails in the middle)."""

    def __init__(self, detector_config) -> None:
        self.detector = default_detector_factory(detector_config)

    def detect(self, images):
        for rgb in images:
            if rgb[..., 0].min() > 250 and rgb[..., 1].max() < 5 and rgb[..., 2].min() > 250:
                raise RuntimeError("detector crashed on a magenta image")
        return self.detector.detect(images)


@pytest.mark.usefixtures("local_ray")
class TestOnLocalRay:
    def test_ray_executor_writes_the_local_executors_shards(self, dump, local_out, tmp_path):
        out = tmp_path / "out"
        config = load_curate_config(None, [*SETTINGS, "executor=ray"])
        result = curate([str(dump)], out, config)

        assert set(result.units_run) >= {"decode", "detect", "write"} and set(result.units_run.values()) == {UNITS}
        assert result.samples > 0 and result.inputs == UNITS * PER_UNIT
        assert shard_files(out) == shard_files(local_out)
        columns = ["key", "status", "reason", "n_kept_faces"]
        assert read_manifests(out / "manifest", columns).equals(read_manifests(local_out / "manifest", columns))
        assert verify_directory(out / "shards").ok
        assert ray.is_initialized(), "the executor must leave a Ray it did not start running"

        again = curate([str(dump)], out, config)
        assert again.nothing_to_do

    def test_a_failing_unit_is_reported_the_others_commit_and_a_rerun_finishes_it(self, dump, local_out, tmp_path):
        inputs = tmp_path / "inputs"
        shutil.copytree(dump, inputs)
        for n in range(PER_UNIT):  # sorted last: the 7th unit
            Image.fromarray(np.full((120, 160, 3), (255, 0, 255), np.uint8)).save(inputs / f"zz_magenta_{n}.png")
        out = tmp_path / "out"
        config = load_curate_config(None, [*SETTINGS, "executor=ray"])

        with pytest.raises(UserError, match=r"(?s)1 input unit\(s\) failed.*unit 6 .*detector crashed on a magenta"):
            curate([str(inputs)], out, config, detector_factory=PoisonedDetector)
        assert sorted(markers(out, "detect")) == [f"{u:05d}.json" for u in range(UNITS)]  # all but unit 6
        detected = markers(out, "detect")

        finished = curate([str(inputs)], out, config)
        assert finished.units_run["detect"] == 1
        assert all(markers(out, "detect")[name] == stamp for name, stamp in detected.items())
        assert len(markers(out, "write")) == UNITS + 1
        assert finished.inputs == (UNITS + 1) * PER_UNIT and finished.reasons.get("no_face", 0) >= PER_UNIT

    def test_actor_count_fits_the_cluster(self):
        from curation.pipeline.ray_executor import actor_count

        def settings(*overrides: str):
            return load_curate_config(None, list(overrides)).ray

        assert actor_count(settings(), units=10) == 2  # 2 CPUs, 1 onnxruntime thread per actor
        assert actor_count(settings(), units=1) == 1
        assert actor_count(settings("ray.actors=8"), units=10) == 4  # 2 CPUs / 0.5 per actor
        with pytest.raises(UserError, match="0 GPUs, too few for one actor"):
            actor_count(settings("ray.gpus_per_actor=0.25"), units=10)


# Ray's two helper agents wait up to 60 s (a fixed timeout inside Ray) for the dead GCS before they exit; they
# never touch the run's files. The test ends them itself rather than wait.
SLOW_TO_EXIT = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")


def session_processes(session: int) -> dict[int, str]:
    """Live (non-zombie) processes of a session, pid -> command: a driver and the Ray processes it started."""
    listing = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], check=True, capture_output=True, text=True).stdout
    found = {}
    for line in listing.splitlines():
        pid, sid, stat, args = (line.split(None, 3) + [""])[:4]
        if int(sid) == session and not stat.startswith("Z"):
            found[int(pid)] = args
    return found


def test_killed_ray_run_resumes_without_redoing_committed_units(dump, local_out, tmp_path):
    """SIGKILL the driver (the `pros curate --executor ray` process) mid-run: the actors writing units die with
    the local Ray it started, and the same command finishes the run, leaving committed units untouched."""
    out = tmp_path / "out"
    cmd = command(dump, out, "--executor", "ray")
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not count_markers("write", 2)(out):
            assert process.poll() is None, "the run ended before the kill point"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL, "the run ended before it could be killed"

        def lingering() -> list[str]:
            return [a for a in session_processes(process.pid).values() if not a.startswith(SLOW_TO_EXIT)]

        deadline = time.monotonic() + 20
        while lingering() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not lingering(), "Ray processes (actors writing units, raylet, GCS) outlived the killed driver"
        committed = markers(out, "write")  # after the actors died: one may have committed its unit meanwhile
        assert 2 <= len(committed) < UNITS
    finally:
        for pid in session_processes(process.pid):  # leave nothing running, whatever failed above
            os.kill(pid, signal.SIGKILL)

    finished = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert f"write   done {len(committed):>6}  to do {UNITS - len(committed):>6}" in finished.stderr
    after = markers(out, "write")
    assert all(after[name] == stamp for name, stamp in committed.items()), "a committed unit was written again"
    assert len(after) == UNITS
    assert shard_files(out) == shard_files(local_out)


def test_cli_executor_options_are_checked(dump, tmp_path):
    from pros.cli import app

    runner = CliRunner()
    mixed = runner.invoke(app, ["curate", str(dump), "--out", str(tmp_path / "a"), "--executor", "local",
                                "--ray-address", "auto"])
    assert mixed.exit_code != 0 and "--ray-address auto is for --executor ray" in mixed.output
    unknown = runner.invoke(app, ["curate", str(dump), "--out", str(tmp_path / "b"), "--executor", "spark"])
    assert unknown.exit_code != 0 and "'local', 'ray'" in unknown.output and "spark" in unknown.output
    assert not (tmp_path / "a" / "shards").exists() and not (tmp_path / "b" / "shards").exists()
    nobody = runner.invoke(app, ["curate", str(dump), "--out", str(tmp_path / "c"), "--ray-address", "127.0.0.1:1"])
    assert nobody.exit_code != 0 and "--ray-address '127.0.0.1:1': could not connect to the Ray cluster there" in nobody.output
    assert "ray start --head" in nobody.output
