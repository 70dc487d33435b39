"""The resolved configuration of a training run: model and loss (owned by ``training.model.config``) plus data,
optimization and run sections. Defaults follow DINO's ViT-S/16 recipe; ``training/presets/*.yaml`` hold only the
differences. Built with ``core.config.build_config`` (defaults -> preset -> ``key=value`` overrides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from core.config import ConfigError, build_config
from training.model.config import LossConfig, ModelConfig

PRESET_DIR = Path(__file__).resolve().parent / "presets"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataConfig:
    """Multi-crop views streamed from shards."""

    batch_size: int = 64  # per process; the global batch is batch_size x world size
    num_workers: int = 4  # DataLoader worker processes per training process (0 decodes in the main process)
    prefetch_factor: int = 2  # batches each worker prepares ahead
    shuffle_buffer: int = 1000  # samples held for shuffling in each worker
    samples_per_epoch: int | None = None  # None: the sum of sizes.json over the shards given
    stall_timeout_s: float = 300.0  # no usable sample for this long (or every shard failing) stops the run; 0: never
    global_size: int = 224  # side of the 2 global views
    local_size: int = 96  # side of the local views
    num_local: int = 8  # number of local views (0 disables them)
    global_scale: tuple[float, float] = (0.4, 1.0)  # area fraction range of global crops
    local_scale: tuple[float, float] = (0.05, 0.4)  # area fraction range of local crops
    face_aware: bool = False  # global crops keep the 5 landmarks of the main face (from the json member)
    flip_p: float = 0.5
    color_jitter_p: float = 0.8  # brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1 (DINO)
    grayscale_p: float = 0.2
    blur_p: tuple[float, float, float] = (1.0, 0.1, 0.5)  # first global, second global, local views (DINO)
    solarize_p: float = 0.2  # second global view only (DINO)
    # where flip, colour jitter, grayscale, blur and solarization run: "worker" (per view, in the DataLoader
    # workers) or "device" (batched on the training device, which frees the worker cores for decoding and cropping)
    augment_on: Literal["worker", "device"] = "worker"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class OptimConfig:
    """AdamW and the per-step cosine schedules. Durations are in epochs (see ``RunConfig.epochs``); the teacher
    temperature warm-up is ``loss.teacher_temp_warmup_fraction`` of the run."""

    base_lr: float = 5e-4  # learning rate at a global batch of 256; scaled linearly: lr = base_lr * batch / 256
    min_lr: float = 1e-6  # final learning rate of the cosine
    warmup_epochs: float = 10.0  # linear learning-rate warm-up from 0
    weight_decay: float = 0.04  # start of the weight-decay cosine (norms and biases never decay)
    weight_decay_end: float = 0.4
    betas: tuple[float, float] = (0.9, 0.999)
    clip_grad: float = 3.0  # max gradient norm; 0 disables clipping
    freeze_prototypes_epochs: float = 1.0  # prototypes get no update for this long
    momentum_teacher: float = 0.996  # teacher EMA momentum, cosine to momentum_teacher_end
    momentum_teacher_end: float = 1.0


@dataclass(frozen=True)
class RunConfig:
    """How long, where and how the run goes."""

    epochs: float = 100.0  # schedule length; one epoch = samples_per_epoch / global batch steps
    max_steps: int | None = None  # stop here; when set it is also the schedule length (overrides epochs)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast where the device runs it natively
    compile: bool = False  # torch.compile the student
    num_threads: int = 0  # torch intra-op CPU threads per process (0: OMP_NUM_THREADS, else usable cores - workers)
    strategy: Literal["ddp", "fsdp"] = "ddp"  # fsdp: FSDP2 fully_shard of the student's blocks
    log_every: int = 10  # steps between log lines, JSONL records and monitors
    checkpoint_every: int = 500  # steps between checkpoints (one is always written at the end)
    keep_checkpoints: int = 3  # the newest N checkpoints are kept
    resume: bool = True  # continue from RUN/checkpoints when one exists
    max_bad_steps: int = 20  # stop after this many consecutive NaN/inf losses
    tensorboard: bool = False  # also write RUN/tensorboard (needs the tensorboard package)
    plot_every: int = 1000  # steps between RUN/curves.png redraws (0: at the end only)
    trace_keys: bool = False  # write RUN/data_trace.jsonl: the sample keys of every step (data-order debugging)
    inject_nan_steps: tuple[int, ...] = ()  # make the loss NaN at these steps (tests the NaN guard)


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(preset_names())} or pass --config FILE")
    return path


def load_train_config(
    config_file: Path | None = None, preset: str | None = None, overrides: Sequence[str] = ()
) -> TrainConfig:
    """Defaults -> ``--config FILE`` or ``--preset NAME`` -> ``key=value`` overrides, checked."""
    if config_file is not None and preset is not None:
        raise ConfigError("pass either --config FILE or --preset NAME, not both")
    source = config_file if config_file is not None else (preset_path(preset) if preset else None)
    config = build_config(TrainConfig, source, overrides)
    check_config(config)
    return config


def check_config(config: TrainConfig) -> None:
    """Reject values that would only fail later, naming the key and a valid value."""
    data, run = config.data, config.run
    positive = {
        "data.batch_size": data.batch_size, "data.global_size": data.global_size, "data.local_size": data.local_size,
        "run.log_every": run.log_every, "run.checkpoint_every": run.checkpoint_every,
        "run.keep_checkpoints": run.keep_checkpoints, "run.max_bad_steps": run.max_bad_steps,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be positive, got {value}")
    for key, (low, high) in {"data.global_scale": data.global_scale, "data.local_scale": data.local_scale}.items():
        if not 0 < low <= high <= 1:
            raise ConfigError(f"{key} must be two fractions 0 < low <= high <= 1, got [{low}, {high}]")
    if data.stall_timeout_s < 0:
        raise ConfigError(f"data.stall_timeout_s must be >= 0 (0 waits forever), got {data.stall_timeout_s}")
    if data.num_local < 0 or data.num_workers < 0:
        raise ConfigError("data.num_local and data.num_workers must be >= 0")
    if data.global_size != config.model.img_size:
        raise ConfigError(
            f"data.global_size={data.global_size} differs from model.img_size={config.model.img_size}; "
            f"set both to the same value (the global views are the model's native size)"
        )
    for key, size in {"data.global_size": data.global_size, "data.local_size": data.local_size}.items():
        if size % config.model.patch_size:
            raise ConfigError(f"{key}={size} is not a multiple of model.patch_size={config.model.patch_size}")
    if run.max_steps is not None and run.max_steps <= 0:
        raise ConfigError(f"run.max_steps must be positive, got {run.max_steps}")
    if run.max_steps is None and run.epochs <= 0:
        raise ConfigError(f"run.epochs must be positive, got {run.epochs}")
