"""Collapse monitors (DINO section 5.3; MSN): cheap statistics of one batch, detached, for logging.

Uniform collapse shows as teacher entropy near log K with KL(teacher || student) near 0; dominant-prototype
collapse as entropy near 0, KL near 0 and ``prototypes_used`` near 1; feature collapse as a feature standard
deviation near 0 (a healthy spread on the unit sphere gives about 1 / sqrt(D)).
"""

from __future__ import annotations

import torch

from training.loss.distributed import all_reduce_


@torch.no_grad()
def mean_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean over rows of H(p) = -sum_k p log p (nats)."""
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(dim=-1).mean()


@torch.no_grad()
def prototypes_used(teacher_probs: torch.Tensor) -> torch.Tensor:
    """How many prototypes are the teacher's top choice for at least one sample of the global batch (all ranks)."""
    counts = torch.bincount(teacher_probs.argmax(dim=-1), minlength=teacher_probs.shape[-1])
    return (all_reduce_(counts) > 0).sum().float()


@torch.no_grad()
def feature_std(features: torch.Tensor) -> torch.Tensor:
    """Standard deviation over the batch of L2-normalised features, averaged over feature dimensions."""
    return features.float().std(dim=0).mean()
