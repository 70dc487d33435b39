"""Detector backends register by name; ``build_detector`` makes one from a DetectorConfig."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from core.config import ConfigError
from curation.detect.config import DetectorConfig
from curation.types import FaceDetector

_BACKENDS: dict[str, Callable[[DetectorConfig], FaceDetector]] = {}
# Modules that register the built-in backends; imported on first use so onnxruntime loads only when needed.
_BUILTIN_MODULES = {
    "centerface": "curation.detect.centerface",
    "insightface": "curation.detect.insightface_backend",
}


def register(name: str, factory: Callable[[DetectorConfig], FaceDetector]) -> None:
    """Make ``factory`` available as ``detect.backend=name``."""
    _BACKENDS[name] = factory


def available_backends() -> list[str]:
    return sorted(set(_BACKENDS) | set(_BUILTIN_MODULES))


def build_detector(config: DetectorConfig) -> FaceDetector:
    """The detector ``config.backend`` names, loaded and ready to run."""
    if config.backend not in _BACKENDS and config.backend in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[config.backend])
    if config.backend not in _BACKENDS:
        raise ConfigError(
            f"detector backend {config.backend!r} is unknown; choose one of: {', '.join(available_backends())}"
        )
    return _BACKENDS[config.backend](config)
