"""What this machine can run fast, decided once at start: cores, bf16 support, intra-op threads.

Figures measured on one CPU do not carry to another (a bf16 matmul ran 2.5x faster than fp32 on an AVX-512 BF16 EPYC
and 57x slower on an AVX2-only one), so precision and threads default to ``auto`` and are chosen here.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def usable_cores() -> int:
    """Cores this process may run on: respects taskset and cpusets, unlike ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Choice:
    """A value picked for this machine and the reason, for the one log line that reports it."""

    value: str | int
    reason: str

    def __str__(self) -> str:
        return f"{self.value} ({self.reason})"


@functools.cache  # read once: eval resolves precision for every batch
def cpu_flags() -> frozenset[str]:
    """The CPU's feature names as torch reports them, else as ``/proc/cpuinfo`` lists them (empty when neither)."""
    import torch  # heavy: only where precision is decided

    report = getattr(torch._C._cpu, "_get_cpu_capability", None)
    if report is not None:
        return frozenset(name for name, present in report().items() if present is True)
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    return frozenset(flag for line in text.splitlines() if line.startswith("flags")
                     for flag in line.split(":", 1)[1].split())


def resolve_precision(requested: str, device_type: str) -> Choice:
    """``auto`` -> bf16 where ``device_type`` runs it natively, else fp32; an explicit ``bf16``/``fp32`` is kept."""
    if requested != "auto":
        return Choice(requested, "set")
    if device_type == "cuda":
        import torch  # heavy: only where precision is decided

        if torch.cuda.is_bf16_supported():
            return Choice("bf16", "cuda, native")
        return Choice("fp32", "cuda: no bf16 on this GPU")
    if device_type == "cpu":
        flags = cpu_flags()
        found = [flag for flag in BF16_CPU_FLAGS if flag in flags]
        if found:
            return Choice("bf16", f"cpu: native, {'+'.join(found)}")
        return Choice("fp32", "cpu: no native bf16")
    return Choice("fp32", f"{device_type}: bf16 not checked")


def resolve_threads(requested: int) -> Choice:
    """Intra-op threads for the main process: ``requested`` when > 0, else ``OMP_NUM_THREADS`` when set (torchrun
    sets it), else every usable core. Not fewer for the data workers beside it: they wait most of the time, and
    leaving them a core cost vit-s16 40% of its speed on a 2-core CPU (BENCHMARKS.md, hardware defaults)."""
    if requested > 0:
        return Choice(requested, "set")
    from_env = os.environ.get("OMP_NUM_THREADS", "")
    if from_env.isdigit() and int(from_env) > 0:
        return Choice(int(from_env), "OMP_NUM_THREADS")
    return Choice(usable_cores(), "usable cores")
