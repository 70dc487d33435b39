"""From a dataset sample to a backbone input: crop window, resize, normalize; landmark coordinate mapping.

The crop window is a square around the face box scaled by ``box_scale`` when the dataset gives a box; for landmark
sets without boxes (300W) it is the extent of the annotated points (the usual ground-truth box of that benchmark);
otherwise the whole image. Landmarks are learned in window coordinates normalized to [0, 1] and mapped back to
image pixels for the metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.errors import UserError
from downstream.backbones import InputSpec
from downstream.datasets import BenchmarkSplit, FaceSample

Window = tuple[float, float, float, float]


def crop_window(sample: FaceSample, task: str, box_scale: float, image_size: tuple[int, int]) -> Window:
    """(x0, y0, x1, y1) of the region fed to the backbone, in image pixels."""
    box = sample.box
    if box is None and task == "landmarks":
        points = np.asarray(sample.target, dtype=np.float64)
        box = (*points.min(axis=0), *points.max(axis=0))
    if box is None:
        return (0.0, 0.0, float(image_size[0]), float(image_size[1]))
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0, 1.0) * box_scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def split_windows(split: BenchmarkSplit, box_scale: float) -> np.ndarray:
    """(N, 4) crop windows of every sample, reading only the image headers (for sizes)."""
    windows = []
    for sample in split.samples:
        with Image.open(sample.image_path) as image:
            windows.append(crop_window(sample, split.task, box_scale, image.size))
    return np.asarray(windows, dtype=np.float64).reshape(-1, 4)


def open_rgb(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read image {path} ({err}); check the dataset folder is complete") from err


def render_input(image: Image.Image, window: Window, inputs: InputSpec, hflip: bool = False) -> torch.Tensor:
    """Crop ``window`` (outside the image is black), resize to the backbone size, normalize: (3, H, W) float32."""
    height, width = inputs.size
    crop = image.crop(tuple(int(round(v)) for v in window)).resize((width, height), Image.BILINEAR)
    if hflip:
        crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
    pixels = torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(inputs.mean).view(3, 1, 1)
    std = torch.tensor(inputs.std).view(3, 1, 1)
    return (pixels - mean) / std


def to_window(points: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Image-pixel points (N, P, 2) -> [0, 1] coordinates inside each window (N, 4)."""
    origin = windows[:, None, :2]
    extent = windows[:, None, 2:] - origin
    return ((points - origin) / extent).astype(np.float32)


def from_window(normalized: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Inverse of ``to_window``."""
    origin = windows[:, None, :2]
    extent = windows[:, None, 2:] - origin
    return (normalized * extent + origin).astype(np.float32)


class ImageDataset(torch.utils.data.Dataset):
    """Backbone inputs of a split: ``(image (3, H, W), window (4,), index)``; optional random horizontal flip."""

    def __init__(
        self, samples: tuple[FaceSample, ...], task: str, inputs: InputSpec, box_scale: float, hflip: bool = False
    ) -> None:
        self.samples = samples
        self.task = task
        self.inputs = inputs
        self.box_scale = box_scale
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        sample = self.samples[index]
        image = open_rgb(sample.image_path)
        window = crop_window(sample, self.task, self.box_scale, image.size)
        flip = self.hflip and bool(torch.rand(()) < 0.5)
        return render_input(image, window, self.inputs, flip), torch.tensor(window, dtype=torch.float64), index
