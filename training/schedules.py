"""Per-step schedules (DINO's recipe): cosine decay after a linear warm-up, for the learning rate, the weight decay
(0.04 -> 0.4), the teacher momentum (0.996 -> 1); and the teacher temperature's linear warm-up (0.04 -> 0.07).

Every schedule is a float64 numpy array with one value per optimizer step, indexed by the global step, so resuming
at step k reads entry k: no schedule state needs checkpointing beyond the step itself.
"""

from __future__ import annotations

import math

import numpy as np

from training.model.config import LossConfig


def cosine_schedule(
    base: float, final: float, total_steps: int, warmup_steps: int = 0, start_warmup: float = 0.0
) -> np.ndarray:
    """``total_steps`` values: linear from ``start_warmup`` (step 0) towards ``base`` over ``warmup_steps`` steps,
    then half a cosine from ``base`` (step ``warmup_steps``) to exactly ``final`` (the last step).

    With ``base > final`` it decreases monotonically after warm-up (lr); with ``base < final`` it increases
    (weight decay 0.04 -> 0.4, teacher momentum 0.996 -> 1). DINO's version stops one step short of ``final``;
    ours ends on it (a cosine part of a single step holds ``base``).
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}")
    warmup = start_warmup + (base - start_warmup) * np.arange(warmup_steps) / max(warmup_steps, 1)
    cosine_steps = total_steps - warmup_steps
    progress = np.arange(cosine_steps) / max(cosine_steps - 1, 1)
    cosine = final + 0.5 * (base - final) * (1.0 + np.cos(math.pi * progress))
    return np.concatenate([warmup, cosine]).astype(np.float64)


def linear_warmup_then_constant(start: float, end: float, total_steps: int, warmup_steps: int) -> np.ndarray:
    """``total_steps`` values rising linearly from ``start`` (step 0) to ``end`` (step ``warmup_steps``), then ``end``."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    steps = np.arange(total_steps, dtype=np.float64)
    fraction = np.minimum(steps / warmup_steps, 1.0) if warmup_steps > 0 else np.ones(total_steps)
    return start + (end - start) * fraction


def teacher_temp_schedule(loss: LossConfig, total_steps: int) -> np.ndarray:
    """tau_t per step: ``warmup_teacher_temp`` -> ``teacher_temp`` over ``teacher_temp_warmup_fraction`` of the run."""
    warmup_steps = round(loss.teacher_temp_warmup_fraction * total_steps)
    return linear_warmup_then_constant(loss.warmup_teacher_temp, loss.teacher_temp, total_steps, warmup_steps)
