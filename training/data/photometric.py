"""DINO's photometric augmentations on one uint8 RGB view (H x W x 3 numpy array), in a DataLoader worker.

Flip, colour jitter (brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1 in random order, as torchvision's
ColorJitter), grayscale, Gaussian blur (sigma 0.1-2) and solarization (threshold 128), each with its probability.
Every op is one OpenCV call on uint8 pixels: no PIL round trips, no float copy per view (the float conversion and
normalization happen once per batch, ``training.data.batch``). OpenCV was 3-10x faster than PIL and than
torchvision's tensor ops for these view sizes on one core (hue and blur most of all; BENCHMARKS.md).
``training.data.device_augment`` draws the same distributions batched on the training device.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

SOLARIZE_THRESHOLD = 128
_SOLARIZE_LUT = np.array([v if v < SOLARIZE_THRESHOLD else 255 - v for v in range(256)], dtype=np.uint8)
JITTER_STEPS = ("brightness", "contrast", "saturation", "hue")
BRIGHTNESS, CONTRAST, SATURATION, HUE = 0.4, 0.4, 0.2, 0.1
BLUR_SIGMA = (0.1, 2.0)


def _scaled(pixels: np.ndarray, factor: float, offset: float = 0.0) -> np.ndarray:
    """saturate(pixels * factor + offset), rounded, in uint8."""
    return cv2.addWeighted(pixels, factor, pixels, 0.0, offset)


def gray(pixels: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma (as PIL's ``convert("L")``), H x W."""
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)


def grayscale(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(gray(pixels), cv2.COLOR_GRAY2RGB)


def adjust_brightness(pixels: np.ndarray, factor: float) -> np.ndarray:
    return _scaled(pixels, factor)


def adjust_contrast(pixels: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the image's mean luma (PIL's ImageEnhance.Contrast)."""
    mean = int(gray(pixels).mean() + 0.5)
    return _scaled(pixels, factor, (1.0 - factor) * mean)


def adjust_saturation(pixels: np.ndarray, factor: float) -> np.ndarray:
    """Blend with the grayscale image (PIL's ImageEnhance.Color)."""
    return cv2.addWeighted(pixels, factor, grayscale(pixels), 1.0 - factor, 0.0)


def adjust_hue(pixels: np.ndarray, shift: float) -> np.ndarray:
    """Rotate the HSV hue by ``shift`` of a full turn (-0.5..0.5), hue stored as 0-255 as in PIL's HSV."""
    hsv = cv2.cvtColor(pixels, cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] += np.uint8(int(shift * 255) % 256)  # uint8 arithmetic wraps around: the hue is circular
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def color_jitter(rng: random.Random, pixels: np.ndarray) -> np.ndarray:
    """The four adjustments in a random order, each factor drawn uniformly (torchvision's ColorJitter ranges)."""
    steps = list(JITTER_STEPS)
    rng.shuffle(steps)
    for step in steps:
        if step == "brightness":
            pixels = adjust_brightness(pixels, rng.uniform(1 - BRIGHTNESS, 1 + BRIGHTNESS))
        elif step == "contrast":
            pixels = adjust_contrast(pixels, rng.uniform(1 - CONTRAST, 1 + CONTRAST))
        elif step == "saturation":
            pixels = adjust_saturation(pixels, rng.uniform(1 - SATURATION, 1 + SATURATION))
        else:
            pixels = adjust_hue(pixels, rng.uniform(-HUE, HUE))
    return pixels


def gaussian_blur(pixels: np.ndarray, sigma: float) -> np.ndarray:
    """Kernel radius 3 sigma, borders mirrored without repeating the edge (torch's ``reflect`` padding)."""
    return cv2.GaussianBlur(pixels, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)


def solarize(pixels: np.ndarray) -> np.ndarray:
    return cv2.LUT(pixels, _SOLARIZE_LUT)


def augment_view(
    rng: random.Random, pixels: np.ndarray, *, flip_p: float, color_jitter_p: float, grayscale_p: float,
    blur_p: float, solarize_p: float,
) -> np.ndarray:
    """Flip, colour jitter, grayscale, blur, solarize, in DINO's order, each applied with its probability."""
    if rng.random() < flip_p:
        pixels = cv2.flip(pixels, 1)
    if rng.random() < color_jitter_p:
        pixels = color_jitter(rng, pixels)
    if rng.random() < grayscale_p:
        pixels = grayscale(pixels)
    if rng.random() < blur_p:
        pixels = gaussian_blur(pixels, rng.uniform(*BLUR_SIGMA))
    if rng.random() < solarize_p:
        pixels = solarize(pixels)
    return pixels
