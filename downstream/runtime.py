"""Where and how tensors are computed: device selection and mixed precision."""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

from pros.errors import UserError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; an explicit device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={name} was asked for but no CUDA device is visible; use device=auto or device=cpu")
    return device


def autocast(device: torch.device, precision: str = "auto") -> ContextManager:
    """bf16 autocast on CUDA (precision auto/bf16) or on CPU when precision=bf16; otherwise full precision."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
