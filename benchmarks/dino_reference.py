"""facebookresearch/dino imported from the user's checkout, with the runtime shims it needs on a current CPU torch.

Nothing of DINO is copied here: ``import_dino`` puts the checkout on ``sys.path`` and imports its modules; the
shims replace attributes at runtime and never touch the checkout's files:
- ``DINOLoss.update_center`` all-reduces over ``torch.distributed``: in one process without a process group the
  module's ``dist`` is replaced by a one-process stand-in (the sum over one process is the tensor itself);
- ``DataAugmentationDINO`` hard-codes 224 / 96 px crops: the sizes of its ``RandomResizedCrop`` steps are set to
  the configuration's view sizes after construction.
The DINO step mirrors ``train_one_epoch`` of ``main_dino.py`` on one process, minus logging and the fp16 scaler:
forward (teacher on the 2 global views, student on all), ``DINOLoss``, finite-loss check, backward, DINO's
``clip_gradients``, AdamW over DINO's parameter groups, and the per-parameter EMA loop of the teacher.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
from torch import nn

from training.config import DataConfig, TrainConfig
from training.model.config import ARCHS


@dataclass(frozen=True)
class Dino:
    main: ModuleType  # main_dino.py: DINOLoss, DataAugmentationDINO
    vits: ModuleType  # vision_transformer.py: VisionTransformer, DINOHead
    utils: ModuleType  # utils.py: MultiCropWrapper, clip_gradients, get_params_groups


def import_dino(repo: Path) -> Dino:
    """Import DINO's modules from ``repo`` (a checkout of facebookresearch/dino) and apply the shims."""
    if not (repo / "main_dino.py").is_file():
        raise SystemExit(f"--dino-repo {repo}: no main_dino.py there; pass a checkout of facebookresearch/dino")
    sys.path.insert(0, str(repo.resolve()))
    main = importlib.import_module("main_dino")
    dino = Dino(main, importlib.import_module("vision_transformer"), importlib.import_module("utils"))
    if not torch.distributed.is_initialized():
        main.dist = SimpleNamespace(all_reduce=lambda tensor: None, get_world_size=lambda: 1)
    return dino


def dino_augmentation(dino: Dino, data: DataConfig) -> Any:
    """DINO's ``DataAugmentationDINO`` with this configuration's scales, local count and view sizes."""
    augmentation = dino.main.DataAugmentationDINO(tuple(data.global_scale), tuple(data.local_scale), data.num_local)
    for pipeline, size in ((augmentation.global_transfo1, data.global_size),
                           (augmentation.global_transfo2, data.global_size),
                           (augmentation.local_transfo, data.local_size)):
        crop = pipeline.transforms[0]
        if type(crop).__name__ != "RandomResizedCrop":
            raise SystemExit(f"this DINO checkout's augmentation starts with {type(crop).__name__}, not RandomResizedCrop")
        crop.size = (size, size)
    return augmentation


def dino_backbone(dino: Dino, config: TrainConfig, drop_path: float) -> nn.Module:
    shape = ARCHS[config.model.arch]
    return dino.vits.VisionTransformer(
        img_size=[config.model.img_size], patch_size=config.model.patch_size, embed_dim=shape["embed_dim"],
        depth=shape["depth"], num_heads=shape["num_heads"], mlp_ratio=4, qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6), drop_path_rate=drop_path,
    )


def dino_network(dino: Dino, config: TrainConfig, drop_path: float) -> nn.Module:
    model = config.model
    head = dino.vits.DINOHead(
        ARCHS[model.arch]["embed_dim"], model.num_prototypes, use_bn=False, norm_last_layer=True,
        nlayers=model.head_layers, hidden_dim=model.head_hidden, bottleneck_dim=model.bottleneck,
    )
    return dino.utils.MultiCropWrapper(dino_backbone(dino, config, drop_path), head)


class DinoStep:
    """One DINO training step (see the module docstring) on the configuration's ViT, head and prototypes."""

    def __init__(self, dino: Dino, config: TrainConfig, precision: str) -> None:
        self.dino = dino
        self.config = config
        self.precision = precision
        self.student = dino_network(dino, config, config.model.drop_path).train()
        self.teacher = dino_network(dino, config, 0.0)
        self.teacher.load_state_dict(self.student.state_dict())
        self.teacher.requires_grad_(False)
        crops = 2 + config.data.num_local
        temp = config.loss.teacher_temp
        self.loss = dino.main.DINOLoss(config.model.num_prototypes, crops, temp, temp, 0, 1,
                                       student_temp=config.loss.student_temp,
                                       center_momentum=config.loss.center_momentum)
        self.optimizer = torch.optim.AdamW(dino.utils.get_params_groups(self.student), lr=1e-5)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision != "bf16":
            return contextlib.nullcontext()
        return torch.autocast("cpu", dtype=torch.bfloat16)

    def __call__(self, global_views: list[torch.Tensor], local_views: list[torch.Tensor], momentum: float) -> float:
        images = list(global_views) + list(local_views)
        with self.autocast():
            teacher_output = self.teacher(images[:2])
            student_output = self.student(images)
            loss = self.loss(student_output, teacher_output, 0)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"DINO's loss is {value}")
        self.optimizer.zero_grad()
        loss.backward()
        self.dino.utils.clip_gradients(self.student, self.config.optim.clip_grad)
        self.optimizer.step()
        with torch.no_grad():
            for student_param, teacher_param in zip(self.student.parameters(), self.teacher.parameters()):
                teacher_param.data.mul_(momentum).add_((1 - momentum) * student_param.detach().data)
        return value
