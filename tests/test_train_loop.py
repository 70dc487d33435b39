"""A short CPU training run on generated shards: it learns, logs, checkpoints, and guards against NaN losses."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from train_helpers import shard_urls, tiny_config

from training.checkpoint import list_checkpoints, load_checkpoint
from training.loop import TrainingDiverged, train
from training.metrics import read_metrics


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_short_run_learns_without_collapse_and_writes_its_outputs(tmp_path: Path) -> None:
    urls = shard_urls(tmp_path / "shards")
    config = tiny_config("run.max_steps=24", "optim.base_lr=0.005", "loss.teacher_norm=sinkhorn",
                         "run.checkpoint_every=10", "run.keep_checkpoints=2")
    result = train(urls, tmp_path / "run", config)
    records = read_metrics(tmp_path / "run")
    assert [r["step"] for r in records] == list(range(1, 25))
    loss = [r["train/loss"] for r in records]
    assert mean(loss[-5:]) < mean(loss[:5]) - 0.2, loss
    last = records[-1]
    assert 0.5 < last["monitor/teacher_entropy"] < 0.95 * math.log(64)  # neither one-hot nor uniform
    assert last["monitor/prototypes_used"] >= 4
    assert last["monitor/feature_std"] > 0.02
    assert mean([r["monitor/kl_teacher_student"] for r in records[-5:]]) < mean(
        [r["monitor/kl_teacher_student"] for r in records[:5]])
    for key in ("train/lr", "train/momentum", "train/images_per_s", "train/data_wait_share", "loss/matching"):
        assert key in last
    run = tmp_path / "run"
    assert (run / "curves.png").stat().st_size > 10_000
    assert (run / "config.yaml").exists() and (run / "run_info.json").exists()
    assert [step for step, _ in list_checkpoints(run)] == [20, 24]  # step 10 pruned: keep 2
    checkpoint = load_checkpoint(result.checkpoint)  # weights_only=True
    assert checkpoint["step"] == 24 and set(checkpoint["model"]) >= {"student", "teacher", "prototypes"}
    assert checkpoint["data"]["samples_seen"] == 24 * 8


def test_schedules_freeze_and_weight_decay_groups(tmp_path: Path) -> None:
    # 32 samples / batch 8 = 4 steps per epoch: warm-up 0.5 epoch = 2 steps, prototypes frozen for 2 steps.
    urls = shard_urls(tmp_path / "shards")
    config = tiny_config("run.max_steps=4", "run.checkpoint_every=1", "run.keep_checkpoints=4",
                         "optim.freeze_prototypes_epochs=0.5", "optim.base_lr=0.004")
    train(urls, tmp_path / "run", config)
    states = {step: load_checkpoint(path) for step, path in list_checkpoints(tmp_path / "run")}
    proto = {step: s["model"]["prototypes"]["weight"] for step, s in states.items()}
    assert torch.equal(proto[1], proto[2])  # frozen during the first half epoch
    assert not torch.equal(proto[2], proto[3])
    student = {step: s["model"]["student"]["backbone.blocks.0.attn.qkv.weight"] for step, s in states.items()}
    assert not torch.equal(student[1], student[2])
    records = read_metrics(tmp_path / "run")
    assert records[2]["train/lr"] == pytest.approx(0.004 * 8 / 256)  # peak = base_lr * batch / 256
    groups = {g["name"]: g for g in states[4]["optimizer"]["param_groups"]}
    assert groups["no_decay"]["weight_decay"] == 0.0
    assert groups["decay"]["weight_decay"] > 0.04 and groups["prototypes"]["weight_decay"] > 0.04


def test_a_nan_loss_is_skipped_and_counted(tmp_path: Path) -> None:
    urls = shard_urls(tmp_path / "shards")
    config = tiny_config("run.max_steps=5", "run.inject_nan_steps=[3]", "data.face_aware=true")
    result = train(urls, tmp_path / "run", config)
    assert result.step == 5 and result.skipped_steps == 1
    records = read_metrics(tmp_path / "run")
    assert [r["train/skipped_steps"] for r in records] == [0, 0, 1, 1, 1]
    state = load_checkpoint(result.checkpoint)
    assert all(torch.isfinite(t).all() for part in state["model"].values() for t in part.values())


def test_consecutive_nan_losses_stop_the_run_with_a_valid_checkpoint(tmp_path: Path) -> None:
    urls = shard_urls(tmp_path / "shards")
    config = tiny_config("run.max_steps=20", "run.inject_nan_steps=[4, 5, 6]", "run.max_bad_steps=3")
    with pytest.raises(TrainingDiverged, match=r"3 consecutive steps had a NaN/inf loss \(step 6\)") as caught:
        train(urls, tmp_path / "run", config)
    assert "step_000000006.pt" in str(caught.value) and "optim.base_lr" in str(caught.value)
    state = load_checkpoint(list_checkpoints(tmp_path / "run")[-1][1])
    assert state["step"] == 6 and state["counters"]["skipped_steps"] == 3
    assert all(torch.isfinite(t).all() for part in state["model"].values() for t in part.values())


def test_presets_load_and_the_cli_names_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pros.cli import app
    from training.config import load_train_config, preset_names

    assert preset_names() == ["dino", "tiny-cpu", "vit-b16", "vit-s16"]
    assert load_train_config(preset="dino").loss.kind == "dino"
    runner = CliRunner()
    cases = {
        ("train", str(tmp_path / "missing.tar"), "--out", str(tmp_path / "r")): "missing.tar does not exist",
        ("train", str(tmp_path), "--out", str(tmp_path / "r"), "--preset", "huge"): "unknown preset 'huge'",
        ("train", str(tmp_path), "--out", str(tmp_path / "r"), "optim.base_rate=1"): "Did you mean 'optim.base_lr'",
        ("train", str(tmp_path), "--out", str(tmp_path / "r"), "data.global_size=48"): "model.img_size=224",
    }
    for args, message in cases.items():
        result = runner.invoke(app, list(args))
        assert result.exit_code == 2 and message in result.output, (args, result.output)


def test_data_workers_are_gone_when_train_returns(tmp_path: Path) -> None:
    """Workers ignore SIGTERM, so any left behind would hang the interpreter's exit (seen in the demo)."""
    import multiprocessing

    urls = shard_urls(tmp_path / "shards")
    train(urls, tmp_path / "run", tiny_config("run.max_steps=2", "data.num_workers=2"))
    assert multiprocessing.active_children() == []


def test_run_picks_precision_and_threads_from_the_machine_and_logs_them(tmp_path: Path, monkeypatch, caplog) -> None:
    from core import hardware

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(hardware, "cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(hardware, "usable_cores", lambda: 3)
    urls = shard_urls(tmp_path / "shards")
    config = tiny_config("run.max_steps=1", "run.precision=auto", "run.num_threads=0", "data.num_workers=1")
    previous = torch.get_num_threads()
    try:
        with caplog.at_level("INFO", logger="training.loop"):
            train(urls, tmp_path / "run", config)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(previous)
    assert "precision fp32 (cpu: no native bf16), 3 (usable cores) threads, 1 data workers" in caplog.text
