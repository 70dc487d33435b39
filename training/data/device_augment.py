"""``data.augment_on=device``: DINO's photometric augmentations batched on the training device.

The same recipe as ``training.data.photometric`` (which runs per view in the workers): flip, colour jitter
(brightness, contrast, saturation, hue in a random order per image, p ``color_jitter_p``), grayscale, Gaussian blur
(sigma 0.1-2, p per view kind) and solarization (second global view), each drawn per image from a
``torch.Generator``. Images are floats in 0..1, clamped after every adjustment as uint8 pixels saturate.
The tests check that both paths draw the same distributions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from training.config import DataConfig
from training.data.photometric import BLUR_SIGMA, BRIGHTNESS, CONTRAST, HUE, SATURATION, SOLARIZE_THRESHOLD

LUMA = (0.299, 0.587, 0.114)
BLUR_RADIUS = 6  # 3 sigma at the largest sigma; beyond it the weights are below 1e-2 of the centre


def luma(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] -> [B, 1, H, W]."""
    weights = torch.tensor(LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def _per_image(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (images * _per_image(factor)).clamp_(0, 1)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    mean = luma(images).mean(dim=(2, 3), keepdim=True)
    f = _per_image(factor)
    return (images * f + mean * (1 - f)).clamp_(0, 1)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = _per_image(factor)
    return (images * f + luma(images) * (1 - f)).clamp_(0, 1)


def rgb_to_hsv(images: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB in 0..1 -> hue (turns, 0..1), saturation, value."""
    r, g, b = images.unbind(dim=1)
    value, strongest = images.max(dim=1)  # ties go to the first channel, as in PIL and OpenCV
    chroma = value - images.min(dim=1).values
    saturation = chroma / value.clamp_min(1e-12)
    inverse = 1.0 / chroma.clamp_min(1e-12)
    sector = torch.where(strongest == 0, (g - b) * inverse,
                         torch.where(strongest == 1, (b - r) * inverse + 2, (r - g) * inverse + 4))
    hue = sector / 6
    hue = hue - hue.floor()
    return torch.stack([torch.where(chroma > 0, hue, 0.0), saturation, value], dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    hue, saturation, value = hsv.unbind(dim=1)
    sector = hue * 6
    chroma = value * saturation

    def channel(n: float) -> torch.Tensor:
        k = sector + n
        k = torch.where(k >= 6, k - 6, k)
        return value - chroma * torch.clamp(torch.minimum(k, 4 - k), 0, 1)

    return torch.stack([channel(5), channel(3), channel(1)], dim=1)


def adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    hsv = rgb_to_hsv(images)
    hue = hsv[:, 0] + shift.view(-1, 1, 1)
    hsv[:, 0] = hue - hue.floor()
    return hsv_to_rgb(hsv).clamp_(0, 1)


JITTER_OPS: tuple[tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], float, float], ...] = (
    (adjust_brightness, 1 - BRIGHTNESS, 1 + BRIGHTNESS),
    (adjust_contrast, 1 - CONTRAST, 1 + CONTRAST),
    (adjust_saturation, 1 - SATURATION, 1 + SATURATION),
    (adjust_hue, -HUE, HUE),
)


def _uniform(n: int, low: float, high: float, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)


def _chance(n: int, p: float, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=like.device) < p


def color_jitter(images: torch.Tensor, apply: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Per image: the four adjustments in its own random order; each op runs only on the images whose turn it is."""
    n = images.shape[0]
    order = torch.rand(n, len(JITTER_OPS), generator=generator, device=images.device).argsort(dim=1)
    factors = [_uniform(n, low, high, images, generator) for _, low, high in JITTER_OPS]
    images = images.clone()
    for position in range(len(JITTER_OPS)):
        for op_index, (op, _, _) in enumerate(JITTER_OPS):
            chosen = (apply & (order[:, position] == op_index)).nonzero().flatten()
            if chosen.numel():
                images[chosen] = op(images[chosen], factors[op_index][chosen])
    return images


def blur_matrices(sigma: torch.Tensor, size: int) -> torch.Tensor:
    """[B, size, size]: row i holds the Gaussian weights (radius BLUR_RADIUS) of output pixel i over the input
    pixels, with the border mirrored (reflect padding folded into the matrix)."""
    offsets = torch.arange(-BLUR_RADIUS, BLUR_RADIUS + 1, device=sigma.device)
    weights = torch.exp(-(offsets[None].to(sigma.dtype) ** 2) / (2 * sigma[:, None] ** 2))
    weights = weights / weights.sum(dim=1, keepdim=True)  # [B, taps]
    source = torch.arange(size, device=sigma.device)[:, None] + offsets[None]  # [size, taps]
    source = source.abs()
    source = torch.where(source > size - 1, 2 * (size - 1) - source, source).clamp(0, size - 1)
    matrices = torch.zeros(sigma.shape[0], size, size, device=sigma.device, dtype=sigma.dtype)
    index = source[None].expand(sigma.shape[0], -1, -1)
    return matrices.scatter_add_(2, index, weights[:, None, :].expand(-1, size, -1))


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """A separable Gaussian per image (its own sigma), as two batched matrix products (rows, then columns)."""
    _, _, h, w = images.shape
    vertical = blur_matrices(sigma, h)[:, None]  # [B, 1, H, H]
    horizontal = blur_matrices(sigma, w)[:, None].transpose(-1, -2)  # [B, 1, W, W]
    return vertical @ images @ horizontal


def _where(mask: torch.Tensor, changed: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), changed, images)


def augment_views(
    images: torch.Tensor, config: DataConfig, blur_p: float, solarize_p: float, generator: torch.Generator
) -> torch.Tensor:
    """One view kind of a batch: [B, 3, H, W] floats in 0..1 -> augmented, same shape."""
    n = images.shape[0]
    images = _where(_chance(n, config.flip_p, images, generator), images.flip(-1), images)
    images = color_jitter(images, _chance(n, config.color_jitter_p, images, generator), generator)
    images = _where(_chance(n, config.grayscale_p, images, generator), luma(images).expand_as(images), images)
    blur = _chance(n, blur_p, images, generator)
    sigma = _uniform(n, *BLUR_SIGMA, images, generator)
    if blur.any():
        images = _where(blur, gaussian_blur(images, sigma), images)
    solar = _chance(n, solarize_p, images, generator)
    if solar.any():
        images = _where(solar, torch.where(images >= SOLARIZE_THRESHOLD / 255, 1 - images, images), images)
    return images


def view_probabilities(config: DataConfig, view_index: int) -> tuple[float, float]:
    """(blur_p, solarize_p) of view ``view_index`` in [global_1, global_2, local_1, ...]."""
    g_blur, g2_blur, l_blur = config.blur_p
    if view_index == 0:
        return g_blur, 0.0
    if view_index == 1:
        return g2_blur, config.solarize_p
    return l_blur, 0.0


def augment_batch(views: list[torch.Tensor], config: DataConfig, generator: torch.Generator) -> list[torch.Tensor]:
    """All views of a collated batch (floats in 0..1), each view kind with its own probabilities."""
    return [augment_views(view, config, *view_probabilities(config, i), generator) for i, view in enumerate(views)]
