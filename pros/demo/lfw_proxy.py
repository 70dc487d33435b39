"""The labeled real data available offline: scikit-image's ``lfw_subset`` (100 LFW faces, then 100 non-face patches),
written as an image-folder benchmark (``ROOT/{train,test}/{face,non_face}/*.png``) with a seeded half/half split.

It measures whether a backbone's features separate faces from non-faces with a linear probe: a sanity check of a face
representation, not a substitute for the published benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_lfw_proxy(root: Path, seed: int = 0) -> Path:
    import skimage.data

    images = skimage.data.lfw_subset()
    labels = ["face"] * 100 + ["non_face"] * 100
    order = np.random.default_rng(seed).permutation(len(images))
    for rank, index in enumerate(order):
        split = "train" if rank % 2 == 0 else "test"
        folder = root / split / labels[index]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (np.clip(images[index], 0, 1) * 255).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").save(folder / f"lfw_{index:03d}.png")
    return root
