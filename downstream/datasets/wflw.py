"""WFLW (Wu et al., CVPR 2018, LAB): 98 landmarks, 7,500 train / 2,500 test faces, 6 attribute flags.

As downloaded from https://wywu.github.io/projects/LAB/WFLW.html (``WFLW_annotations.tar.gz`` and
``WFLW_images.tar.gz`` extracted side by side):
- ``WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_train.txt`` and ``..._test.txt``; each line:
  196 coordinates (x0 y0 ... x97 y97), the box (x_min y_min x_max y_max), 6 flags (pose, expression,
  illumination, make-up, occlusion, blur), the image path relative to ``WFLW_images/``;
- ``WFLW_images/<event>/<file>.jpg``.
Test subsets ``test_<flag>`` keep the test faces whose flag is 1 (pose 326, expression 314, illumination 698,
make-up 206, occlusion 736, blur 773 faces in the release). NME uses the outer eye corners, points 60 and 72.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, annotation_error, check_images_exist, unknown_split

NAME = "WFLW"
NUM_POINTS = 98
EYE_CORNERS = (60, 72)
FLAGS = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
SPLITS = ("train", "test", *(f"test_{flag}" for flag in FLAGS))
LIST_DIR = "WFLW_annotations/list_98pt_rect_attr_train_test"
IMAGE_DIR = "WFLW_images"
FIELDS = 2 * NUM_POINTS + 4 + len(FLAGS) + 1
HINT = (
    "Point --data-root at the folder where WFLW_annotations.tar.gz and WFLW_images.tar.gz from "
    "https://wywu.github.io/projects/LAB/WFLW.html were extracted: it must hold "
    f"{LIST_DIR}/list_98pt_rect_attr_train.txt, ..._test.txt and {IMAGE_DIR}/."
)


def parse_line(
    line: str, path: Path, number: int
) -> tuple[np.ndarray, tuple[float, float, float, float], np.ndarray, str]:
    """(points (98, 2), box, flags (6,) int8, image name) of one annotation line."""
    parts = line.split()
    if len(parts) != FIELDS:
        raise annotation_error(
            NAME, path, number, f"expected {FIELDS} fields (196 coords, 4 box, 6 flags, name), got {len(parts)}"
        )
    try:
        values = np.array([float(v) for v in parts[: FIELDS - 1]])
    except ValueError:
        raise annotation_error(NAME, path, number, "the first 206 fields must be numbers") from None
    points = values[: 2 * NUM_POINTS].reshape(NUM_POINTS, 2).astype(np.float32)
    x0, y0, x1, y1 = (float(v) for v in values[2 * NUM_POINTS : 2 * NUM_POINTS + 4])
    flags = values[2 * NUM_POINTS + 4 :].astype(np.int8)
    if not np.all((flags == 0) | (flags == 1)):
        raise annotation_error(NAME, path, number, "attribute flags must be 0 or 1")
    return points, (x0, y0, x1, y1), flags, parts[-1]


def load(root: Path, split: str) -> BenchmarkSplit:
    """Faces of ``split`` (train, test or test_<flag>) in annotation-file order."""
    if split not in SPLITS:
        raise unknown_split(NAME, split, list(SPLITS))
    root = Path(root)
    list_path = root / LIST_DIR / f"list_98pt_rect_attr_{'train' if split == 'train' else 'test'}.txt"
    if not list_path.is_file():
        raise UserError(f"{NAME}: {root} has no {list_path.relative_to(root)}. {HINT}")
    if not (root / IMAGE_DIR).is_dir():
        raise UserError(f"{NAME}: {root} has no {IMAGE_DIR}/ folder. {HINT}")
    flag_index = FLAGS.index(split.removeprefix("test_")) if split.startswith("test_") else None
    samples = []
    for number, line in enumerate(list_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        points, box, flags, name = parse_line(line, list_path, number)
        if flag_index is None or flags[flag_index] == 1:
            samples.append(FaceSample(root / IMAGE_DIR / name, points, box))
    check_images_exist(NAME, samples, list_path, HINT)
    return BenchmarkSplit("wflw", split, "landmarks", tuple(samples), (), NUM_POINTS, "inter_ocular", EYE_CORNERS)
