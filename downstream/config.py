"""Configuration of ``pros eval``: frozen dataclasses with documented defaults (see docs/eval.md).

Resolved with ``core.config.build_config(EvalConfig, preset, ["linear.epochs=100", ...])``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


@dataclass(frozen=True)
class FeatureConfig:
    """How images become backbone inputs and how extracted features are cached."""

    batch_size: int = 64  # images per forward pass during extraction
    num_workers: int = 2  # image-decoding worker processes (0 = in the main process)
    cache_dir: Path | None = None  # None: $PROS_CACHE/eval_features or ~/.cache/pros/eval_features
    box_scale: float = 1.2  # square crop side = box_scale * max(box w, h), when the dataset gives a face box
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast where the device runs it natively


@dataclass(frozen=True)
class LinearConfig:
    """Linear probe on frozen cached features (a 1x1 heatmap head on patch tokens for landmarks).

    Scheduled in optimizer steps: ``epochs`` passes over the training set, but at least ``min_steps`` steps.
    """

    epochs: int = 50
    min_steps: int = 1000  # floor on the optimizer steps, so 30 training images still get enough updates
    convergence_tolerance: float = 0.02  # warn if the loss fell > this x the floor's loss in the last quarter
    optimizer: Literal["auto", "sgd", "adamw"] = "auto"  # auto: SGD (momentum 0.9) on pooled features, AdamW on tokens
    lr: float = 0.0  # peak learning rate, cosine decay to 0; 0: the optimizer's default (SGD 0.1, AdamW 1e-2)
    weight_decay: float = 1e-4
    batch_size: int = 256


@dataclass(frozen=True)
class FinetuneConfig:
    """End-to-end fine-tuning of backbone + head with layer-wise learning-rate decay."""

    epochs: int = 20
    lr: float = 5e-4  # peak learning rate of the head and the last block
    layer_decay: float = 0.65  # block i of L gets lr * layer_decay ** (L - i); the embeddings get the smallest
    weight_decay: float = 0.05
    batch_size: int = 64
    warmup_epochs: int = 2  # linear warm-up, then cosine decay to 0
    hflip: bool = True  # random horizontal flip (attributes and expression only: flipping landmarks swaps points)
    num_workers: int = 2


@dataclass(frozen=True)
class FewShotConfig:
    """Label subsets: each shot setting is trained once per seed; tables report mean ± std over the seeds."""

    shots: tuple[str, ...] = ()  # e.g. ["1%", "10%", "5"]: a percentage of the training set, or k per class
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class EvalConfig:
    """Everything ``pros eval`` needs besides the backbone, the data root and the output folder."""

    benchmark: str = "celeba"
    protocol: Literal["linear", "finetune"] = "linear"
    train_split: str = ""  # empty: the benchmark's training split
    eval_splits: tuple[str, ...] = ()  # empty: the benchmark's standard test splits (e.g. full, common, challenging)
    weights: str = ""  # for a timm model name: a local weights file, "random", or "" for timm's pretrained download
    device: str = "auto"  # auto: cuda when present, else cpu
    seed: int = 0  # seed of the full-data run (few-shot runs use fewshot.seeds)
    plots: bool = True
    dataset_options: Any = field(default_factory=dict)  # passed to the loader, e.g. dataset_options.num_classes=8
    features: FeatureConfig = field(default_factory=FeatureConfig)
    linear: LinearConfig = field(default_factory=LinearConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    fewshot: FewShotConfig = field(default_factory=FewShotConfig)
