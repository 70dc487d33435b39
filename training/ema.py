"""Teacher EMA: teacher <- m * teacher + (1 - m) * student, as two fused multi-tensor calls (as in DINOv2)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


@torch.no_grad()
def ema_update_(teacher: Sequence[torch.Tensor], student: Sequence[torch.Tensor], momentum: float) -> None:
    """Update ``teacher`` tensors in place; ``student`` tensors are read only. Both lists pair up in order."""
    if len(teacher) != len(student):
        raise ValueError(f"EMA needs matching parameter lists, got {len(teacher)} teacher and {len(student)} student")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    teacher = list(teacher)
    torch._foreach_mul_(teacher, momentum)
    torch._foreach_add_(teacher, [p.detach() for p in student], alpha=1.0 - momentum)
