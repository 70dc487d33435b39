"""RAF-DB basic (Li, Deng & Du, CVPR 2017): 7 basic expressions, 12,271 train / 3,068 test images.

As obtained from http://www.whdeng.cn/raf/model1.html (the ``basic`` folder of the release):
- ``EmoLabel/list_patition_label.txt`` (sic, "patition"): lines ``train_00001.jpg 5``, labels 1-7;
- ``Image/aligned/train_00001_aligned.jpg`` (100x100 aligned faces; ``aligned=False`` reads ``Image/original/``).
The split comes from the file-name prefix (``train_`` / ``test_``). ``--data-root`` may be the ``basic``
folder itself or the folder that contains it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, annotation_error, check_images_exist, unknown_split

NAME = "RAF-DB"
SPLITS = ("train", "test")
LABEL_FILE = "EmoLabel/list_patition_label.txt"
# label 1..7 in the file -> index 0..6 here
CLASS_NAMES = ("Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral")
HINT = (
    "Point --data-root at RAF-DB's basic/ folder (from http://www.whdeng.cn/raf/model1.html): it must hold "
    f"{LABEL_FILE} and Image/aligned/ (unzip Image/aligned.zip in place)."
)


def find_basic_root(root: Path) -> Path:
    """``root`` if it holds the label file, else ``root/basic``; UserError naming the expected files otherwise."""
    root = Path(root)
    for candidate in (root, root / "basic"):
        if (candidate / LABEL_FILE).is_file():
            return candidate
    raise UserError(f"{NAME}: found neither {root / LABEL_FILE} nor {root / 'basic' / LABEL_FILE}. {HINT}")


def parse_labels(path: Path) -> list[tuple[str, int]]:
    """``(file name, class index 0..6)`` per line of ``list_patition_label.txt``."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(CLASS_NAMES):
            raise annotation_error(NAME, path, number, "expected 'train_00001.jpg L' with a label L in 1..7")
        entries.append((parts[0], int(parts[1]) - 1))
    return entries


def image_path(basic: Path, file_name: str, aligned: bool) -> Path:
    """``Image/aligned/<stem>_aligned.jpg`` or ``Image/original/<file_name>``."""
    if aligned:
        stem = Path(file_name).stem
        return basic / "Image" / "aligned" / f"{stem}_aligned.jpg"
    return basic / "Image" / "original" / file_name


def load(root: Path, split: str, aligned: bool = True) -> BenchmarkSplit:
    """Samples whose file name starts with ``{split}_``, in label-file order."""
    if split not in SPLITS:
        raise unknown_split(NAME, split, list(SPLITS))
    basic = find_basic_root(root)
    image_dir = basic / "Image" / ("aligned" if aligned else "original")
    if not image_dir.is_dir():
        raise UserError(f"{NAME}: {basic} has no {image_dir.relative_to(basic)}/ folder. {HINT}")
    label_path = basic / LABEL_FILE
    samples = [
        FaceSample(image_path(basic, name, aligned), np.array(label, dtype=np.int64))
        for name, label in parse_labels(label_path)
        if name.startswith(f"{split}_")
    ]
    check_images_exist(NAME, samples, label_path, HINT)
    return BenchmarkSplit("rafdb", split, "expression", tuple(samples), CLASS_NAMES)
