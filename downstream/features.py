"""Frozen-backbone features, one forward pass per image, cached on disk.

A cache entry is a folder ``<cache_dir>/<benchmark>-<split>-<key>/`` holding ``pooled.npy`` (N, D) float32,
``windows.npy`` (N, 4) crop windows and, for landmark tasks, ``tokens.npy`` (N, h, w, C) float16, plus
``meta.json``. The key hashes the backbone fingerprint, the benchmark split (image paths, in order), the crop /
resize / normalization settings and whether tokens are kept, so any change re-extracts. Entries are written into a
temporary folder and renamed, so an interrupted extraction never leaves a half entry behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from core.hardware import resolve_precision
from downstream.backbones import Backbone
from downstream.config import FeatureConfig
from downstream.datasets import BenchmarkSplit
from downstream.runtime import autocast
from downstream.transforms import ImageDataset

CACHE_VERSION = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Features:
    """Extracted features of one split, row i belonging to ``split.samples[i]``."""

    pooled: np.ndarray
    windows: np.ndarray
    tokens: np.ndarray | None = None
    cache_entry: Path | None = None  # the cache folder these came from or were written to


def default_cache_dir() -> Path:
    root = os.environ.get("PROS_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "pros") / "eval_features"


def cache_key(backbone: Backbone, split: BenchmarkSplit, config: FeatureConfig, with_tokens: bool,
              precision: str) -> str:
    listing = hashlib.sha256("\n".join(str(s.image_path) for s in split.samples).encode()).hexdigest()
    boxes = hashlib.sha256(repr([s.box for s in split.samples]).encode()).hexdigest()
    identity = {
        "version": CACHE_VERSION,
        "backbone": backbone.fingerprint,
        "benchmark": split.benchmark,
        "split": split.split,
        "images": listing,
        "boxes": boxes,
        "inputs": asdict(backbone.inputs),
        "box_scale": config.box_scale,
        "precision": precision,
        "tokens": with_tokens,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def extract_features(
    backbone: Backbone,
    split: BenchmarkSplit,
    config: FeatureConfig,
    device: torch.device,
    with_tokens: bool = False,
) -> Features:
    """Features of every sample of ``split``, from the cache when an entry with the same key exists."""
    cache_dir = Path(config.cache_dir) if config.cache_dir is not None else default_cache_dir()
    precision = str(resolve_precision(config.precision, device.type).value)
    entry = cache_dir / f"{split.benchmark}-{split.split}-{cache_key(backbone, split, config, with_tokens, precision)}"
    if (entry / "meta.json").is_file():
        log.info("features of %s/%s: cached in %s", split.benchmark, split.split, entry)
        return replace(load_entry(entry), cache_entry=entry)
    log.info("features of %s/%s: extracting %d images on %s into %s", split.benchmark, split.split, len(split),
             device, entry)
    features = run_extraction(backbone, split, config, device, with_tokens)
    save_entry(entry, features, {"backbone": backbone.spec, "benchmark": split.benchmark, "split": split.split,
                                 "count": len(split)})
    return replace(features, cache_entry=entry)


@torch.no_grad()
def run_extraction(
    backbone: Backbone, split: BenchmarkSplit, config: FeatureConfig, device: torch.device, with_tokens: bool
) -> Features:
    dataset = ImageDataset(split.samples, split.task, backbone.inputs, config.box_scale)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, num_workers=config.num_workers, pin_memory=device.type == "cuda"
    )
    backbone = backbone.to(device).eval()
    pooled, tokens, windows = [], [], []
    bar = tqdm(total=len(dataset), desc=f"features {split.benchmark}/{split.split}", unit="img", leave=False,
               disable=None)
    for images, window, _ in loader:
        with autocast(device, config.precision):
            batch_pooled, batch_tokens = backbone(images.to(device, non_blocking=True))
        pooled.append(batch_pooled.float().cpu().numpy())
        if with_tokens:
            tokens.append(batch_tokens.to(torch.float16).cpu().numpy())
        windows.append(window.numpy())
        bar.update(len(images))
    bar.close()
    return Features(
        pooled=np.concatenate(pooled).astype(np.float32),
        windows=np.concatenate(windows),
        tokens=np.concatenate(tokens) if with_tokens else None,
    )


def save_entry(entry: Path, features: Features, meta: dict) -> None:
    temporary = entry.with_name(entry.name + f".tmp{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    np.save(temporary / "pooled.npy", features.pooled)
    np.save(temporary / "windows.npy", features.windows)
    if features.tokens is not None:
        np.save(temporary / "tokens.npy", features.tokens)
    (temporary / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if entry.exists():  # another process finished the same entry first; ours is identical
        shutil.rmtree(temporary)
        return
    os.replace(temporary, entry)


def load_entry(entry: Path) -> Features:
    tokens_file = entry / "tokens.npy"
    return Features(
        pooled=np.load(entry / "pooled.npy"),
        windows=np.load(entry / "windows.npy"),
        tokens=np.load(tokens_file, mmap_mode="r") if tokens_file.is_file() else None,
    )
