"""Run metrics: JSONL records (rank 0 only) with namespaced keys, optional TensorBoard, and the progress line.

Each record is one JSON object per line: ``{"step": 120, "train/loss": 6.1, "train/lr": 2e-4, ...}``; keys are
``train/*`` (optimization and throughput), ``loss/*`` (loss components), ``monitor/*`` (collapse monitors) and
``data/*`` (stream health).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"


def peak_memory_mb(device: torch.device) -> float:
    """Peak accelerator memory allocated (GPU) or peak resident set size of this process (CPU), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of ``RUN/metrics.jsonl`` (a torn last line, from a kill mid-write, is ignored)."""
    return read_jsonl(run_dir / METRICS_FILE)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


class MetricsWriter:
    """Appends records to ``RUN/metrics.jsonl`` and mirrors them to TensorBoard when asked; inert off rank 0."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool = False) -> None:
        self.enabled = enabled
        self.path = run_dir / METRICS_FILE
        self.tensorboard = None
        if enabled:
            run_dir.mkdir(parents=True, exist_ok=True)
            self.handle = open(self.path, "a", buffering=1)
            if tensorboard:
                self.tensorboard = _open_tensorboard(run_dir / "tensorboard")

    def truncate_after(self, step: int) -> None:
        """Drop records past ``step``: a resumed run rewrites the steps after its checkpoint."""
        if not self.enabled:
            return
        self.handle.close()
        truncate_jsonl(self.path, step)
        self.handle = open(self.path, "a", buffering=1)

    def write(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        record = {"step": step, "time": round(time.time(), 3), **{k: _finite(v) for k, v in sorted(values.items())}}
        self.handle.write(json.dumps(record) + "\n")
        if self.tensorboard is not None:
            for key, value in values.items():
                if math.isfinite(value):
                    self.tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        if self.enabled:
            self.handle.close()
            if self.tensorboard is not None:
                self.tensorboard.close()


def truncate_jsonl(path: Path, step: int) -> None:
    """Keep the records of ``path`` up to ``step`` (rewritten atomically)."""
    if not path.exists():
        return
    kept = [r for r in read_jsonl(path) if r.get("step", 0) <= step]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    tmp.replace(path)


def _finite(value: float) -> float | str:
    """JSON has no NaN: non-finite values are written as strings ("nan", "inf")."""
    return value if math.isfinite(value) else str(value)


def _open_tensorboard(directory: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as err:
        from core.errors import UserError

        raise UserError(
            "run.tensorboard=true needs the tensorboard package: pip install 'tensorboard>=2.14', "
            "or set run.tensorboard=false (metrics.jsonl is always written)"
        ) from err
    return SummaryWriter(str(directory))


class Throughput:
    """Images per second and the share of wall time spent waiting for data, over a logging window."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = time.perf_counter()
        self.data_wait = 0.0
        self.images = 0
        self.steps = 0

    def add(self, images: int, data_wait: float) -> None:
        self.images += images
        self.data_wait += data_wait
        self.steps += 1

    def summary(self) -> dict[str, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        return {
            "train/images_per_s": self.images / elapsed,
            "train/data_wait_share": self.data_wait / elapsed,
            "train/step_time_s": elapsed / max(self.steps, 1),
        }


def progress_line(step: int, total: int, values: dict[str, float], memory_mb: float) -> str:
    """One log line: step, loss, lr, momentum, images/s, data-wait share, ETA and memory."""
    remaining = (total - step) * values.get("train/step_time_s", 0.0)
    eta = dt.timedelta(seconds=int(remaining))
    return (
        f"step {step}/{total}  loss {values.get('train/loss', float('nan')):.4f}  "
        f"lr {values.get('train/lr', 0.0):.2e}  mom {values.get('train/momentum', 0.0):.4f}  "
        f"img/s {values.get('train/images_per_s', 0.0):.1f}  "
        f"data-wait {100 * values.get('train/data_wait_share', 0.0):.0f}%  "
        f"eta {eta}  mem {memory_mb:.0f}MiB"
    )
