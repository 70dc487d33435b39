"""The K learnable prototypes C (K x D). Rows are L2-normalised in every forward, so the logits C z are cosine
similarities in [-1, 1]. This equals DINO's last layer, ``weight_norm(Linear(D, K, bias=False))`` with the norm
``weight_g`` fixed to 1 (DINO's ``norm_last_layer=True``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Prototypes(nn.Module):
    """``weight`` holds the unnormalised prototypes; ``forward(z)`` gives the similarity logits z @ normalize(C).T."""

    def __init__(self, num_prototypes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_prototypes, dim))
        # nn.Linear's default init, as DINO's last layer gets it.
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def normalized(self) -> torch.Tensor:
        return F.normalize(self.weight, dim=-1, p=2)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(features, self.normalized())

    @property
    def num_prototypes(self) -> int:
        return self.weight.shape[0]
