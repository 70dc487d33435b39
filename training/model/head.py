"""The projection head g: an MLP ending in a bottleneck whose output is L2-normalised (DINO's head minus its last
layer, which lives in ``prototypes.py``)."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn


class ProjectionHead(nn.Module):
    """``layers`` linear layers (in -> hidden -> ... -> bottleneck) with GELU between; z = g(x) / ||g(x)||."""

    def __init__(self, in_dim: int, hidden: int = 2048, bottleneck: int = 256, layers: int = 3) -> None:
        super().__init__()
        widths = [in_dim] + [hidden] * (layers - 1) + [bottleneck]
        blocks: list[nn.Module] = []
        for index, (width_in, width_out) in enumerate(itertools.pairwise(widths)):
            blocks.append(nn.Linear(width_in, width_out))
            if index < layers - 1:
                blocks.append(nn.GELU())
        self.mlp = nn.Sequential(*blocks)
        self.apply(_init_linear)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.mlp(features), dim=-1, p=2)


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class StudentNetwork(nn.Module):
    """Backbone + head, run once per crop resolution (global views together, local views together)."""

    def __init__(self, backbone: nn.Module, head: ProjectionHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """Normalised bottleneck features of all ``views``, concatenated view after view: [len(views) * B, D]."""
        features = [self.backbone(torch.cat(group)) for group in _group_by_size(views)]
        return self.head(torch.cat(features))


def _group_by_size(views: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Consecutive views of equal spatial size, so each size needs one backbone call and the order is kept."""
    groups: list[list[torch.Tensor]] = []
    for view in views:
        if groups and groups[-1][-1].shape[-2:] == view.shape[-2:]:
            groups[-1].append(view)
        else:
            groups.append([view])
    return groups
