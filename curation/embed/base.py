"""The ``ImageEmbedder`` protocol and the image preprocessing its torch backends share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    import torch


@runtime_checkable
class ImageEmbedder(Protocol):
    """Turns RGB images into L2-normalized float32 vectors; ``name`` and ``version`` enter the embed stage's marker."""

    name: str
    version: str
    dim: int

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, dim) float32, each row of unit length, for N RGB (H, W, 3) uint8 images."""
        ...


@runtime_checkable
class TextEmbedder(Protocol):
    """An embedder with a text tower: prompts land in the same space as images."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(N, dim) float32 unit vectors for N prompts."""
        ...


def has_text_tower(embedder: object) -> bool:
    return callable(getattr(embedder, "embed_texts", None))


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); all-zero rows stay zero instead of becoming NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def check_images(images: Sequence[np.ndarray]) -> None:
    for position, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image {position} has shape {image.shape} and dtype {image.dtype}; embedders take RGB (H, W, 3) uint8"
            )


def preprocess_batch(
    images: Sequence[np.ndarray], size: int, mean: Sequence[float], std: Sequence[float]
) -> "torch.Tensor":
    """Resize the shorter side to ``size`` (antialiased), centre-crop a ``size`` square, normalize: (N, 3, S, S)."""
    import torch
    import torch.nn.functional as F

    check_images(images)
    batch = []
    for image in images:
        tensor = torch.from_numpy(np.require(image, requirements=["C", "W"])).permute(2, 0, 1)[None].float().div_(255.0)
        height, width = image.shape[:2]
        scale = size / min(height, width)
        new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
        tensor = F.interpolate(tensor, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
        top, left = (new_h - size) // 2, (new_w - size) // 2
        batch.append(tensor[0, :, top : top + size, left : left + size])
    stacked = torch.stack(batch)
    mean_t = torch.tensor(mean, dtype=stacked.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=stacked.dtype).view(1, 3, 1, 1)
    return (stacked - mean_t) / std_t
