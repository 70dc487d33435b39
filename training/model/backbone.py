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


def use_explicit_attention(model: nn.Module) -> int:
    """Compute attention as softmax(q k^T) v rather than with torch's fused kernel, in every timm block of ``model``;
    returns the number of blocks. On the CPU the fused kernel ran the vit-s16 step at 0.81x DINO's (explicit)
    attention and the explicit one at 1.05x (BENCHMARKS.md, Training vs DINO). Weights and outputs are the same."""
    blocks = [module for module in model.modules() if hasattr(module, "fused_attn")]
    for block in blocks:
        block.fused_attn = False
    return len(blocks)
