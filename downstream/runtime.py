"""Where and how tensors are computed: device, mixed precision and CPU threads."""

from __future__ import annotations

import contextlib
import logging
from typing import ContextManager

import torch

from core.errors import UserError
from core.hardware import resolve_precision, resolve_threads

log = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; an explicit device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device={name} was asked for but no CUDA device is visible; use device=auto or device=cpu")
    return device


def autocast(device: torch.device, precision: str = "auto") -> ContextManager:
    """bf16 autocast when ``precision`` resolves to bf16 (``auto``: where the device runs it natively), else none."""
    if resolve_precision(precision, device.type).value == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def use_cores(device: torch.device, precision: str, workers: int, threads: int = 0) -> None:
    """Intra-op threads for this process (every usable core unless set) and one line saying what runs."""
    choice = resolve_threads(threads)
    torch.set_num_threads(int(choice.value))
    log.info("%s, precision %s, %s threads, %d data workers", device, resolve_precision(precision, device.type),
             choice, workers)
