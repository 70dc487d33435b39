"""What a checkpoint holds and how a run is put back: model (student, teacher, prototypes, center), optimizer,
step, data position and every rank's RNG states.

Model and optimizer go through ``torch.distributed.checkpoint.state_dict`` with full (unsharded) state dicts keyed
by parameter names, so one checkpoint resumes under DDP, FSDP2 or a single process, at any world size.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

from training.checkpoint import join_state, rng_state, set_rng_state, split_state
from training.distributed import DistEnv, all_gather_objects

log = logging.getLogger(__name__)

FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


@dataclass
class DataPosition:
    """Where the data stream stands: samples consumed over the whole run and the step its current segment began."""

    samples_seen: int = 0
    segment_start_step: int = 0
    skipped_samples: int = 0


@dataclass
class Counters:
    skipped_steps: int = 0  # steps whose loss was NaN/inf (never applied)


def model_state(task: nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    return split_state(get_model_state_dict(task, options=FULL))


def capture(
    task: nn.Module, optimizer: torch.optim.Optimizer, step: int, data: DataPosition, counters: Counters,
    env: DistEnv, config_hash: str,
) -> dict[str, Any]:
    """The checkpoint payload; a collective call (every rank must enter it), meaningful on rank 0."""
    model = model_state(task)
    optim = get_optimizer_state_dict(task, optimizer, options=FULL)
    rngs = all_gather_objects(rng_state(), env)
    checksums = all_gather_objects(teacher_checksum(task), env)
    if None not in checksums and len(set(checksums)) > 1:
        log.error("the teacher differs between ranks (checksums %s): the ranks are out of sync", checksums)
    return {
        "teacher_checksums": checksums,
        "model": model,
        "optimizer": optim,
        "data": asdict(data),
        "counters": asdict(counters),
        "rng": rngs,
        "world_size": env.world_size,
        "config_hash": config_hash,
    }


def teacher_checksum(task: nn.Module) -> float | None:
    """Sum of the teacher's parameters: equal on every rank when the ranks are in sync (None when sharded)."""
    if any(hasattr(p, "full_tensor") for p in task.teacher.parameters()):
        return None
    with torch.no_grad():
        return float(sum(p.detach().double().sum().item() for p in task.teacher.parameters()))


def all_finite(model: dict[str, dict[str, torch.Tensor]]) -> bool:
    return all(
        bool(torch.isfinite(t).all()) for part in model.values() for t in part.values() if t.is_floating_point()
    )


def restore_model(task: nn.Module, checkpoint: dict[str, Any]) -> None:
    set_model_state_dict(task, join_state(checkpoint["model"]), options=StateDictOptions(full_state_dict=True))


def restore_optimizer(task: nn.Module, optimizer: torch.optim.Optimizer, checkpoint: dict[str, Any]) -> None:
    # strict=False: parameters that never got a gradient (prototypes still frozen) have no AdamW state yet.
    options = StateDictOptions(full_state_dict=True, strict=False)
    set_optimizer_state_dict(task, optimizer, checkpoint["optimizer"], options=options)


def restore_rng(checkpoint: dict[str, Any], env: DistEnv, seed: int) -> None:
    """This rank's saved RNG states; at another world size every rank reseeds from (seed, rank, step) instead."""
    states = checkpoint.get("rng") or []
    if checkpoint.get("world_size") == env.world_size and env.rank < len(states):
        set_rng_state(states[env.rank])
        return
    log.info("world size changed (%s -> %d): reseeding RNGs from the step",
             checkpoint.get("world_size"), env.world_size)
    seed_everything(seed, env.rank, checkpoint["step"])


def seed_everything(seed: int, rank: int, step: int = 0) -> None:
    import random

    import numpy as np

    value = (seed * 1_000_003 + rank * 7919 + step) % 2**31
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
