"""Training on data that never comes: garbage shards, empty shards, stalls, SIGTERM while waiting, orphaned workers,
rate-limited warnings, and the output / checkpoint paths of train and export. Every test has a timeout."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import build_samples
from train_helpers import shard_urls, tiny_config

from core.config import dump_yaml
from core.errors import UserError
from shards import write_shard, write_sizes
from shards.reader import ShardReader
from shards.stall import DataStalled, StallGuard
from training.data.waiting import DataStallError, stall_reason
from training.export import export_run
from training.loop import train

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def garbage_shards(folder: Path, count: int = 1) -> list[str]:
    """``count`` shards of random bytes, with a sizes.json that claims 4 samples each."""
    folder.mkdir(parents=True, exist_ok=True)
    urls = []
    for index in range(count):
        path = folder / f"{index:05d}.tar"
        path.write_bytes(os.urandom(4096 + index))
        urls.append(str(path))
    (folder / "sizes.json").write_text(json.dumps({Path(u).name: 4 for u in urls}))
    return urls


def jpg_less_shard(folder: Path) -> str:
    """A valid shard whose samples lack the jpg member: read again and again, never usable."""
    samples = build_samples(0, 4)
    for sample in samples:
        sample.members.pop("jpg")
    write_shard(folder, 0, samples)
    write_sizes(folder)
    return str(folder / "00000.tar")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("workers", [0, 1])
def test_garbage_shards_stop_the_run_with_a_message(tmp_path: Path, workers: int) -> None:
    urls = garbage_shards(tmp_path / "shards", 2)
    config = tiny_config("run.max_steps=3", f"data.num_workers={workers}")
    started = time.monotonic()
    with pytest.raises(DataStallError, match=r"every one of the 2 shard\(s\).*00000\.tar.*pros shards verify"):
        train(urls, tmp_path / "run", config)
    assert time.monotonic() - started < 45


@pytest.mark.timeout(60)
def test_samples_that_never_decode_stall_after_the_timeout(tmp_path: Path) -> None:
    config = tiny_config("run.max_steps=3", "data.stall_timeout_s=1")
    with pytest.raises(DataStallError, match=r"no usable sample for \d+ s \(data.stall_timeout_s=1\)"):
        train([jpg_less_shard(tmp_path / "broken")], tmp_path / "run", config)


def test_stall_guard_times_out_and_spots_every_shard_failing() -> None:
    now = [0.0]
    guard = StallGuard(["a.tar", "b.tar"], 10, clock=lambda: now[0])
    guard.shard_failed("a.tar", gave_samples=False)
    guard.shard_failed("a.tar", gave_samples=False)  # the same shard twice is not every shard
    now[0] = 9.0
    guard.check()
    now[0] = 10.5
    with pytest.raises(DataStalled, match="no usable sample for 10 s"):
        guard.check()
    guard.progress()
    guard.shard_failed("b.tar", gave_samples=False)  # both failed, but a sample came before: only the timeout
    with pytest.raises(DataStalled, match="every one of the 1 shard"):
        StallGuard(["a.tar"], None).shard_failed("a.tar", gave_samples=False)
    StallGuard(["a.tar"], 0).check()  # 0 never times out
    wrapped = "Caught DataStalled in worker.\nOriginal Traceback (most recent call last):\n  x\nshards.stall." \
              "DataStalled: every one of the 1 shard(s) a.tar failed"
    assert stall_reason(RuntimeError(wrapped)) == "every one of the 1 shard(s) a.tar failed"


@pytest.mark.timeout(60)
def test_empty_shards_are_refused_up_front(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    write_shard(folder, 0, [])
    write_sizes(folder)
    with pytest.raises(UserError, match="0 samples in the given shards"):
        train([str(folder / "00000.tar")], tmp_path / "run", tiny_config("run.max_steps=2"))
    assert not (tmp_path / "run").exists()


@pytest.mark.timeout(120)
def test_data_smaller_than_one_batch_warns_and_the_first_step_is_logged(tmp_path: Path, caplog) -> None:
    urls = shard_urls(tmp_path / "shards", n_shards=1, per_shard=3)
    with caplog.at_level(logging.INFO):
        result = train(urls, tmp_path / "run", tiny_config("run.max_steps=2", "run.log_every=5"))
    assert result.step == 2
    assert "fewer than one batch (data.batch_size=8" in caplog.text
    assert "step 1/2 done" in caplog.text


@pytest.mark.timeout(60)
def test_a_damaged_shard_is_warned_about_once_per_epoch_and_counts_its_lost_samples(tmp_path: Path, caplog) -> None:
    good = shard_urls(tmp_path / "shards", n_shards=1, per_shard=4)
    bad = garbage_shards(tmp_path / "bad")
    reader = ShardReader(good + bad, resampled=True, expected_counts={bad[0]: 4}, seed=3)
    drawn: list[str] = []
    draw = reader.shard_stream

    def recorded(rng):  # type: ignore[no-untyped-def]
        for url in draw(rng):
            drawn.append(url)
            yield url

    reader.shard_stream = recorded  # type: ignore[method-assign]
    stream = iter(reader)
    with caplog.at_level(logging.WARNING, logger="shards.reader"):
        for _ in range(60):
            next(stream)
    bad_draws = [i for i, url in enumerate(drawn) if url == bad[0]]
    epochs = {i // 2 for i in bad_draws}  # one consumer, 2 shards: an epoch is 2 draws
    warnings = caplog.text.count("skipping the rest of corrupt shard")
    assert reader.counts.corrupt_shards == len(bad_draws) > len(epochs)  # drawn twice in some epoch
    assert warnings == len(epochs) and reader.counts.lost_samples == 4 * len(epochs)


def start_trainer(shard: str, run: Path, workers: int) -> subprocess.Popen:
    """A 3-step tiny training on ``shard`` in a subprocess that never gives up waiting for data; it prints
    ``STOPPED <stopped_by> <step>`` when ``train`` returns. Output on its stdout, stderr merged."""
    script = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "from train_helpers import tiny_config\n"
        "from core.logs import setup_logging\n"
        "from training.loop import train\n"
        "setup_logging(False)\n"
        "r = train([sys.argv[3]], __import__('pathlib').Path(sys.argv[4]), "
        f"tiny_config('run.max_steps=3', 'data.stall_timeout_s=0', 'data.num_workers={workers}'))\n"
        "print('STOPPED', r.stopped_by, r.step, flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, str(TESTS), str(ROOT), shard, str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.timeout(180)  # the subprocess imports torch: 20 s on a loaded 2-core machine
def test_sigterm_stops_a_run_waiting_for_data(tmp_path: Path) -> None:
    shard = jpg_less_shard(tmp_path / "shards")  # read forever, never a usable sample
    proc = start_trainer(shard, tmp_path / "run", workers=1)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "training 3 steps" in line:
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "STOPPED SIGTERM 0" in text


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc to find the worker processes")
@pytest.mark.timeout(180)  # the subprocess imports torch: 20 s on a loaded 2-core machine
def test_data_workers_of_a_sigkilled_trainer_exit(tmp_path: Path) -> None:
    shard = jpg_less_shard(tmp_path / "shards")  # the workers spin on it, as on the empty shard
    proc = start_trainer(shard, tmp_path / "run", workers=2)
    workers: list[int] = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if "lacks" in line:  # the workers are reading
                break
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers
        proc.kill()
        proc.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not [w for w in workers if _alive(w)], "a data worker outlived its SIGKILLed trainer"
    finally:
        proc.kill()
        for worker in workers:  # never leave an orphan behind, even when the test fails
            if _alive(worker):
                os.kill(worker, signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
@pytest.mark.timeout(30)
def test_a_worker_dies_with_its_parent() -> None:
    script = (
        "import os, sys, time; sys.path.insert(0, sys.argv[1])\n"
        "from training.data.parent_watch import exit_with_parent\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    print(exit_with_parent(), os.getpid(), flush=True); time.sleep(60); os._exit(0)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script, str(ROOT)], stdout=subprocess.PIPE, text=True)
    how, pid = parent.stdout.readline().split()  # type: ignore[union-attr]
    assert how == "prctl"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(int(pid)):
        time.sleep(0.1)
    assert not _alive(int(pid)), "the orphaned worker outlived its parent"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited; only its reaping is left


@pytest.mark.timeout(60)
def test_train_and_export_refuse_an_output_path_that_is_a_file(tmp_path: Path) -> None:
    urls = shard_urls(tmp_path / "shards", n_shards=1, per_shard=4)
    (tmp_path / "taken").write_text("x")
    with pytest.raises(UserError, match=r"--out .*taken is an existing file"):
        train(urls, tmp_path / "taken", tiny_config("run.max_steps=1"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_yaml(tiny_config()))
    with pytest.raises(UserError, match=r"--out .*taken is an existing file"):
        export_run(run, tmp_path / "taken")


@pytest.mark.timeout(60)
def test_export_refuses_a_checkpoint_that_weights_only_loading_refuses(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_yaml(tiny_config()))
    pickled = tmp_path / "pickled.pt"
    torch.save({"step": 1, "model": {}, "payload": Path("/etc")}, pickled)  # a pickled object, not a tensor
    with pytest.raises(UserError, match=r"pickled\.pt does not load with torch\.load\(weights_only=True\)"):
        export_run(run, tmp_path / "out", checkpoint=pickled)
    with pytest.raises(UserError, match="is not a file"):
        export_run(run, tmp_path / "out", checkpoint=tmp_path / "missing.pt")


@pytest.mark.timeout(30)
def test_a_shard_member_claiming_gigabytes_is_refused_without_allocating(tmp_path: Path, caplog) -> None:
    import tarfile

    path = tmp_path / "00000.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("00000_0000000.jpg")
        info.size = 1 << 40  # a terabyte, claimed by the header only
        tar.addfile(info)
    reader = ShardReader([str(path)])
    with caplog.at_level(logging.WARNING, logger="shards.reader"):
        assert list(reader) == []
    assert reader.counts.corrupt_shards == 1 and "claims 1099511627776 bytes" in caplog.text


class _Asleep(torch.utils.data.IterableDataset):
    """A data worker stuck forever, as in a read from storage that never answers."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        time.sleep(120)
        yield torch.zeros(1)


@pytest.mark.timeout(60)
def test_a_worker_stuck_in_a_read_ends_the_wait_and_is_killed(tmp_path: Path) -> None:
    from training.config import DataConfig
    from training.data.dataset import make_loader, stop_workers
    from training.data.waiting import next_batch
    from training.stop_request import StopRequest

    loader = make_loader(_Asleep(), DataConfig(batch_size=1, num_workers=1, stall_timeout_s=1), pin_memory=False)
    iterator = iter(loader)
    workers = list(iterator._workers)
    with pytest.raises(DataStallError, match=r"timed out after 1(\.0)? seconds.*data.stall_timeout_s"):
        next_batch(iterator, StopRequest())
    stop_workers(iterator)  # it ignores SIGTERM: only a kill ends it
    assert not any(w.is_alive() for w in workers)
