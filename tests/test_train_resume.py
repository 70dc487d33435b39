"""Kill-and-resume: SIGKILL a `pros train` process, rerun the same command, and it continues where it stopped."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from train_helpers import TINY, shard_urls, tiny_config

from core.errors import UserError
from training.checkpoint import list_checkpoints, load_checkpoint
from training.data.dataset import MultiCropStream
from training.loop import train
from training.metrics import read_metrics

REPO = Path(__file__).resolve().parents[1]


def trace_by_step(run: Path) -> dict[int, list[str]]:
    """Keys of each step (the resumed run drops records past its checkpoint; the last record of a step wins)."""
    steps = {}
    for line in (run / "data_trace.jsonl").read_text().splitlines():
        record = json.loads(line)
        steps[record["step"]] = record["keys"]
    return steps


@pytest.mark.slow  # two subprocess runs; still run by default
def test_sigkill_then_same_command_resumes_at_the_checkpoint_with_the_stream_advanced(tmp_path: Path) -> None:
    urls = shard_urls(tmp_path / "shards")
    run = tmp_path / "run"
    command = [sys.executable, "-m", "pros", "train", str(tmp_path / "shards"), "--out", str(run), "--max-steps", "12",
               *TINY, "run.checkpoint_every=4", "run.trace_keys=true"]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not any(step >= 4 for step, _ in list_checkpoints(run)):
        assert first.poll() is None, first.stdout.read().decode()
        assert time.time() < deadline, "no checkpoint at step 4 within 120 s"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = list_checkpoints(run)[-1][0]
    assert killed_at < 12

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"from step {killed_at}" in second.stdout + second.stderr
    assert [r["step"] for r in read_metrics(run)] == list(range(1, 13))
    final = load_checkpoint(list_checkpoints(run)[-1][1])
    assert final["step"] == 12 and final["data"]["samples_seen"] == 12 * 8

    config = tiny_config()
    trace = trace_by_step(run)
    fresh = [key for _, key, _ in itertools.islice(iter(MultiCropStream(urls, config.data, 0, 0)), 8)]
    advanced = [key for _, key, _ in itertools.islice(iter(MultiCropStream(urls, config.data, 0, killed_at)), 8)]
    assert trace[1] == fresh
    assert trace[killed_at + 1] == advanced != fresh  # the resumed stream moved on, it did not restart


def test_resume_refuses_another_model_and_an_explicit_no_resume(tmp_path: Path) -> None:
    urls = shard_urls(tmp_path / "shards", n_shards=1, per_shard=8)
    train(urls, tmp_path / "run", tiny_config("run.max_steps=1"))
    with pytest.raises(UserError, match="another model config"):
        train(urls, tmp_path / "run", tiny_config("run.max_steps=2", "model.num_prototypes=32"))
    with pytest.raises(UserError, match="run.resume=false"):
        train(urls, tmp_path / "run", tiny_config("run.max_steps=2", "run.resume=false"))
    result = train(urls, tmp_path / "run", tiny_config("run.max_steps=2"))
    assert result.step == 2 and [r["step"] for r in read_metrics(tmp_path / "run")] == [1, 2]


def test_sigterm_checkpoints_the_current_step_and_exits_cleanly(tmp_path: Path) -> None:
    shard_urls(tmp_path / "shards")
    run = tmp_path / "run"
    command = [sys.executable, "-m", "pros", "train", str(tmp_path / "shards"), "--out", str(run),
               "--max-steps", "400", *TINY, "run.checkpoint_every=1000"]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while len(read_metrics(run)) < 2:
        assert process.poll() is None and time.time() < deadline, "the run did not reach step 2"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "stopped by SIGTERM" in output and "Run the same command again" in output
    stopped_at = read_metrics(run)[-1]["step"]
    assert stopped_at < 400 and [step for step, _ in list_checkpoints(run)] == [stopped_at]
