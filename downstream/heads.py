"""Task heads put on top of a backbone, and the loss each is trained with.

- attributes: one linear layer, one logit per attribute, binary cross-entropy (multi-label);
- expression: one linear layer, one logit per class, cross-entropy;
- landmarks: a heatmap head on the patch-token grid: LayerNorm + a 1x1 projection gives one heatmap per point, plus a
  learned positional prior per point, a spatial softmax turns it into a probability map and its expectation
  (soft-argmax, "integral regression") is the point, in [0, 1] window coordinates. The prior is the heatmap's bias: a
  1x1 projection's own bias is the same at every position and cancels in the softmax, so without it the head could not
  even place the mean shape and would lose to that floor whenever the tokens carry little position. Trained with L1 on
  those coordinates. We chose heatmaps over direct regression because the head stays linear in the tokens, keeps their
  spatial layout, and gives sub-patch accuracy through the expectation, while needing no heatmap rendering or argmax
  decoding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HeatmapHead(nn.Module):
    """Patch tokens (B, h, w, C) -> points (B, P, 2) as (x, y) in [0, 1] of the token grid's extent."""

    PRIOR_SIDE = 16  # the prior's own grid, resampled to the token grid (14 x 14 at 224 px / patch 16)
    # The prior needs logits of several units to place points sharply; scaled like this, AdamW (whose steps do not
    # depend on the gradient's scale) moves it 10x as fast as the projection, and it converges within the probe.
    PRIOR_SCALE = 10.0

    def __init__(self, channels: int, num_points: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.project = nn.Linear(channels, num_points)
        self.prior = nn.Parameter(torch.zeros(1, num_points, self.PRIOR_SIDE, self.PRIOR_SIDE))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = tokens.shape
        prior = F.interpolate(self.PRIOR_SCALE * self.prior, size=(height, width), mode="bilinear", align_corners=False)
        logits = self.project(self.norm(tokens.float())) + prior.permute(0, 2, 3, 1)  # (B, h, w, P)
        probabilities = logits.flatten(1, 2).softmax(dim=1)  # (B, h*w, P)
        ys = (torch.arange(height, device=tokens.device, dtype=torch.float32) + 0.5) / height
        xs = (torch.arange(width, device=tokens.device, dtype=torch.float32) + 0.5) / width
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        centers = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)  # (h*w, 2)
        return torch.einsum("bnp,nc->bpc", probabilities, centers)


def make_head(task: str, in_features: int, outputs: int) -> nn.Module:
    """The head of ``task``: ``outputs`` = attributes, classes or landmark points."""
    if task == "landmarks":
        return HeatmapHead(in_features, outputs)
    if task in ("attributes", "expression"):
        head = nn.Linear(in_features, outputs)
        nn.init.trunc_normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)
        return head
    raise ValueError(f"unknown task {task!r}")


def task_loss(task: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """BCE for attributes (targets 0/1), CE for expression (class indices), L1 for landmarks ([0, 1] coords)."""
    if task == "attributes":
        return F.binary_cross_entropy_with_logits(outputs.float(), targets.float())
    if task == "expression":
        return F.cross_entropy(outputs.float(), targets.long())
    return F.l1_loss(outputs.float(), targets.float())
