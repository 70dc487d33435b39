"""Multi-crop augmentation (DINO's recipe) on PIL images, driven by an explicit ``random.Random``.

Every random choice comes from the generator handed in, so a stream seeded by (seed, start step, consumer) gives
the same views on every rerun, and no global RNG is touched (the training process's RNG state stays its own).
Two global views (scale 0.4-1) and N local views (scale 0.05-0.4), each with flip, colour jitter, grayscale,
Gaussian blur; solarization on the second global view. ``face_aware`` keeps the main face's 5 landmarks inside the
global crops.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from training.config import DataConfig

Point = tuple[float, float]
CropBox = tuple[int, int, int, int]  # left, top, width, height
RATIO = (3 / 4, 4 / 3)


def random_crop_box(
    rng: random.Random, width: int, height: int, scale: Sequence[float], keep: Sequence[Point] = ()
) -> CropBox:
    """A RandomResizedCrop box (area fraction in ``scale``, aspect ratio 3/4-4/3).

    With ``keep`` points the box is placed so it contains all of them when its size allows it, otherwise it is
    centred on them; the size is drawn exactly as without points, so face-aware crops zoom the same way.
    """
    area = width * height
    log_ratio = (math.log(RATIO[0]), math.log(RATIO[1]))
    w, h = width, height
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= width and 0 < ch <= height:
            w, h = cw, ch
            break
    else:
        side = min(width, height)
        w = h = side
    if keep:
        left = _place(rng, [p[0] for p in keep], w, width)
        top = _place(rng, [p[1] for p in keep], h, height)
    else:
        left, top = rng.randint(0, width - w), rng.randint(0, height - h)
    return left, top, w, h


def _place(rng: random.Random, coords: list[float], size: int, limit: int) -> int:
    """Start of a window of ``size`` inside [0, limit] covering ``coords`` when possible (else centred on them)."""
    low = max(0, math.ceil(max(coords)) - size)
    high = min(limit - size, math.floor(min(coords)))
    if low <= high:
        return rng.randint(low, high)
    centre = (min(coords) + max(coords)) / 2
    return int(min(max(round(centre - size / 2), 0), limit - size))


def color_jitter(rng: random.Random, image: Image.Image) -> Image.Image:
    """Brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1 in random order (torchvision's ColorJitter)."""
    steps = ["brightness", "contrast", "saturation", "hue"]
    rng.shuffle(steps)
    for step in steps:
        if step == "brightness":
            image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.4))
        elif step == "contrast":
            image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.6, 1.4))
        elif step == "saturation":
            image = ImageEnhance.Color(image).enhance(rng.uniform(0.8, 1.2))
        else:
            hsv = np.array(image.convert("HSV"))
            hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.uniform(-0.1, 0.1) * 255)) % 256
            image = Image.fromarray(hsv, "HSV").convert("RGB")
    return image


@dataclass(frozen=True)
class ViewRecipe:
    size: int
    scale: tuple[float, float]
    blur_p: float
    solarize_p: float
    face_aware: bool


class MultiCrop:
    """``(image, landmarks) -> [global_1, global_2, local_1, ..., local_N]`` as normalized CHW float tensors."""

    def __init__(self, config: DataConfig) -> None:
        self.config = config
        g_blur, g2_blur, l_blur = config.blur_p
        self.recipes = [
            ViewRecipe(config.global_size, config.global_scale, g_blur, 0.0, config.face_aware),
            ViewRecipe(config.global_size, config.global_scale, g2_blur, config.solarize_p, config.face_aware),
        ] + [ViewRecipe(config.local_size, config.local_scale, l_blur, 0.0, False)] * config.num_local
        self.mean = torch.tensor(config.mean).view(3, 1, 1)
        self.std = torch.tensor(config.std).view(3, 1, 1)

    def __call__(self, rng: random.Random, image: Image.Image, keep: Sequence[Point] = ()) -> list[torch.Tensor]:
        return [self.view(rng, image, recipe, keep if recipe.face_aware else ()) for recipe in self.recipes]

    def view(self, rng: random.Random, image: Image.Image, recipe: ViewRecipe, keep: Sequence[Point]) -> torch.Tensor:
        c = self.config
        left, top, w, h = random_crop_box(rng, image.width, image.height, recipe.scale, keep)
        view = image.resize((recipe.size, recipe.size), Image.BICUBIC, box=(left, top, left + w, top + h))
        if rng.random() < c.flip_p:
            view = view.transpose(Image.FLIP_LEFT_RIGHT)
        if rng.random() < c.color_jitter_p:
            view = color_jitter(rng, view)
        if rng.random() < c.grayscale_p:
            view = view.convert("L").convert("RGB")
        if rng.random() < recipe.blur_p:
            view = view.filter(ImageFilter.GaussianBlur(rng.uniform(0.1, 2.0)))
        if rng.random() < recipe.solarize_p:
            view = ImageOps.solarize(view, threshold=128)
        return self.to_tensor(view)

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        array = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
        return (array.float().div_(255) - self.mean) / self.std
