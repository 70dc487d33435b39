"""DINO's loss (Caron et al., ICCV 2021), written after the paper's Algorithm 1 and its public reference code.

The last layer of DINO's head, ``weight_norm(Linear(256, K, bias=False))`` with ``weight_g`` fixed to 1, is our
``training.model.prototypes.Prototypes`` (rows normalised in the forward); with ``loss.kind=dino`` student and
teacher each keep their own (the teacher's an EMA), the teacher is centred and sharpened, and the cross-entropy runs
over every (teacher global view, student view) pair except a view with itself, averaged over pairs.
This module deliberately keeps DINO's per-pair loop rather than sharing ``pros_loss``'s vectorised code, so the
tests can check the two implementations against each other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.loss.centering import Center
from training.loss.pros_loss import MatchingOutput
from training.model.config import LossConfig


class DINOLoss(nn.Module):
    """student_output [n_crops * B, K], teacher_output [2 * B, K] (the teacher sees the global crops only)."""

    def __init__(self, config: LossConfig, num_prototypes: int) -> None:
        super().__init__()
        self.student_temp = config.student_temp
        self.center = Center(num_prototypes, config.center_momentum)

    def forward(
        self, student_output: torch.Tensor, teacher_output: torch.Tensor, n_student_views: int, teacher_temp: float
    ) -> MatchingOutput:
        teacher_output = teacher_output.detach().float()
        student_scaled = student_output.float() / self.student_temp
        student_chunks = student_scaled.chunk(n_student_views)
        teacher_probs = F.softmax((teacher_output - self.center.center) / teacher_temp, dim=-1)
        n_teacher_views = teacher_output.shape[0] // student_chunks[0].shape[0]
        teacher_chunks = teacher_probs.chunk(n_teacher_views)

        total = student_output.new_zeros((), dtype=torch.float32)
        n_terms = 0
        for teacher_index, q in enumerate(teacher_chunks):
            for student_index, student_view in enumerate(student_chunks):
                if student_index == teacher_index:
                    continue  # never match a view with itself
                total = total + torch.sum(-q * F.log_softmax(student_view, dim=-1), dim=-1).mean()
                n_terms += 1
        if self.training:
            self.center.update(teacher_output)
        return MatchingOutput(total / n_terms, teacher_probs, F.log_softmax(student_scaled, dim=-1))
