"""Backbones to evaluate: a ``pros export`` folder, a timm model name, or an open_clip visual tower.

Every backbone is a ``Backbone`` module whose ``forward`` returns pooled features (B, D) and patch tokens
(B, h, w, C), and which knows its input size, normalization and a fingerprint (what the feature cache is keyed on).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError
from shards.checksums import file_sha256

EXPORT_FILES = ("model.safetensors", "config.json")
OPEN_CLIP_PREFIX = "open_clip:"


@dataclass(frozen=True)
class InputSpec:
    """What images must look like for this backbone: (H, W), per-channel mean and std on [0, 1] pixels."""

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class Backbone(nn.Module):
    """A feature extractor: ``forward(images) -> (pooled (B, D), tokens (B, h, w, C))``."""

    def __init__(self, model: nn.Module, kind: str, spec: str, fingerprint: str, inputs: InputSpec) -> None:
        super().__init__()
        self.model = model
        self.kind = kind  # "timm" or "open_clip"
        self.spec = spec
        self.fingerprint = fingerprint
        self.inputs = inputs

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "open_clip":
            pooled, tokens = self.model(images)
            return pooled, _tokens_to_grid(tokens, 0)
        features = self.model.forward_features(images)
        pooled = self.model.forward_head(features, pre_logits=True)
        if features.ndim == 4:  # CNN feature map (B, C, h, w)
            return pooled, features.permute(0, 2, 3, 1)
        return pooled, _tokens_to_grid(features, getattr(self.model, "num_prefix_tokens", 1))

    @property
    def num_features(self) -> int:
        with torch.no_grad():
            probe = torch.zeros(1, 3, *self.inputs.size, device=next(self.parameters()).device)
            was_training = self.training
            self.eval()
            pooled, _ = self(probe)
            self.train(was_training)
        return int(pooled.shape[-1])

    def block_index(self, parameter_name: str) -> int | None:
        """Transformer block number of a parameter (for layer-wise lr decay), None for parameters outside blocks."""
        parts = parameter_name.split(".")
        for marker in ("blocks", "resblocks", "stages", "layers"):
            if marker in parts:
                position = parts.index(marker)
                if position + 1 < len(parts) and parts[position + 1].isdigit():
                    return int(parts[position + 1])
        return None

    def num_blocks(self) -> int:
        indices = [self.block_index(name) for name, _ in self.named_parameters()]
        return max((i for i in indices if i is not None), default=-1) + 1

    def is_embedding(self, parameter_name: str) -> bool:
        """Parameters before the first block (patch embedding, class token, position embedding)."""
        leaf = parameter_name.removeprefix("model.")
        return leaf.startswith(("patch_embed", "cls_token", "pos_embed", "reg_token", "conv1", "class_embedding",
                                "positional_embedding", "ln_pre", "stem"))


def _tokens_to_grid(tokens: torch.Tensor, prefix: int) -> torch.Tensor:
    """(B, prefix + h*w, C) -> (B, h, w, C), assuming a square grid."""
    patches = tokens[:, prefix:]
    side = int(round(patches.shape[1] ** 0.5))
    if side * side != patches.shape[1]:
        raise UserError(f"cannot arrange {patches.shape[1]} patch tokens in a square grid; use a square input size")
    return patches.reshape(patches.shape[0], side, side, patches.shape[-1])


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def load_backbone(spec: str, weights: str = "") -> Backbone:
    """Build the backbone named by ``spec`` (export folder, ``open_clip:MODEL[:PRETRAINED]``, or timm name)."""
    if spec.startswith(OPEN_CLIP_PREFIX):
        return load_open_clip(spec)
    path = Path(spec)
    if path.is_dir():
        if weights not in ("", "random"):
            raise UserError(f"--weights {weights} is for a timm model name; the folder {spec} brings its own weights "
                            f"(or pass --weights random for its architecture untrained)")
        return load_export_dir(path, random_init=weights == "random")
    if path.exists() or "/" in spec:
        raise UserError(
            f"backbone {spec!r} is not a `pros export` folder; pass a folder holding {' and '.join(EXPORT_FILES)}, "
            f"a timm model name (e.g. vit_base_patch16_224 --weights FILE), or open_clip:MODEL[:PRETRAINED]"
        )
    return load_timm(spec, weights)


def load_export_dir(path: Path, random_init: bool = False) -> Backbone:
    """A ``pros export`` folder: ``model.safetensors`` + ``config.json`` (architecture, model_args, pretrained_cfg);
    with ``random_init`` its architecture with seeded random weights, the untrained baseline beside it."""
    import timm

    missing = [name for name in EXPORT_FILES if not (path / name).is_file()]
    if missing:
        raise UserError(f"backbone folder {path} lacks {', '.join(missing)}; point at the output of `pros export`")
    try:
        config = json.loads((path / "config.json").read_text())
        architecture = config["architecture"]
    except (json.JSONDecodeError, KeyError) as err:
        raise UserError(f"{path / 'config.json'} is not a `pros export` config (needs 'architecture'): {err}") from err
    model_args = dict(config.get("model_args", {}))
    weights = path / "model.safetensors"
    if random_init:
        torch.manual_seed(0)
    model = timm.create_model(
        architecture, pretrained=not random_init, num_classes=0,
        pretrained_cfg_overlay=dict(file=str(weights), **_timm_cfg(config.get("pretrained_cfg", {}))),
        **model_args,
    )
    inputs = _input_spec(config.get("pretrained_cfg", {}), model)
    if random_init:
        fingerprint = _fingerprint("export-random", json.dumps(config, sort_keys=True))
        return Backbone(model.eval(), "timm", f"{path} --weights random", fingerprint, inputs)
    fingerprint = _fingerprint("export", file_sha256(weights), json.dumps(config, sort_keys=True))
    return Backbone(model.eval(), "timm", str(path), fingerprint, inputs)


def load_timm(name: str, weights: str) -> Backbone:
    """A timm model name with a local weights file, ``random`` init (a baseline), or "" (timm's download)."""
    import timm

    if not timm.is_model(name):
        close = timm.list_models(f"*{name.split('_')[0]}*")[:5]
        raise UserError(f"backbone {name!r} is neither a folder nor a timm model name; similar timm names: "
                        f"{', '.join(close) or 'none'}")
    if weights == "random":
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, num_classes=0)
        fingerprint = _fingerprint("timm-random", name)
    elif weights:
        file = Path(weights)
        if not file.is_file():
            raise UserError(f"--weights {weights}: no such file; pass a .safetensors/.pth/.bin file or 'random'")
        model = timm.create_model(name, pretrained=True, num_classes=0, pretrained_cfg_overlay=dict(file=str(file)))
        fingerprint = _fingerprint("timm", name, file_sha256(file))
    else:
        try:
            model = timm.create_model(name, pretrained=True, num_classes=0)
        except Exception as err:  # download failures come in many types (OSError, HF hub errors)
            raise UserError(f"could not download weights for {name!r} ({err}); pass a local file with --weights "
                            f"FILE or --weights random for an untrained baseline") from err
        fingerprint = _fingerprint("timm-pretrained", name, str(model.pretrained_cfg.get("hf_hub_id", "")))
    return Backbone(model.eval(), "timm", name, fingerprint, _input_spec(model.pretrained_cfg, model))


