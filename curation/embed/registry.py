"""Embedder backends register by name; ``build_embedder`` makes one from an EmbedderConfig."""

from __future__ import annotations

import importlib
from typing import Callable

from core.config import ConfigError
from curation.embed.base import ImageEmbedder
from curation.embed.config import EmbedderConfig

_BACKENDS: dict[str, Callable[[EmbedderConfig], ImageEmbedder]] = {}
# Imported on first use so torch / open_clip load only when an embedder is built.
_BUILTIN_MODULES = {
    "efficientnet_lite0": "curation.embed.efficientnet_lite0",
    "open_clip": "curation.embed.open_clip_backend",
}


def register(name: str, factory: Callable[[EmbedderConfig], ImageEmbedder]) -> None:
    """Make ``factory`` available as ``retrieval.embed.backend=name``."""
    _BACKENDS[name] = factory


def available_backends() -> list[str]:
    return sorted(set(_BACKENDS) | set(_BUILTIN_MODULES))


def build_embedder(config: EmbedderConfig) -> ImageEmbedder:
    """The image embedder ``config.backend`` names, loaded and ready to run.

    ``precomputed`` is not an image embedder: read it with ``curation.embed.precomputed.PrecomputedEmbeddings``.
    """
    if config.backend == "precomputed":
        raise ConfigError(
            "retrieval.embed.backend=precomputed reads stored vectors by key and embeds no images; "
            "use PrecomputedEmbeddings(embed.precomputed) or choose efficientnet_lite0 / open_clip"
        )
    if config.backend not in _BACKENDS and config.backend in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[config.backend])
    if config.backend not in _BACKENDS:
        raise ConfigError(
            f"embedder backend {config.backend!r} is unknown; choose one of: "
            f"{', '.join(available_backends() + ['precomputed'])}"
        )
    return _BACKENDS[config.backend](config)
