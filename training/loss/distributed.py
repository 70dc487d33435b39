"""Small torch.distributed helpers for the losses; every one is the identity when no process group is running."""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_(tensor: torch.Tensor, op: dist.ReduceOp.RedOpType = dist.ReduceOp.SUM) -> torch.Tensor:
    """In-place all-reduce (no gradient); returns ``tensor``."""
    if is_distributed():
        dist.all_reduce(tensor, op=op)
    return tensor


class _AllReduceMean(torch.autograd.Function):
    """Mean over ranks whose backward is also the mean over ranks of the incoming gradients.

    Every rank computes the same global term from the reduced value; averaging the gradients here makes DDP's
    own gradient averaging yield exactly the gradient of that global term.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        reduced = tensor.clone()
        dist.all_reduce(reduced)
        return reduced / dist.get_world_size()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        reduced = grad.contiguous().clone()
        dist.all_reduce(reduced)
        return reduced / dist.get_world_size()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Differentiable mean over ranks (the tensor itself on one process)."""
    return _AllReduceMean.apply(tensor) if is_distributed() else tensor
