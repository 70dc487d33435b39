"""Optional regularizers against collapse: MSN's mean-entropy maximisation and DINOv2's KoLeo."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from training.loss.distributed import all_reduce_mean


def me_max(student_probs: torch.Tensor) -> torch.Tensor:
    """log K - H(mean_b p_s(b)): 0 when the batch spreads evenly over the K prototypes, log K when all samples pick
    the same one. The mean is over the global batch (all ranks), as in MSN."""
    mean_probs = all_reduce_mean(student_probs.float().mean(dim=0))
    entropy = -(mean_probs * torch.log(mean_probs.clamp_min(1e-12))).sum()
    return math.log(student_probs.shape[-1]) - entropy


def koleo(features: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Kozachenko-Leonenko entropy estimate term: -mean_i log ||x_i - x_nn(i)|| over L2-normalised rows (local batch).

    Low when features spread out; rises sharply when two samples share a point.
    """
    x = F.normalize(features.float(), dim=-1, p=2, eps=eps)
    with torch.no_grad():
        similarity = x @ x.t()
        similarity.fill_diagonal_(-2.0)  # never pick oneself; cosine similarity is >= -1
        nearest = similarity.argmax(dim=1)
    distances = F.pairwise_distance(x, x[nearest], p=2, eps=eps)
    return -torch.log(distances + eps).mean()
