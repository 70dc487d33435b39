"""Two CPU processes under torchrun (gloo): the run completes, rank 0 alone writes metrics and checkpoints."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from train_helpers import TINY, shard_urls

from training.checkpoint import list_checkpoints, load_checkpoint
from training.metrics import read_metrics

REPO = Path(__file__).resolve().parents[1]


def torchrun(shards: Path, run: Path, steps: int, *overrides: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "pros", "train", str(shards), "--out", str(run), "--max-steps", str(steps), *TINY, *overrides,
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow  # two torchrun launches of two processes each; still run by default
def test_two_process_gloo_run_completes_with_one_metrics_file(tmp_path: Path) -> None:
    shard_urls(tmp_path / "shards", n_shards=4, per_shard=8)
    run = tmp_path / "run"
    done = torchrun(tmp_path / "shards", run, 2, "run.precision=bf16")
    output = done.stdout + done.stderr
    assert "rank 0 of 2" in output and "rank 1 of 2" not in output  # rank 1 logs warnings only
    # The same run goes on under FSDP2: a DDP checkpoint resumes under another strategy.
    done = torchrun(tmp_path / "shards", run, 4, "run.precision=bf16", "run.strategy=fsdp")
    assert "from step 2" in done.stdout + done.stderr
    assert sorted(p.name for p in run.iterdir() if p.suffix == ".jsonl") == ["metrics.jsonl"]
    records = read_metrics(run)
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert all(r["train/loss"] == r["train/loss"] for r in records)  # finite, not NaN
    final = load_checkpoint(list_checkpoints(run)[-1][1])
    assert final["world_size"] == 2 and len(final["rng"]) == 2
    checkpoint_2 = load_checkpoint(list_checkpoints(run)[-2][1])
    first, second = checkpoint_2["teacher_checksums"]  # written under DDP
    assert first == second  # both ranks hold the same teacher: same init, synced student, same EMA
    assert final["data"]["samples_seen"] == 4 * 8 * 2  # global batch = 8 per process x 2
    assert not any(key.startswith("module.") for key in final["model"]["student"])
