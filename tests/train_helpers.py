"""Shared pieces of the training tests: a tiny config and generated shards (imported by tests and subprocesses)."""

from __future__ import annotations

from pathlib import Path

from conftest import write_shard_dir

from training.config import TrainConfig, load_train_config

TINY = [
    "model.arch=vit_tiny_cpu", "model.img_size=32", "model.patch_size=16", "model.drop_path=0.0",
    "model.head_hidden=64", "model.head_layers=2", "model.bottleneck=32", "model.num_prototypes=64",
    "data.global_size=32", "data.local_size=16", "data.num_local=2", "data.batch_size=8", "data.num_workers=0",
    "data.shuffle_buffer=16", "run.precision=fp32", "run.log_every=1", "run.num_threads=1", "optim.warmup_epochs=0.5",
]


def tiny_config(*overrides: str) -> TrainConfig:
    return load_train_config(overrides=[*TINY, *overrides])


def shard_urls(directory: Path, n_shards: int = 2, per_shard: int = 16) -> list[str]:
    write_shard_dir(directory, n_shards, per_shard)
    return [str(p) for p in sorted(directory.glob("*.tar"))]
