"""Multi-crop views (DINO's recipe) from one stored image, driven by an explicit ``random.Random``.

Every random choice comes from the generator handed in, so a stream seeded by (seed, start step, consumer) gives
the same views on every rerun, and no global RNG is touched (the training process's RNG state stays its own).
Two global views (scale 0.4-1) and N local views (scale 0.05-0.4), each with flip, colour jitter, grayscale,
Gaussian blur; solarization on the second global view (``training.data.photometric``). ``face_aware`` keeps the main
face's 5 landmarks inside the global crops. All crop boxes are drawn first, so the JPEG can be decoded at the
smallest scale the boxes allow.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from training.config import DataConfig
from training.data.photometric import augment_view

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


@dataclass(frozen=True)
class ViewRecipe:
    size: int
    scale: tuple[float, float]
    blur_p: float
    solarize_p: float
    face_aware: bool


class MultiCrop:
    """``(image, landmarks) -> [global_1, global_2, local_1, ..., local_N]``.

    ``uint8_views`` is what the stream yields: CHW uint8 tensors, each resampled once from the source (decoded in
    JPEG draft mode at 1/2, 1/4 or 1/8 scale when every crop box stays at least its view's size there), with the
    photometric augmentations applied unless ``data.augment_on=device``. ``training.data.batch`` converts a
    collated batch to float and normalizes it. Calling the object gives one sample's normalized float views.
    """

    def __init__(self, config: DataConfig) -> None:
        self.config = config
        g_blur, g2_blur, l_blur = config.blur_p
        self.recipes = [
            ViewRecipe(config.global_size, config.global_scale, g_blur, 0.0, config.face_aware),
            ViewRecipe(config.global_size, config.global_scale, g2_blur, config.solarize_p, config.face_aware),
        ] + [ViewRecipe(config.local_size, config.local_scale, l_blur, 0.0, False)] * config.num_local
        self.photometric_in_worker = config.augment_on == "worker"

    def __call__(self, rng: random.Random, image: Image.Image, keep: Sequence[Point] = ()) -> list[torch.Tensor]:
        return [normalize(view[None].float(), self.config)[0] for view in self.uint8_views(rng, image, keep)]

    def uint8_views(self, rng: random.Random, image: Image.Image, keep: Sequence[Point] = ()) -> list[torch.Tensor]:
        """``image`` may be opened lazily (``Image.open`` without ``load``): then it is decoded in draft mode where
        that loses nothing; ``keep`` is in the pixels of ``image.size`` (the stored size)."""
        width, height = image.size
        boxes = [random_crop_box(rng, width, height, r.scale, keep if r.face_aware else ()) for r in self.recipes]
        source = decode_for_views(image, boxes, [r.size for r in self.recipes])
        fx, fy = source.width / width, source.height / height
        views = []
        for recipe, (left, top, w, h) in zip(self.recipes, boxes):
            box = (left * fx, top * fy, (left + w) * fx, (top + h) * fy)
            pixels = np.asarray(source.resize((recipe.size, recipe.size), Image.BICUBIC, box=box))
            if self.photometric_in_worker:
                pixels = augment_view(
                    rng, pixels, flip_p=self.config.flip_p, color_jitter_p=self.config.color_jitter_p,
                    grayscale_p=self.config.grayscale_p, blur_p=recipe.blur_p, solarize_p=recipe.solarize_p,
                )
            views.append(torch.from_numpy(np.array(pixels, dtype=np.uint8, copy=True)).permute(2, 0, 1))
        return views


def draft_scale(boxes: Sequence[CropBox], sizes: Sequence[int]) -> int:
    """The largest JPEG DCT scale (8, 4, 2, else 1) at which every crop box is still >= its view's side."""
    for scale in (8, 4, 2):
        if all(min(w, h) >= scale * size for (_, _, w, h), size in zip(boxes, sizes)):
            return scale
    return 1


def decode_for_views(image: Image.Image, boxes: Sequence[CropBox], sizes: Sequence[int]) -> Image.Image:
    """``image`` as RGB, decoded at the smallest JPEG draft scale that keeps every view a downsampling."""
    scale = draft_scale(boxes, sizes)
    if scale > 1 and image.format == "JPEG":
        # PIL picks the largest DCT scale whose result is still >= the size asked for: floor division asks for s.
        image.draft("RGB", (max(1, image.width // scale), max(1, image.height // scale)))
    return image.convert("RGB")


def normalize(batch: torch.Tensor, config: DataConfig, max_value: float = 255.0) -> torch.Tensor:
    """[B, 3, H, W] float pixels in 0..max_value -> (pixels / max_value - mean) / std, in place."""
    mean = torch.tensor(config.mean, device=batch.device, dtype=batch.dtype).view(1, 3, 1, 1)
    std = torch.tensor(config.std, device=batch.device, dtype=batch.dtype).view(1, 3, 1, 1)
    return batch.div_(max_value).sub_(mean).div_(std)
