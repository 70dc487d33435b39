"""Commit markers: the last file a stage writes for a unit, saying which stage version, config and input made it.

A stage's signature chains: its ``input_fingerprint`` is the input unit's fingerprint for the first stage and the
digest of the previous stage's signature after that, so a change upstream invalidates everything downstream.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shards.writer import atomic_write


@dataclass(frozen=True)
class StageSignature:
    stage: str
    version: str
    config_hash: str
    input_fingerprint: str

    def digest(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def read_marker(path: Path) -> dict[str, Any] | None:
    """The marker's content, or None when it is missing or unreadable (a crash cannot leave it half written,
    but a user can)."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def marker_matches(path: Path, signature: StageSignature) -> bool:
    marker = read_marker(path)
    return marker is not None and marker.get("signature") == asdict(signature)


def outputs_committed(path: Path, signature: StageSignature, out: Path) -> bool:
    """The marker at ``path`` holds ``signature`` and every output it names (relative to ``out``) exists."""
    if not marker_matches(path, signature):
        return False
    outputs = (read_marker(path) or {}).get("outputs", [])
    return all((out / name).exists() for name in outputs)


def write_marker(path: Path, signature: StageSignature, outputs: list[str], stats: dict[str, Any]) -> None:
    """Commit a stage's unit: call only after every output in ``outputs`` (paths relative to the run directory) is
    written and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"signature": asdict(signature), "outputs": list(outputs), "stats": stats}
    atomic_write(path, (json.dumps(body, sort_keys=True, indent=1) + "\n").encode())
