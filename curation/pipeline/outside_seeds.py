"""Seeds from outside the pool for the retrieval step: a folder of seed images and text prompts.

Seed images are decoded like pool images (``curation.decode.decode_image``), shrunk to the detector's input size as
the pool's embeddings are, and embedded with the run's embedder; prompts go through its text tower. Their seed keys
are ``image:<path relative to the folder>`` and ``text:<prompt>``. The folder's contents (names and bytes) and the
prompts enter the retrieval step's signature, so changing them re-runs that step and writing only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.config import ConfigError
from core.errors import UserError
from curation.config import CurateConfig
from curation.decode import decode_image
from curation.embed.base import ImageEmbedder, has_text_tower
from curation.pipeline.records import fit_within
from curation.pipeline.retrieval_config import RetrievalStageConfig
from curation.retrieval.seeded import SeedSet, image_seeds, text_seeds
from curation.sources.config import IMAGE_EXTENSIONS
from curation.types import Rejection

FIX_BACKEND = "set retrieval.embed.backend=open_clip (an embedder with a text tower) or remove retrieval.prompts"


def seed_image_paths(folder: str) -> list[Path]:
    """Image files under ``folder`` (recursive, hidden files skipped), sorted by relative path."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"retrieval.seed_images={folder!r} is not a folder; give a folder of seed images or \"\"")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    if not paths:
        raise UserError(f"retrieval.seed_images={folder!r} holds no image files ({', '.join(IMAGE_EXTENSIONS)}); "
                        "put seed images in it or set retrieval.seed_images=\"\"")
    return paths


def seeds_part(section: RetrievalStageConfig) -> dict[str, Any]:
    """What the outside seeds add to the retrieval step's signature (nothing when there are none, so runs without
    them keep their signature)."""
    part: dict[str, Any] = {}
    if section.seed_images:
        root = Path(section.seed_images).expanduser()
        digest = hashlib.sha256()
        for path in seed_image_paths(section.seed_images):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        part["seed_images"] = digest.hexdigest()[:24]
    if section.prompts:
        part["prompts"] = list(section.prompts)
    return part


def check_outside_seeds(config: CurateConfig, build_embedder: Callable[[], ImageEmbedder]) -> None:
    """Fail before any unit runs when the outside seeds cannot work with the configured embedder."""
    section = config.retrieval
    if not (section.seed_images or section.prompts):
        return
    if section.seed_images:
        seed_image_paths(section.seed_images)
    if section.embed.backend == "precomputed":
        used = "retrieval.seed_images" if section.seed_images else "retrieval.prompts"
        raise ConfigError(f"{used} needs an embedder to place the seeds among the pool's vectors, and "
                          "retrieval.embed.backend=precomputed has none; choose the backend that made the vectors "
                          f"(efficientnet_lite0 / open_clip) or remove {used}")
    if section.prompts:
        embedder = build_embedder()
        if not has_text_tower(embedder):
            raise ConfigError(f"retrieval.prompts needs an embedder with a text tower, and "
                              f"retrieval.embed.backend={section.embed.backend} ({embedder.name}) has none; "
                              + FIX_BACKEND)


def load_seed_images(folder: str, config: CurateConfig) -> tuple[list[str], list[np.ndarray]]:
    """Relative names and detector-resolution RGB arrays of the seed images; a file that does not decode is an error."""
    root = Path(folder).expanduser()
    names, images = [], []
    for path in seed_image_paths(folder):
        name = path.relative_to(root).as_posix()
        result = decode_image(path.read_bytes(), config.decode, name)
        if isinstance(result, Rejection):
            raise UserError(f"seed image {path} could not be used ({result.reason}: {result.detail}); "
                            "replace or remove it from retrieval.seed_images")
        names.append(name)
        images.append(fit_within(result.rgb, config.detect.input_size)[0])
    return names, images


def outside_seed_sets(config: CurateConfig, embedder: ImageEmbedder) -> list[SeedSet]:
    """SeedSets of the seed folder (``image:NAME``) and the prompts (``text:PROMPT``), empty when none are set."""
    section = config.retrieval
    sets: list[SeedSet] = []
    if section.seed_images:
        names, images = load_seed_images(section.seed_images, config)
        sets.append(image_seeds(embedder, images, names, section.seeded))
    if section.prompts:
        sets.append(text_seeds(embedder, list(section.prompts), section.seeded))
    return sets
