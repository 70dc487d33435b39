"""Device, threads and autocast choices shared by the torch embedders."""

from __future__ import annotations

import contextlib
from typing import ContextManager

from core.errors import UserError
from curation.embed.config import EmbedderConfig


def pick_device(config: EmbedderConfig) -> str:
    import torch

    if config.threads:
        torch.set_num_threads(config.threads)
    if config.device == "cuda" and not torch.cuda.is_available():
        raise UserError("retrieval.embed.device=cuda but torch sees no CUDA device; set retrieval.embed.device=auto or cpu")
    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return config.device


def autocast(device: str, precision: str) -> ContextManager[object]:
    """bf16/fp16 autocast on ``device``; fp32 runs as is."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device, dtype=dtype)
