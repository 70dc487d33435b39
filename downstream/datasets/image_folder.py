"""A labeled folder of your own: ``ROOT/<split>/<class>/<image>``, read as a classification benchmark.

Classes are the sub-folder names in sorted order; both splits must hold the same classes. ``pros demo`` writes
scikit-image's ``lfw_subset`` (100 LFW faces, 100 non-faces) in this layout, and users can point it at any labeled set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, unknown_split

SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def class_names(root: Path) -> tuple[str, ...]:
    train = root / "train"
    if not train.is_dir():
        raise UserError(f"image-folder: {train} does not exist; lay the data out as ROOT/train/<class>/*.jpg and "
                        f"ROOT/test/<class>/*.jpg")
    names = tuple(sorted(p.name for p in train.iterdir() if p.is_dir()))
    if len(names) < 2:
        raise UserError(f"image-folder: {train} must hold one sub-folder per class (at least two), found {len(names)}")
    return names


def load(root: Path, split: str) -> BenchmarkSplit:
    if split not in SPLITS:
        raise unknown_split("image-folder", split, list(SPLITS))
    names = class_names(root)
    samples = []
    for index, name in enumerate(names):
        folder = root / split / name
        if not folder.is_dir():
            raise UserError(f"image-folder: {folder} is missing; every split needs the classes {', '.join(names)}")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(FaceSample(path, np.asarray(index, dtype=np.int64)))
    return BenchmarkSplit("imagefolder", split, "expression", tuple(samples), names)
