"""AFLW-19 (Zhu et al., CVPR 2016, "cascaded compositional learning"): 19 landmarks on AFLW faces.

Files, as used by CCL, HRNet and FaRL:
- ``AFLWinfo_release.mat`` (from the CCL project page, http://mmlab.ie.cuhk.edu.hk/projects/compositional.html):
  ``nameList`` (24,386 image paths relative to the image folder), ``data`` (24,386 x 38: x1..x19 then y1..y19),
  ``bbox`` (24,386 x 4: left, right, top, bottom), ``mask_new`` (24,386 x 19 visibility), ``ra`` (a 1-based
  permutation of the rows);
- the AFLW images (https://www.tugraz.at/institute/icg/research/team-bischof/lrs/downloads/aflw/) in
  ``data/flickr/{0,2,3}/`` (as extracted from the AFLW archives) or ``flickr/{0,2,3}/``.
Splits: ``train`` = the first 20,000 rows of ``ra``; ``full`` = the other 4,386; ``frontal`` = the rows of ``full``
whose 19 points are all visible (1,165 faces). A file with other than 24,386 rows (our fixtures) keeps the same
train proportion, round(N * 20000 / 24386); ``num_train=`` overrides it.
NME is normalised by the box diagonal sqrt(w^2 + h^2) of ``bbox`` (the FaRL convention; CCL and HRNet use sqrt(w*h)).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, check_images_exist, first_existing, unknown_split
from .matfiles import load_mat

NAME = "AFLW-19"
SPLITS = ("train", "full", "frontal")
NUM_POINTS = 19
RELEASE_ROWS, RELEASE_TRAIN = 24386, 20000
EYE_CORNERS = (6, 11)
MAT_FILE = "AFLWinfo_release.mat"
IMAGE_DIRS = ("data/flickr", "flickr")
HINT = (
    f"Point --data-root at a folder holding {MAT_FILE} (from the CCL page, "
    "http://mmlab.ie.cuhk.edu.hk/projects/compositional.html) and the AFLW images in data/flickr/ (as extracted "
    "from the AFLW download) or flickr/."
)


def train_count(num_rows: int, num_train: int | None) -> int:
    """How many rows of ``ra`` form the train split (20,000 for the release)."""
    if num_train is not None:
        if not 0 < num_train < num_rows:
            raise UserError(f"{NAME}: num_train must be between 1 and {num_rows - 1}, got {num_train}")
        return num_train
    return round(num_rows * RELEASE_TRAIN / RELEASE_ROWS)


def split_rows(ra: np.ndarray, visible: np.ndarray, split: str, num_train: int | None = None) -> np.ndarray:
    """0-based rows of ``split`` from the 1-based permutation ``ra`` and the (N, 19) visibility mask."""
    order = np.asarray(ra).ravel().astype(np.int64) - 1
    cut = train_count(order.size, num_train)
    if split == "train":
        return order[:cut]
    test = order[cut:]
    if split == "full":
        return test
    return test[np.all(visible[test] == 1, axis=1)]


def load(root: Path, split: str, num_train: int | None = None) -> BenchmarkSplit:
    """Samples of ``split`` (train/full/frontal) in ``ra`` order, each with its 19 points and box."""
    if split not in SPLITS:
        raise unknown_split(NAME, split, list(SPLITS))
    root = Path(root)
    mat_path = root / MAT_FILE
    if not mat_path.is_file():
        raise UserError(f"{NAME}: {root} has no {MAT_FILE}. {HINT}")
    image_root = first_existing(root, list(IMAGE_DIRS))
    if image_root is None:
        raise UserError(f"{NAME}: {root} has no image folder {' or '.join(IMAGE_DIRS)}/. {HINT}")
    info = load_mat(mat_path, ["nameList", "data", "bbox", "mask_new", "ra"])
    names: list[str] = info["nameList"]
    data, bbox, visible = (np.asarray(info[k], dtype=np.float64) for k in ("data", "bbox", "mask_new"))
    num_rows = len(names)
    if (
        data.shape != (num_rows, 2 * NUM_POINTS)
        or bbox.shape != (num_rows, 4)
        or visible.shape != (num_rows, NUM_POINTS)
    ):
        raise UserError(
            f"{NAME}: {mat_path} has data {data.shape}, bbox {bbox.shape}, mask_new {visible.shape} for {num_rows} "
            f"names; expected (N, 38), (N, 4), (N, 19). {HINT}"
        )
    ra = np.asarray(info["ra"]).ravel()
    if sorted(ra.astype(np.int64).tolist()) != list(range(1, num_rows + 1)):
        raise UserError(f"{NAME}: {mat_path} 'ra' is not a permutation of 1..{num_rows}. {HINT}")
    samples = []
    for row in split_rows(ra, visible, split, num_train):
        points = data[row].reshape(2, NUM_POINTS).T.astype(np.float32)
        left, right, top, bottom = (float(v) for v in bbox[row])
        path = image_root.joinpath(*names[row].replace("\\", "/").split("/"))
        samples.append(FaceSample(path, points, (left, top, right, bottom)))
    check_images_exist(NAME, samples, mat_path, HINT)
    return BenchmarkSplit("aflw19", split, "landmarks", tuple(samples), (), NUM_POINTS, "box_diagonal", EYE_CORNERS)