def load_open_clip(spec: str) -> Backbone:
    """``open_clip:MODEL`` (random init), ``open_clip:MODEL:TAG`` (downloads) or ``open_clip:MODEL:/path/ckpt``."""
    import open_clip

    rest = spec[len(OPEN_CLIP_PREFIX):]
    model_name, _, pretrained = rest.partition(":")
    if model_name not in open_clip.list_models():
        raise UserError(f"{spec!r}: unknown open_clip model {model_name!r}; see open_clip.list_models() "
                        f"(or register a JSON config with open_clip.add_model_config)")
    digest = file_sha256(Path(pretrained)) if pretrained and Path(pretrained).is_file() else pretrained
    try:
        model = open_clip.create_model(model_name, pretrained=pretrained or None)
    except Exception as err:  # missing tag, unreachable hub, bad checkpoint
        raise UserError(f"{spec!r}: could not load open_clip weights ({err}); pass a local checkpoint path "
                        f"as open_clip:{model_name}:/path/to/ckpt.pt") from err
    visual = model.visual
    if not hasattr(visual, "output_tokens"):
        raise UserError(f"{spec!r}: the visual tower {type(visual).__name__} does not expose patch tokens")
    visual.output_tokens = True
    cfg = open_clip.get_model_preprocess_cfg(model)
    size = cfg.get("size", 224)
    size = (size, size) if isinstance(size, int) else tuple(size)
    inputs = InputSpec(size=size, mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))
    torch.manual_seed(0)
    return Backbone(visual.eval(), "open_clip", spec, _fingerprint("open_clip", model_name, digest or "random"), inputs)


def _timm_cfg(pretrained_cfg: dict) -> dict:
    """The pieces of an exported pretrained_cfg that timm's overlay accepts."""
    keep = {}
    for key in ("input_size", "mean", "std", "interpolation", "crop_pct"):
        if key in pretrained_cfg:
            value = pretrained_cfg[key]
            keep[key] = tuple(value) if isinstance(value, list) else value
    return keep


def _input_spec(pretrained_cfg: dict, model: nn.Module) -> InputSpec:
    input_size = pretrained_cfg.get("input_size")
    if input_size is None:
        grid = getattr(getattr(model, "patch_embed", None), "img_size", (224, 224))
        input_size = (3, *grid)
    mean = tuple(pretrained_cfg.get("mean", (0.485, 0.456, 0.406)))
    std = tuple(pretrained_cfg.get("std", (0.229, 0.224, 0.225)))
    return InputSpec(size=(int(input_size[1]), int(input_size[2])), mean=mean, std=std)  # type: ignore[arg-type]
