"""LFWA (Liu et al., ICCV 2015): the 40 CelebA attributes annotated on LFW images.

As distributed from the CelebA page (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, "LFWA" link):
- ``lfw_att_40.mat`` (MATLAB v7.3): ``name`` (cell of 13,143 paths such as ``Aaron_Eckhart\\Aaron_Eckhart_0001.jpg``),
  ``label`` (13,143 x 40), ``AttrName`` (the 40 names);
- ``indices_train_test.mat``: ``indices_img_train`` (6,263) and ``indices_img_test`` (6,880), 1-based rows of ``label``;
- ``lfw/``: the LFW images, ``lfw/<Person>/<Person>_NNNN.jpg``.
The two .mat files are accepted at the root or in ``anno/``; v5 .mat copies (scipy-readable) are accepted too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, check_images_exist, first_existing, unknown_split
from .celeba import NUM_ATTRIBUTES
from .celeba_names import CELEBA_ATTRIBUTES
from .matfiles import load_mat

NAME = "LFWA"
SPLITS = {"train": "indices_img_train", "test": "indices_img_test"}
ATTRIBUTE_FILE = "lfw_att_40.mat"
INDEX_FILE = "indices_train_test.mat"
HINT = (
    "Point --data-root at the LFWA folder from the CelebA page (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html): "
    f"it must hold {ATTRIBUTE_FILE} and {INDEX_FILE} (at the top or in anno/) and the images in lfw/ "
    "(or name another image folder with image_dir=...)."
)


def _find(root: Path, file_name: str) -> Path:
    found = first_existing(root, [file_name, f"anno/{file_name}"])
    if found is None:
        raise UserError(f"{NAME}: {root} has no {file_name} (looked in {root} and {root / 'anno'}). {HINT}")
    return found


def _binary(label: np.ndarray, path: Path) -> np.ndarray:
    """0/1 int8 labels from the file's 0/1 (or -1/1) values."""
    values = np.unique(label)
    if not set(values.tolist()) <= {-1.0, 0.0, 1.0}:
        raise UserError(f"{NAME}: {path} 'label' holds values {values[:5].tolist()}, expected 0/1 or -1/1. {HINT}")
    return (label > 0).astype(np.int8)


def load(root: Path, split: str, image_dir: str = "lfw") -> BenchmarkSplit:
    """Samples of ``split`` (train/test) in the order of the index file."""
    if split not in SPLITS:
        raise unknown_split(NAME, split, list(SPLITS))
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{NAME}: data root {root} is not a directory. {HINT}")
    attribute_path, index_path = _find(root, ATTRIBUTE_FILE), _find(root, INDEX_FILE)
    images = root / image_dir
    if not images.is_dir():
        raise UserError(f"{NAME}: {root} has no image folder {image_dir}/. {HINT}")
    attributes = load_mat(attribute_path, ["name", "label"])
    names: list[str] = attributes["name"]
    label = np.asarray(attributes["label"])
    if label.shape == (NUM_ATTRIBUTES, len(names)) and label.shape[0] != label.shape[1]:
        label = label.T
    if label.shape != (len(names), NUM_ATTRIBUTES):
        raise UserError(
            f"{NAME}: {attribute_path} 'label' has shape {label.shape}, "
            f"expected ({len(names)}, {NUM_ATTRIBUTES}). {HINT}"
        )
    label = _binary(label, attribute_path)
    rows = np.asarray(load_mat(index_path, [SPLITS[split]])[SPLITS[split]]).ravel().astype(np.int64) - 1
    if rows.size and (rows.min() < 0 or rows.max() >= len(names)):
        raise UserError(
            f"{NAME}: {index_path} {SPLITS[split]} points outside the {len(names)} rows of {attribute_path}"
        )
    samples = [FaceSample(images.joinpath(*names[row].replace("\\", "/").split("/")), label[row]) for row in rows]
    check_images_exist(NAME, samples, attribute_path, HINT)
    return BenchmarkSplit("lfwa", split, "attributes", tuple(samples), _attribute_names(attribute_path))


def _attribute_names(path: Path) -> tuple[str, ...]:
    """The names stored in the file (``AttrName``), else the CelebA names, which LFWA shares in the same order."""
    try:
        names = load_mat(path, ["AttrName"])["AttrName"]
    except UserError:
        return CELEBA_ATTRIBUTES
    return tuple(names) if len(names) == NUM_ATTRIBUTES else CELEBA_ATTRIBUTES
