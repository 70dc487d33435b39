"""AffectNet (Mollahosseini et al., 2017), manually annotated part: 8 categorical expressions.

As obtained from the AffectNet site (http://mohammadmahoor.com/affectnet/, by request):
- ``Manually_Annotated_file_lists/training.csv`` and ``validation.csv`` (also accepted at the root), columns
  ``subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal``;
- ``Manually_Annotated_Images/<dir>/<file>.jpg`` (also accepted as ``Manually_Annotated/Manually_Annotated_Images``).
Expression codes: 0 Neutral, 1 Happy, 2 Sad, 3 Surprise, 4 Fear, 5 Disgust, 6 Anger, 7 Contempt, 8 None,
9 Uncertain, 10 Non-Face. ``num_classes=7`` (default) keeps 0-6, ``num_classes=8`` keeps 0-7; the rest are dropped.
The published validation set (500 images per class) is the test set of the literature; it is the ``val`` split here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, annotation_error, check_images_exist, first_existing, unknown_split

NAME = "AffectNet"
SPLITS = {"train": "training.csv", "val": "validation.csv"}
COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
CLASS_NAMES = ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt")
LIST_DIRS = ("Manually_Annotated_file_lists", ".")
IMAGE_DIRS = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images")
HINT = (
    "Point --data-root at the AffectNet folder: it must hold Manually_Annotated_file_lists/training.csv and "
    "validation.csv (or both at the top) and the images in Manually_Annotated_Images/."
)


def parse_csv(path: Path) -> list[dict[str, str]]:
    """Rows of an AffectNet list as dicts keyed by ``COLUMNS``; a missing header row is tolerated."""
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    if rows and rows[0] and rows[0][0].strip() == COLUMNS[0]:
        rows = rows[1:]
    parsed = []
    for number, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(COLUMNS):
            raise annotation_error(NAME, path, number, f"expected {len(COLUMNS)} columns ({', '.join(COLUMNS)})")
        parsed.append(dict(zip(COLUMNS, (value.strip() for value in row), strict=True)))
    return parsed


def _box(row: dict[str, str]) -> tuple[float, float, float, float] | None:
    try:
        x, y, w, h = (float(row[key]) for key in ("face_x", "face_y", "face_width", "face_height"))
    except ValueError:
        return None
    return (x, y, x + w, y + h) if w > 0 and h > 0 else None


def load(root: Path, split: str, num_classes: int = 7) -> BenchmarkSplit:
    """Samples of ``split`` (train/val) whose expression code is below ``num_classes`` (7 or 8)."""
    if split not in SPLITS:
        raise unknown_split(NAME, split, list(SPLITS))
    if num_classes not in (7, 8):
        raise UserError(f"{NAME}: num_classes must be 7 (without Contempt) or 8, got {num_classes}")
    root = Path(root)
    csv_path = first_existing(root, [f"{d}/{SPLITS[split]}" for d in LIST_DIRS])
    if csv_path is None:
        raise UserError(f"{NAME}: {root} has no {LIST_DIRS[0]}/{SPLITS[split]} (nor {SPLITS[split]}). {HINT}")
    image_root = first_existing(root, list(IMAGE_DIRS))
    if image_root is None:
        raise UserError(f"{NAME}: {root} has no {IMAGE_DIRS[0]}/ folder. {HINT}")
    samples = []
    for number, row in enumerate(parse_csv(csv_path), start=2):
        try:
            code = int(row["expression"])
        except ValueError:
            raise annotation_error(
                NAME, csv_path, number, f"expression {row['expression']!r} is not an integer"
            ) from None
        if 0 <= code < num_classes:
            path = image_root.joinpath(*row["subDirectory_filePath"].split("/"))
            samples.append(FaceSample(path, np.array(code, dtype=np.int64), _box(row)))
    check_images_exist(NAME, samples, csv_path, HINT)
    return BenchmarkSplit("affectnet", split, "expression", tuple(samples), CLASS_NAMES[:num_classes])
