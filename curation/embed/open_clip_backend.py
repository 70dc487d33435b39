"""CLIP-family embedders through open_clip: a model name plus a pretrained tag (downloads) or a local checkpoint.

For production use, e.g. ``retrieval.embed.backend=open_clip retrieval.embed.model=ViT-B-32 retrieval.embed.pretrained=laion2b_s34b_b79k``.
Prompts go through the model's text tower, so text seeds land in the same space as images.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from core.config import ConfigError
from core.errors import UserError
from curation.embed.base import l2_normalize, preprocess_batch
from curation.embed.config import EmbedderConfig
from curation.embed.registry import register
from curation.embed.torch_runtime import autocast, pick_device


def register_model_config(path: str) -> None:
    """Make the architectures in a JSON file (or a folder of them) known to open_clip by file stem."""
    import open_clip

    config_path = Path(path).expanduser()
    if not config_path.exists():
        raise UserError(f"retrieval.embed.model_config={path!r}: no such file or folder; give an open_clip model JSON")
    open_clip.add_model_config(config_path)


def _weights_id(pretrained: str) -> str:
    """A short id of the weights for the version string: the file's hash for local checkpoints, else the tag."""
    local = Path(pretrained).expanduser()
    if pretrained and local.is_file():
        digest = hashlib.sha256()
        with local.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return "file" + digest.hexdigest()[:12]
    return pretrained or "random-init"


def _build_model(config: EmbedderConfig, device: str):
    import open_clip

    if config.model_config:
        register_model_config(config.model_config)
    if config.model not in open_clip.list_models():
        raise ConfigError(
            f"retrieval.embed.model={config.model!r} is not an open_clip architecture; pick one of open_clip.list_models() "
            "(e.g. ViT-B-32) or register a JSON config with retrieval.embed.model_config=FILE"
        )
    pretrained = config.pretrained or None
    local = Path(config.pretrained).expanduser() if config.pretrained else None
    is_local = local is not None and (local.suffix in {".pt", ".pth", ".bin", ".safetensors"} or "/" in config.pretrained)
    if is_local and not local.is_file():
        raise UserError(f"retrieval.embed.pretrained={config.pretrained!r}: no such checkpoint file")
    if is_local:
        pretrained = str(local)
    try:
        model, _, _ = open_clip.create_model_and_transforms(config.model, pretrained=pretrained, device=device)
    except RuntimeError as err:
        if is_local:
            raise UserError(f"retrieval.embed.pretrained={config.pretrained!r} does not fit {config.model}: {err}") from err
        raise UserError(
            f"could not fetch open_clip weights {config.model}/{config.pretrained} ({err}); where the hub is "
            "unreachable, download the checkpoint elsewhere and set retrieval.embed.pretrained=/path/to/open_clip_model.bin"
        ) from err
    return model.eval()


class OpenClipEmbedder:
    """Image (and text) embeddings from an open_clip model, L2-normalized float32."""

    name = "open_clip"

    def __init__(self, config: EmbedderConfig) -> None:
        import open_clip
        import torch

        if not config.model:
            raise ConfigError("retrieval.embed.backend=open_clip needs retrieval.embed.model, e.g. retrieval.embed.model=ViT-B-32")
        self.config = config
        self.device = pick_device(config)
        self.model = _build_model(config, self.device)
        self.tokenizer = open_clip.get_tokenizer(config.model)
        visual = self.model.visual
        native = visual.image_size[0] if isinstance(visual.image_size, (tuple, list)) else int(visual.image_size)
        if config.image_size and config.image_size != native:
            raise ConfigError(f"retrieval.embed.image_size={config.image_size} differs from {config.model}'s {native}; set it to 0")
        self.size = native
        preprocess_cfg = getattr(visual, "preprocess_cfg", {}) or {}
        self.mean = tuple(preprocess_cfg.get("mean", open_clip.OPENAI_DATASET_MEAN))
        self.std = tuple(preprocess_cfg.get("std", open_clip.OPENAI_DATASET_STD))
        with torch.inference_mode():
            probe = self.model.encode_image(torch.zeros(1, 3, native, native, device=self.device))
        self.dim = int(probe.shape[1])
        self.version = f"open_clip-{config.model}-{_weights_id(config.pretrained)}-{config.precision}"
        self._torch = torch

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        torch = self._torch
        outputs = []
        for start in range(0, len(images), self.config.batch_size):
            batch = preprocess_batch(images[start : start + self.config.batch_size], self.size, self.mean, self.std)
            with torch.inference_mode(), autocast(self.device, self.config.precision):
                outputs.append(self.model.encode_image(batch.to(self.device)).float().cpu().numpy())
        return l2_normalize(np.concatenate(outputs)) if outputs else np.zeros((0, self.dim), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with torch.inference_mode(), autocast(self.device, self.config.precision):
            tokens = self.tokenizer(list(texts)).to(self.device)
            features = self.model.encode_text(tokens).float().cpu().numpy()
        return l2_normalize(features)


register("open_clip", OpenClipEmbedder)
