"""The ProS task: student and EMA teacher networks, prototypes and the loss, returning a dict of named values.

The training loop only needs ``forward`` (loss + detached components + collapse monitors), ``update_teacher``,
``parameter_groups`` and the backbone accessors; nothing here knows about data, optimizers or distribution.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from training.ema import ema_update_
from training.loss.dino_loss import DINOLoss
from training.loss.monitors import feature_std, mean_entropy, prototypes_used
from training.loss.pros_loss import MatchingOutput, ProSLoss
from training.loss.regularizers import koleo, me_max
from training.model.backbone import build_backbone
from training.model.config import LossConfig, ModelConfig
from training.model.head import ProjectionHead, StudentNetwork
from training.model.prototypes import Prototypes


def build_network(config: ModelConfig, drop_path: float | None = None) -> StudentNetwork:
    head = ProjectionHead(config.embed_dim, config.head_hidden, config.bottleneck, config.head_layers)
    return StudentNetwork(build_backbone(config, drop_path), head)


def _unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP / compile wrapper, if any."""
    for attribute in ("module", "_orig_mod"):
        if hasattr(module, attribute):
            return _unwrap(getattr(module, attribute))
    return module


class ProSTask(nn.Module):
    """``student`` (backbone + head, trained), ``teacher`` (an EMA copy without drop-path, never trained),
    ``prototypes`` (learned; the teacher uses them too when ``loss.prototypes="shared"``, otherwise it uses
    ``teacher_prototypes``, their EMA copy), ``criterion`` (ProSLoss or DINOLoss, holding the center)."""

    def __init__(self, model: ModelConfig, loss: LossConfig) -> None:
        super().__init__()
        self.model_config = model
        self.loss_config = loss
        self.student = build_network(model)
        self.teacher = build_network(model, drop_path=0.0)
        self.teacher.load_state_dict(self.student.state_dict())
        self.prototypes = Prototypes(model.num_prototypes, model.bottleneck)
        self.teacher_prototypes: Prototypes | None = None
        if loss.prototypes == "ema":
            self.teacher_prototypes = copy.deepcopy(self.prototypes)
        for module in (self.teacher, self.teacher_prototypes):
            if module is not None:
                module.requires_grad_(False)
        criterion_cls = DINOLoss if loss.kind == "dino" else ProSLoss
        self.criterion = criterion_cls(loss, model.num_prototypes)
        self.teacher.eval()

    def train(self, mode: bool = True) -> ProSTask:
        super().train(mode)
        self.teacher.eval()  # the teacher has no drop-path or dropout; keep it deterministic regardless
        return self

    def forward(
        self, global_views: list[torch.Tensor], local_views: list[torch.Tensor], teacher_temp: float
    ) -> dict[str, torch.Tensor]:
        """Loss for backward plus detached ``loss/*`` components and ``monitor/*`` collapse statistics.

        ``global_views``: >= 1 tensors [B, 3, H, W] (the teacher sees these); ``local_views``: any number of
        [B, 3, h, w]. Student views are ordered globals first, so view i of teacher and student is the same crop.
        """
        if not global_views:
            raise ValueError("ProSTask needs at least one global view")
        student_views = list(global_views) + list(local_views)
        if len(student_views) < 2:
            raise ValueError("ProSTask needs at least two views in all (the loss never matches a view with itself)")
        with torch.no_grad():
            teacher_features = self.teacher(list(global_views))
            teacher_logits = self._teacher_prototypes()(teacher_features)
        student_features = self.student(student_views)
        student_logits = self.prototypes(student_features)
        # Softmaxes, cross-entropies and regularizers run in float32 even under bf16 autocast.
        with torch.autocast(device_type=student_logits.device.type, enabled=False):
            matched = self.criterion(student_logits, teacher_logits, len(student_views), teacher_temp)
            n_global_rows = teacher_logits.shape[0]
            return self._assemble(matched, student_features[:n_global_rows], len(global_views))

    def _assemble(
        self, matched: MatchingOutput, global_features: torch.Tensor, n_global: int
    ) -> dict[str, torch.Tensor]:
        config = self.loss_config
        student_probs = matched.student_log_probs.exp()
        with torch.set_grad_enabled(torch.is_grad_enabled() and config.me_max_weight > 0):
            me_max_term = me_max(student_probs)
        with torch.set_grad_enabled(torch.is_grad_enabled() and config.koleo_weight > 0):
            koleo_term = torch.stack([koleo(view) for view in global_features.chunk(n_global)]).mean()
        total = matched.loss
        if config.me_max_weight > 0:
            total = total + config.me_max_weight * me_max_term
        if config.koleo_weight > 0:
            total = total + config.koleo_weight * koleo_term
        teacher_entropy = mean_entropy(matched.teacher_probs)
        return {
            "loss": total,
            "loss/matching": matched.loss.detach(),
            "loss/me_max": me_max_term.detach(),
            "loss/koleo": koleo_term.detach(),
            "monitor/teacher_entropy": teacher_entropy,
            # Each teacher view is in the same number of pairs, so mean KL = mean cross-entropy - mean H(p_t).
            "monitor/kl_teacher_student": matched.loss.detach() - teacher_entropy,
            "monitor/prototypes_used": prototypes_used(matched.teacher_probs),
            "monitor/feature_std": feature_std(global_features.detach()),
        }

    def _teacher_prototypes(self) -> Prototypes:
        return self.teacher_prototypes if self.teacher_prototypes is not None else _unwrap(self.prototypes)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """teacher <- momentum * teacher + (1 - momentum) * student (and the prototypes' EMA copy, if any)."""
        teacher = list(self.teacher.parameters())
        student = list(_unwrap(self.student).parameters())
        if self.teacher_prototypes is not None:
            teacher += list(self.teacher_prototypes.parameters())
            student += list(_unwrap(self.prototypes).parameters())
        ema_update_(teacher, student, momentum)

    def parameter_groups(self, weight_decay: float) -> list[dict]:
        """AdamW groups: "decay" (weights, ``weight_decay``), "no_decay" (biases, norms, every 1-d parameter; 0),
        "prototypes" (the prototype matrix, ``weight_decay``; the loop freezes this group for the first epoch).

        Groups whose ``weight_decay`` is 0 must stay at 0 when the loop applies its weight-decay schedule.
        """
        decay, no_decay = [], []
        for name, parameter in _unwrap(self.student).named_parameters():
            if not parameter.requires_grad:
                continue
            (no_decay if parameter.ndim <= 1 or name.endswith(".bias") else decay).append(parameter)
        groups = [
            {"name": "decay", "params": decay, "weight_decay": weight_decay},
            {"name": "no_decay", "params": no_decay, "weight_decay": 0.0},
            {"name": "prototypes", "params": list(_unwrap(self.prototypes).parameters()), "weight_decay": weight_decay},
        ]
        return [group for group in groups if group["params"]]

    def student_backbone(self) -> nn.Module:
        """The student's timm VisionTransformer."""
        return _unwrap(self.student).backbone

    def teacher_backbone(self) -> nn.Module:
        """The teacher's timm VisionTransformer: the released model (``timm_name`` / ``timm_kwargs`` rebuild it)."""
        return self.teacher.backbone
