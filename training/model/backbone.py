"""The backbone f: a timm ``VisionTransformer`` returning the final-norm CLS token."""

from __future__ import annotations

import timm
from torch import nn

from training.model.config import ModelConfig, timm_kwargs, timm_name


def build_backbone(config: ModelConfig, drop_path: float | None = None) -> nn.Module:
    """A randomly initialised ViT as configured; ``drop_path`` overrides ``config.drop_path`` (0 for the teacher).

    Built through ``timm.create_model`` with ``pretrained=False``, so nothing is downloaded.
    """
    rate = config.drop_path if drop_path is None else drop_path
    return timm.create_model(timm_name(config), pretrained=False, drop_path_rate=rate, **timm_kwargs(config))
