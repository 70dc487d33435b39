"""Model and loss configuration of ``pros train`` (frozen dataclasses; every default documented).

``ModelConfig`` says which ViT, head and prototypes to build; ``LossConfig`` says how the teacher and student
similarity distributions are formed and matched (see docs/train_method.md for the formal definition).
``timm_name`` / ``timm_kwargs`` rebuild the backbone with ``timm.create_model`` (used by export and by tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from core.config import ConfigError

ARCHS: dict[str, dict[str, int]] = {
    # name -> embed_dim / depth / num_heads, as in timm's vit_{tiny,small,base} (DeiT / ViT papers).
    "vit_tiny": {"embed_dim": 192, "depth": 12, "num_heads": 3},
    "vit_small": {"embed_dim": 384, "depth": 12, "num_heads": 6},
    "vit_base": {"embed_dim": 768, "depth": 12, "num_heads": 12},
    # Our test/laptop size: the vit_tiny width with 4 blocks; pair it with img_size=64.
    "vit_tiny_cpu": {"embed_dim": 192, "depth": 4, "num_heads": 3},
}

# timm registers these names; any other (size, patch) pair starts from the patch-16 name and overrides patch_size.
_REGISTERED = {
    ("vit_tiny", 16),
    ("vit_small", 16),
    ("vit_small", 8),
    ("vit_base", 16),
    ("vit_base", 8),
}


@dataclass(frozen=True)
class ModelConfig:
    """The student/teacher network: backbone f (timm ViT), head g (MLP -> L2-normalised bottleneck), prototypes C.

    arch: one of vit_tiny, vit_small, vit_base, vit_tiny_cpu (192-wide, 4 blocks; for tests and the tiny-cpu preset).
    patch_size: ViT patch side in pixels (16 or 8; 8 costs 4x the tokens).
    img_size: side of the global views; local views of another size are handled by timm's dynamic_img_size.
    drop_path: stochastic-depth rate of the student (the teacher is built without drop-path, as in DINO).
    head_hidden / head_layers / bottleneck: projection head g, a head_layers-deep MLP with GELU, hidden width
        head_hidden, output width bottleneck (the prototype dimension).
    num_prototypes: K, the number of learnable prototypes (rows of C).
    """

    arch: str = "vit_small"
    patch_size: int = 16
    img_size: int = 224
    drop_path: float = 0.1
    head_hidden: int = 2048
    head_layers: int = 3
    bottleneck: int = 256
    num_prototypes: int = 8192

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"model.arch: unknown architecture {self.arch!r}; choose one of {', '.join(ARCHS)}")
        if self.patch_size not in (8, 16):
            raise ConfigError(f"model.patch_size: {self.patch_size} is not supported; use 16 (default) or 8")
        if self.img_size <= 0 or self.img_size % self.patch_size:
            raise ConfigError(
                f"model.img_size: {self.img_size} must be a positive multiple of model.patch_size={self.patch_size}"
            )
        if not 0.0 <= self.drop_path < 1.0:
            raise ConfigError(f"model.drop_path: {self.drop_path} must be in [0, 1), e.g. 0.1")
        if self.head_layers < 1:
            raise ConfigError(f"model.head_layers: {self.head_layers} must be at least 1 (default 3)")
        for key in ("head_hidden", "bottleneck"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}: must be a positive width, got {getattr(self, key)}")
        if self.num_prototypes < 2:
            raise ConfigError(f"model.num_prototypes: {self.num_prototypes} must be at least 2 (e.g. 8192)")

    @property
    def embed_dim(self) -> int:
        return ARCHS[self.arch]["embed_dim"]


def _size(arch: str) -> str:
    return "vit_tiny" if arch == "vit_tiny_cpu" else arch


def timm_name(config: ModelConfig) -> str:
    """A registered timm model name for the backbone; ``timm_kwargs`` carries the exact architecture."""
    size = _size(config.arch)
    patch = config.patch_size if (size, config.patch_size) in _REGISTERED else 16
    return f"{size}_patch{patch}_224"


def timm_kwargs(config: ModelConfig) -> dict[str, Any]:
    """Keyword arguments so that ``timm.create_model(timm_name(c), **timm_kwargs(c))`` rebuilds our backbone.

    The backbone returns the final-norm CLS token (``num_classes=0``); ``dynamic_img_size`` lets one backbone see
    global and local crops of different sizes. Training-only ``drop_path_rate`` is not included (0 at inference).
    """
    return {
        **ARCHS[config.arch],
        "patch_size": config.patch_size,
        "img_size": config.img_size,
        "num_classes": 0,
        "dynamic_img_size": True,
    }


@dataclass(frozen=True)
class LossConfig:
    """How teacher and student similarity-to-prototype distributions are formed and matched.

    kind: "pros" (our formalization, every option below open) or "dino" (DINO's loss exactly: own EMA last layer per
        network, centering, no regularizers; requires teacher_norm="center", prototypes="ema", zero regularizer weights).
    student_temp: tau_s, temperature of the student softmax.
    teacher_temp: tau_t after warm-up.
    warmup_teacher_temp: tau_t at step 0; rises linearly to teacher_temp over the warm-up, then stays.
    teacher_temp_warmup_fraction: the warm-up length as a fraction of the run's total steps (0.3: 30 of 100 epochs).
    teacher_norm: "center" (subtract an EMA center of teacher logits, DINO) or "sinkhorn" (Sinkhorn-Knopp, SwAV/DINOv2).
    center_momentum: EMA momentum of the center.
    sinkhorn_iters: Sinkhorn-Knopp iterations.
    prototypes: "shared" (one learnable C for teacher and student, MSN-style) or "ema" (the teacher keeps an EMA copy
        of C, DINO-style).
    me_max_weight: weight of MSN's mean-entropy maximisation term (log K - H(mean student distribution)).
    koleo_weight: weight of the KoLeo term on the student's normalised features of the global views.
    """

    kind: Literal["pros", "dino"] = "pros"
    student_temp: float = 0.1
    teacher_temp: float = 0.07
    warmup_teacher_temp: float = 0.04
    teacher_temp_warmup_fraction: float = 0.3
    teacher_norm: Literal["center", "sinkhorn"] = "center"
    center_momentum: float = 0.9
    sinkhorn_iters: int = 3
    prototypes: Literal["shared", "ema"] = "shared"
    me_max_weight: float = 0.0
    koleo_weight: float = 0.0

    def __post_init__(self) -> None:
        for key in ("student_temp", "teacher_temp", "warmup_teacher_temp"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"loss.{key}: a temperature must be > 0, got {getattr(self, key)}")
        if not 0.0 <= self.teacher_temp_warmup_fraction <= 1.0:
            raise ConfigError(
                f"loss.teacher_temp_warmup_fraction: {self.teacher_temp_warmup_fraction} must be in [0, 1], e.g. 0.3"
            )
        if not 0.0 <= self.center_momentum < 1.0:
            raise ConfigError(f"loss.center_momentum: {self.center_momentum} must be in [0, 1), e.g. 0.9")
        if self.sinkhorn_iters < 1:
            raise ConfigError(f"loss.sinkhorn_iters: {self.sinkhorn_iters} must be at least 1 (default 3)")
        for key in ("me_max_weight", "koleo_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"loss.{key}: a weight must be >= 0, got {getattr(self, key)}")
        if self.kind == "dino":
            _check_dino(self)


def _check_dino(config: LossConfig) -> None:
    """DINO's loss has exactly one form; refuse options it does not have rather than silently ignore them."""
    required = {"teacher_norm": "center", "prototypes": "ema", "me_max_weight": 0.0, "koleo_weight": 0.0}
    wrong = {k: v for k, v in required.items() if getattr(config, k) != v}
    if wrong:
        fixes = ", ".join(f"loss.{k}={v}" for k, v in wrong.items())
        raise ConfigError(
            f"loss.kind=dino reproduces DINO's loss, which needs {fixes}; set those or use loss.kind=pros"
        )
