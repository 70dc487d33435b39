"""``pros curate --executor ray``: the same shards as the local executor, resumable after the driver is killed, on a
local Ray instance (2 CPUs) with the real default detector and small real-photo-derived images; with retrieval off
(one phase per unit) and on (decode, embed and detect on the actors, the retrieval step on the driver, then writing on
the actors), on the retrieval tests' pool of real photos with planted near-copies."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_curate_resume import command, count_markers, markers, shard_files, write_dump
from test_curate_retrieval import SETTINGS as POOL_SETTINGS
from test_curate_retrieval import manifest_by_name, write_pool
from typer.testing import CliRunner

from core.errors import UserError
from curation.config import load_curate_config
from curation.pipeline.executor import default_detector_factory
from curation.pipeline.manifest import read_manifests
from curation.pipeline.run import curate
from shards.verify import verify_directory

ray = pytest.importorskip("ray")

UNITS = 6
PER_UNIT = 3
SETTINGS = ["retrieval.enabled=false", "detect.input_size=320", f"sources.files_per_unit={PER_UNIT}",
            "detect.batch_size=2"]
# The retrieval pool: 8 photos in 4 units of 2, so near-copies of one photo sit in different units (on different
# actors) and only the global step on the driver can find them.
POOL_UNITS = 4
RETRIEVAL = [*POOL_SETTINGS, "retrieval.enabled=true", "sources.files_per_unit=2", "detect.batch_size=2"]


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


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("ray_retrieval") / "pool"
    write_pool(folder)
    return folder


@pytest.fixture(scope="module")
def local_retrieval_out(pool: Path, tmp_path_factory) -> Path:
    """The local executor's output on the pool with retrieval on."""
    out = tmp_path_factory.mktemp("local_retrieval") / "out"
    curate([str(pool)], out, load_curate_config(None, RETRIEVAL))
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

        assert result.units_run == {"decode": UNITS, "detect": UNITS, "write": UNITS}
        assert result.samples > 0 and result.inputs == UNITS * PER_UNIT
        assert shard_files(out) == shard_files(local_out)
        columns = ["key", "status", "reason", "n_kept_faces"]
        assert read_manifests(out / "manifest", columns).equals(read_manifests(local_out / "manifest", columns))
        assert verify_directory(out / "shards").ok
        assert ray.is_initialized(), "the executor must leave a Ray it did not start running"

        again = curate([str(dump)], out, config)
        assert again.nothing_to_do

    def test_ray_executor_with_retrieval_writes_the_local_executors_shards_and_decisions(self, pool,
                                                                                          local_retrieval_out,
                                                                                          tmp_path):
        out = tmp_path / "out"
        config = load_curate_config(None, [*RETRIEVAL, "executor=ray"])
        result = curate([str(pool)], out, config)

        assert result.units_run == dict.fromkeys(("decode", "detect", "embed", "write"), POOL_UNITS)
        assert shard_files(out) == shard_files(local_retrieval_out)
        assert read_manifests(out / "manifest").equals(read_manifests(local_retrieval_out / "manifest"))
        rows = manifest_by_name(out)  # the pool really went through retrieval:
        duplicates = {name for name, row in rows.items() if row["reason"] == "duplicate"}
        assert len(duplicates) == 3 and "astronaut_cropped.png" in duplicates  # planted copies, across units
        assert rows["hanks.png"]["status"] == "kept" and rows["hanks.png"]["decision"] == "retrieved"
        assert rows["hanks.png"]["seed_key"] and rows["t1.png"]["decision"] == "seed"
        for part in ("embeddings/img_emb/img_emb_00003.npy", "embeddings/metadata/metadata_00003.parquet",
                     "index/pool.faiss"):
            assert (out / part).read_bytes() == (local_retrieval_out / part).read_bytes(), part
        assert verify_directory(out / "shards").ok

        again = curate([str(pool)], out, config)
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

    def test_actors_embed_with_their_own_cpus_not_every_core_of_the_node(self):
        """Left to cores / workers, every actor of a node would start one embedder thread per core of the node."""
        from curation.pipeline.ray_executor import actor_config

        def embed_threads(*overrides: str) -> int:
            return actor_config(load_curate_config(None, ["retrieval.enabled=true", *overrides])).retrieval.embed.threads

        assert embed_threads() == 1  # ray.cpus_per_actor=0.5
        assert embed_threads("ray.cpus_per_actor=4") == 4
        assert embed_threads("ray.cpus_per_actor=4", "retrieval.embed.threads=3") == 3


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


def kill_ray_driver_when(cmd: list[str], out: Path, condition: Callable[[Path], bool]) -> None:
    """Start ``cmd`` (a `pros curate --executor ray` driver) in its own session, SIGKILL it once ``condition(out)``
    holds, and return once the local Ray it started (the actors running units among it) has died with it."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not condition(out):
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
        assert not lingering(), "Ray processes (actors running units, raylet, GCS) outlived the killed driver"
    finally:
        for pid in session_processes(process.pid):  # leave nothing running, whatever failed above
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_killed_ray_run_resumes_without_redoing_committed_units(dump, local_out, tmp_path):
    """SIGKILL the driver (the `pros curate --executor ray` process) mid-run: the actors writing units die with
    the local Ray it started, and the same command finishes the run, leaving committed units untouched."""
    out = tmp_path / "out"
    cmd = command(dump, out, "--executor", "ray", "retrieval.enabled=false")
    kill_ray_driver_when(cmd, out, count_markers("write", 2))
    committed = markers(out, "write")  # after the actors died: one may have committed its unit meanwhile
    assert 2 <= len(committed) < UNITS

    finished = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert f"write   done {len(committed):>6}  to do {UNITS - len(committed):>6}" in finished.stderr
    after = markers(out, "write")
    assert all(after[name] == stamp for name, stamp in committed.items()), "a committed unit was written again"
    assert len(after) == UNITS
    assert shard_files(out) == shard_files(local_out)


def test_ray_run_with_retrieval_killed_before_the_step_resumes_to_the_local_executors_shards(
        pool, local_retrieval_out, tmp_path):
    """SIGKILL the driver while the actors run the first phase (decode, embed, detect): the same command runs only
    the units left, then the retrieval step over the whole pool, and writes the local executor's shards."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pros", "curate", str(pool), "--out", str(out), "--executor", "ray", *RETRIEVAL]
    kill_ray_driver_when(cmd, out, count_markers("detect", 1))
    # Actors may finish units in the moment between the kill and their own end; usually some are left to detect,
    # and the retrieval step and all writing always are.
    detected, embedded = markers(out, "detect"), markers(out, "embed")
    assert 1 <= len(detected) <= POOL_UNITS and not markers(out, "write")

    finished = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert f"detect  done {len(detected):>6}  to do {POOL_UNITS - len(detected):>6}" in finished.stderr
    assert "retrieve (global step)  to do" in finished.stderr
    after = {stage: markers(out, stage) for stage in ("detect", "embed")}
    assert all(after["detect"][name] == stamp for name, stamp in detected.items()), "a unit was detected again"
    assert all(after["embed"][name] == stamp for name, stamp in embedded.items()), "a unit was embedded again"
    assert shard_files(out) == shard_files(local_retrieval_out)
    assert read_manifests(out / "manifest").equals(read_manifests(local_retrieval_out / "manifest"))
    assert manifest_by_name(out)["hanks.png"]["decision"] == "retrieved"


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
