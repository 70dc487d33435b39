"""AdamW over the task's parameter groups and the per-step schedules (lr, weight decay, teacher momentum,
teacher temperature), plus the first-epoch prototype freeze.

The learning rate follows the linear scaling rule: peak lr = base_lr * global batch / 256 (Goyal et al. 2017; as
in DINO). Groups built with weight decay 0 (biases, norms) stay at 0 whatever the weight-decay schedule says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from training.config import OptimConfig
from training.model.config import LossConfig
from training.schedules import cosine_schedule, teacher_temp_schedule


@dataclass(frozen=True)
class StepValues:
    lr: float
    weight_decay: float
    momentum: float
    teacher_temp: float


@dataclass(frozen=True)
class RunLength:
    """How many steps the run's schedules span and how many steps make an epoch."""

    total_steps: int
    steps_per_epoch: int
    global_batch: int

    def steps(self, epochs: float) -> int:
        return min(self.total_steps, int(round(epochs * self.steps_per_epoch)))


def run_length(samples_per_epoch: int, global_batch: int, epochs: float, max_steps: int | None) -> RunLength:
    """One epoch = ceil(samples / global batch) steps; ``max_steps``, when given, is the schedule length."""
    steps_per_epoch = max(1, math.ceil(samples_per_epoch / global_batch))
    total = max_steps if max_steps is not None else max(1, int(round(epochs * steps_per_epoch)))
    return RunLength(total_steps=total, steps_per_epoch=steps_per_epoch, global_batch=global_batch)


class Schedules:
    """Per-step values of every schedule, precomputed over the run (a few MB even for a million steps)."""

    def __init__(self, optim: OptimConfig, loss: LossConfig, length: RunLength) -> None:
        total = length.total_steps
        peak_lr = optim.base_lr * length.global_batch / 256
        warmup = min(length.steps(optim.warmup_epochs), total - 1)
        self.lr = cosine_schedule(peak_lr, optim.min_lr, total, warmup, 0.0)
        self.weight_decay = cosine_schedule(optim.weight_decay, optim.weight_decay_end, total, 0, 0.0)
        self.momentum = cosine_schedule(optim.momentum_teacher, optim.momentum_teacher_end, total, 0, 0.0)
        self.teacher_temp = teacher_temp_schedule(loss, total)
        self.freeze_prototypes_steps = length.steps(optim.freeze_prototypes_epochs)
        self.total_steps = total

    def at(self, step: int) -> StepValues:
        """Values for the step with 0-based index ``step`` (clamped to the last one)."""
        i = min(max(step, 0), self.total_steps - 1)
        return StepValues(
            lr=float(self.lr[i]), weight_decay=float(self.weight_decay[i]),
            momentum=float(self.momentum[i]), teacher_temp=float(self.teacher_temp[i]),
        )

    def prototypes_frozen(self, step: int) -> bool:
        return step < self.freeze_prototypes_steps


def build_optimizer(groups: Sequence[dict], optim: OptimConfig) -> torch.optim.AdamW:
    """AdamW over ``groups`` (from ``ProSTask.parameter_groups``); each group remembers whether it decays."""
    marked = [{**group, "decays": group.get("weight_decay", 0.0) > 0} for group in groups]
    return torch.optim.AdamW(marked, lr=0.0, betas=optim.betas, weight_decay=0.0)


def apply_step_values(optimizer: torch.optim.Optimizer, values: StepValues) -> None:
    for group in optimizer.param_groups:
        group["lr"] = values.lr
        group["weight_decay"] = values.weight_decay if group["decays"] else 0.0


def drop_prototype_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Freeze the prototypes for this step: no gradient means AdamW neither moves nor decays them."""
    for group in optimizer.param_groups:
        if group.get("name") == "prototypes":
            for parameter in group["params"]:
                parameter.grad = None


def clip_gradients(parameters: Sequence[torch.Tensor], max_norm: float) -> float:
    """Clip the global gradient norm to ``max_norm`` (0: no clipping) and return the norm before clipping."""
    with_grad = [p for p in parameters if p.grad is not None]
    if not with_grad:
        return 0.0
    if max_norm > 0:
        norm = torch.nn.utils.clip_grad_norm_(with_grad, max_norm)
    else:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in with_grad]))
    return float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
