"""Sinkhorn-Knopp normalisation of teacher logits (SwAV, DINOv2): soft assignments whose prototype marginal is
uniform over the global batch and whose sample marginal is one per sample."""

from __future__ import annotations

import torch
import torch.distributed as dist

from training.loss.distributed import all_reduce_, world_size


@torch.no_grad()
def sinkhorn_knopp(teacher_logits: torch.Tensor, teacher_temp: float, iterations: int = 3) -> torch.Tensor:
    """Assignments Q [B, K] from logits [B, K]: each row (sample) sums to exactly 1, and each column (prototype)
    sums, over all ranks, to about B_global / K (exact after a prototype step; the last step is a sample step).

    Runs in float32; the logits are shifted by their global maximum first so exp cannot overflow (a constant factor
    that the first normalisation removes).
    """
    logits = teacher_logits.float() / teacher_temp
    peak = all_reduce_(logits.max().reshape(1), op=dist.ReduceOp.MAX)
    q = torch.exp(logits - peak).t()  # [K, B]
    num_prototypes, local_batch = q.shape
    global_batch = local_batch * world_size()
    q /= all_reduce_(q.sum().reshape(1))
    for _ in range(iterations):
        q /= all_reduce_(q.sum(dim=1, keepdim=True))  # each prototype gets total mass 1 / K ...
        q /= num_prototypes
        q /= q.sum(dim=0, keepdim=True)  # ... and each sample total mass 1 / B
        q /= global_batch
    return (q * global_batch).t()
