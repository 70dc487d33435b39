"""DINO's teacher centering: subtract an EMA of the batch-mean teacher logits before the sharpened softmax."""

from __future__ import annotations

import torch
from torch import nn

from training.loss.distributed import all_reduce_, world_size


class Center(nn.Module):
    """Holds the center (a buffer, so it is checkpointed with the task) and applies/updates it."""

    def __init__(self, num_prototypes: int, momentum: float = 0.9) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("center", torch.zeros(1, num_prototypes))

    def probabilities(self, teacher_logits: torch.Tensor, teacher_temp: float) -> torch.Tensor:
        """softmax((logits - center) / tau_t) over prototypes, in float32."""
        return torch.softmax((teacher_logits.float() - self.center) / teacher_temp, dim=-1)

    @torch.no_grad()
    def update(self, teacher_logits: torch.Tensor) -> None:
        """center <- m * center + (1 - m) * mean of the logits over the global batch (all ranks)."""
        batch_sum = all_reduce_(teacher_logits.float().sum(dim=0, keepdim=True))
        batch_center = batch_sum / (teacher_logits.shape[0] * world_size())
        self.center.mul_(self.momentum).add_(batch_center, alpha=1 - self.momentum)
