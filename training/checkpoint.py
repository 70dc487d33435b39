"""Training checkpoints: one file per kept step, written atomically, loadable with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and primitive containers:
``{"format": 1, "step": int, "model": {"student": {...}, "teacher": {...}, "prototypes": {...}, ...},
"optimizer": optimizer.state_dict(), "data": {...}, "rng": [per-rank states], "config_hash": str}``.
``model`` is the task's state dict split by top-level module, so each part can be read on its own.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import resumable_writes
from shards.writer import atomic_write_with

log = logging.getLogger(__name__)

FORMAT = 1
_NAME = re.compile(r"^step_(\d{9})\.pt$")


def checkpoint_dir(run_dir: Path) -> Path:
    return run_dir / "checkpoints"


def checkpoint_path(run_dir: Path, step: int) -> Path:
    return checkpoint_dir(run_dir) / f"step_{step:09d}.pt"


def list_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of the committed checkpoints, oldest first (``*.tmp`` files are never listed)."""
    found = []
    directory = checkpoint_dir(run_dir)
    if directory.is_dir():
        for path in directory.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
    return sorted(found)


def split_state(state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
    """``{"student.x": t, "center": c}`` -> ``{"student": {"x": t}, "center": {"": c}}``."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        top, _, rest = key.partition(".")
        parts.setdefault(top, {})[rest] = value.detach().cpu()
    return parts


def join_state(parts: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {f"{top}.{rest}" if rest else top: value for top, sub in parts.items() for rest, value in sub.items()}


def rng_state() -> dict[str, Any]:
    """This process's torch, CUDA, numpy and python RNG states as tensors and lists."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(
        (numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["cached"])
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def atomic_save(payload: dict[str, Any], path: Path) -> None:
    """``torch.save`` to ``path.tmp``, fsync, rename over ``path``, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_with(path, lambda handle: torch.save(payload, handle))


def save_checkpoint(run_dir: Path, step: int, payload: dict[str, Any], keep: int) -> Path:
    """Write the checkpoint of ``step`` and delete all but the newest ``keep``."""
    path = checkpoint_path(run_dir, step)
    with resumable_writes(str(path)):  # disk full: the previous checkpoints stay, and a rerun resumes from them
        atomic_save({"format": FORMAT, "step": step, **payload}, path)
    for _, old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def latest_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The newest checkpoint that loads; an unreadable one is reported and the previous one is used."""
    for step, path in reversed(list_checkpoints(run_dir)):
        try:
            checkpoint = load_checkpoint(path)
        except Exception as err:  # a damaged file must not hide the good one before it
            log.warning("checkpoint %s does not load (%s); trying the previous one", path, err)
            continue
        checkpoint["path"] = str(path)
        return checkpoint
    return None
