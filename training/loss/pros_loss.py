"""The ProS prototype-matching loss (our formalization; docs/train_method.md).

With L2-normalised features z and row-normalised prototypes C, the logits are cosine similarities C z.
p_s = softmax(C z_s / tau_s); p_t = softmax((C z_t - center) / tau_t) or Sinkhorn-Knopp(C z_t / tau_t);
loss = mean over pairs (teacher global view t, student view s, s != t) of H(p_t, p_s), each averaged over the batch.
Views are ordered globals first, so teacher view i and student view i are the same crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from training.loss.centering import Center
from training.loss.sinkhorn import sinkhorn_knopp
from training.model.config import LossConfig


@dataclass
class MatchingOutput:
    """The loss and the distributions it was computed from (view-major: [views * batch, K])."""

    loss: torch.Tensor
    teacher_probs: torch.Tensor
    student_log_probs: torch.Tensor


def cross_view_cross_entropy(teacher_probs: torch.Tensor, student_log_probs: torch.Tensor) -> torch.Tensor:
    """Mean over (t, s != t) of mean_b H(p_t[b], p_s[b]); inputs are [V_t, B, K] and [V_s, B, K] with V_t <= V_s."""
    n_teacher, batch = teacher_probs.shape[:2]
    n_student = student_log_probs.shape[0]
    # pair_ce[t, s] = mean_b sum_k -p_t log p_s, for all pairs at once (one matmul over B*K).
    pair_ce = -torch.einsum("tbk,sbk->ts", teacher_probs, student_log_probs) / batch
    same_view = torch.eye(n_teacher, n_student, dtype=torch.bool, device=pair_ce.device)
    n_pairs = n_teacher * n_student - n_teacher
    if n_pairs == 0:
        raise ValueError("the matching loss needs at least one student view that is not the teacher's own view")
    return pair_ce.masked_fill(same_view, 0.0).sum() / n_pairs


class ProSLoss(nn.Module):
    """Teacher normalisation (centering with its EMA state, or Sinkhorn-Knopp) + the cross-view matching loss."""

    def __init__(self, config: LossConfig, num_prototypes: int) -> None:
        super().__init__()
        self.config = config
        self.center = Center(num_prototypes, config.center_momentum) if config.teacher_norm == "center" else None

    def teacher_probabilities(self, teacher_logits: torch.Tensor, teacher_temp: float) -> torch.Tensor:
        if self.center is not None:
            return self.center.probabilities(teacher_logits, teacher_temp)
        return sinkhorn_knopp(teacher_logits, teacher_temp, self.config.sinkhorn_iters)

    def forward(
        self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, n_student_views: int, teacher_temp: float
    ) -> MatchingOutput:
        """``student_logits`` [V_s * B, K] and ``teacher_logits`` [V_t * B, K], view-major, globals first."""
        batch = student_logits.shape[0] // n_student_views
        n_teacher_views = teacher_logits.shape[0] // batch
        teacher_logits = teacher_logits.detach()
        teacher_probs = self.teacher_probabilities(teacher_logits, teacher_temp)
        student_log_probs = torch.log_softmax(student_logits.float() / self.config.student_temp, dim=-1)
        loss = cross_view_cross_entropy(
            teacher_probs.view(n_teacher_views, batch, -1), student_log_probs.view(n_student_views, batch, -1)
        )
        if self.center is not None and self.training:
            self.center.update(teacher_logits)
        return MatchingOutput(loss, teacher_probs, student_log_probs)
