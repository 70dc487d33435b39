"""CelebA (Liu et al., ICCV 2015): 40 binary attributes on aligned celebrity faces.

Layouts accepted, both as downloaded from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html:
- flat (the torchvision / Kaggle-style folder): ``list_attr_celeba.txt``, ``list_eval_partition.txt``,
  ``img_align_celeba/``;
- the official Google Drive folders: ``Anno/list_attr_celeba.txt``, ``Eval/list_eval_partition.txt``,
  ``Img/img_align_celeba/`` (after unzipping ``Img/img_align_celeba.zip`` in place).
``img_align_celeba_png/`` (the PNG release, ``000001.png``) is used when the JPEG folder is absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, annotation_error, check_images_exist, unknown_split

NAME = "CelebA"
SPLITS = {"train": 0, "val": 1, "test": 2}
NUM_ATTRIBUTES = 40
# (attribute list, partition list, image folder candidates) per accepted layout
LAYOUTS = (
    ("list_attr_celeba.txt", "list_eval_partition.txt", ("img_align_celeba", "img_align_celeba_png")),
    ("Anno/list_attr_celeba.txt", "Eval/list_eval_partition.txt", ("Img/img_align_celeba", "Img/img_align_celeba_png")),
    # torchvision.datasets.CelebA keeps the flat layout in <root>/celeba/
    ("celeba/list_attr_celeba.txt", "celeba/list_eval_partition.txt", ("celeba/img_align_celeba",)),
)
HINT = (
    "Point --data-root at the CelebA folder as downloaded from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html: "
    "either list_attr_celeba.txt + list_eval_partition.txt + img_align_celeba/, or the Drive layout "
    "Anno/list_attr_celeba.txt + Eval/list_eval_partition.txt + Img/img_align_celeba/ (unzip img_align_celeba.zip)."
)


def parse_attributes(path: Path) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """Read ``list_attr_celeba.txt``: count line, names line, then ``file v1 .. v40`` with -1/1 (any whitespace).

    Returns the attribute names and, per file name, an int8 vector with -1 mapped to 0.
    """
    lines = path.read_text().splitlines()
    if len(lines) < 2:
        raise annotation_error(NAME, path, 1, "expected a count line and an attribute-name line")
    try:
        count = int(lines[0].strip())
    except ValueError:
        raise annotation_error(NAME, path, 1, f"expected the number of images, got {lines[0]!r}") from None
    names = tuple(lines[1].split())
    if len(names) != NUM_ATTRIBUTES:
        raise annotation_error(NAME, path, 2, f"expected {NUM_ATTRIBUTES} attribute names, got {len(names)}")
    rows = [(number, line.split(None, 1)) for number, line in enumerate(lines[2:], start=3) if line.strip()]
    for number, parts in rows:  # "-1" and "1" each hold one "1": a cheap per-line count of values
        if len(parts) != 2 or parts[1].count("1") != NUM_ATTRIBUTES:
            raise annotation_error(NAME, path, number, f"expected a file name and {NUM_ATTRIBUTES} values -1 or 1")
    values = _values(" ".join(parts[1] for _, parts in rows), len(rows))
    if values is None:  # name the first bad line
        bad = next((number for number, parts in rows if _values(parts[1], 1) is None), 3)
        raise annotation_error(NAME, path, bad, f"expected a file name and {NUM_ATTRIBUTES} values -1 or 1")
    labels = {parts[0]: row for (_, parts), row in zip(rows, (values > 0).astype(np.int8), strict=True)}
    if len(labels) != count:
        raise annotation_error(NAME, path, 1, f"the count line says {count} images but {len(labels)} are listed")
    return names, labels


def _values(text: str, num_rows: int) -> np.ndarray | None:
    """(num_rows, 40) int8 parsed from whitespace-separated values (C speed), or None unless all are -1 or 1."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # raised for unparsable text, which we detect by size
        values = np.fromstring(text, dtype=np.int8, sep=" ")
    if values.size != num_rows * NUM_ATTRIBUTES or not np.all(np.abs(values) == 1):
        return None
    return values.reshape(num_rows, NUM_ATTRIBUTES)


def parse_partition(path: Path) -> list[tuple[str, int]]:
    """Read ``list_eval_partition.txt``: ``file 0|1|2`` (0 train, 1 val, 2 test), in file order."""
    entries: list[tuple[str, int]] = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in {"0", "1", "2"}:
            raise annotation_error(NAME, path, number, "expected 'file 0|1|2'")
        entries.append((parts[0], int(parts[1])))
    return entries


def _find_layout(root: Path) -> tuple[Path, Path, Path]:
    for attr_name, partition_name, image_dirs in LAYOUTS:
        attr_path, partition_path = root / attr_name, root / partition_name
        if attr_path.is_file() and partition_path.is_file():
            for image_dir in image_dirs:
                if (root / image_dir).is_dir():
                    return attr_path, partition_path, root / image_dir
            raise UserError(
                f"{NAME}: found {attr_path} but no image folder {' or '.join(image_dirs)} in {root}. {HINT}"
            )
    expected = " or ".join(f"{a} + {p} + {d[0]}/" for a, p, d in LAYOUTS[:2])
    raise UserError(f"{NAME}: {root} does not contain {expected}. {HINT}")


def load(root: Path, split: str) -> BenchmarkSplit:
    """Samples of ``split`` (train/val/test = partition 0/1/2) in partition-file order."""
    if split not in SPLITS:
        raise unknown_split(NAME, split, list(SPLITS))
    attr_path, partition_path, image_dir = _find_layout(Path(root))
    names, labels = parse_attributes(attr_path)
    suffix = ".png" if image_dir.name.endswith("_png") else None
    samples = []
    for file_name, partition in parse_partition(partition_path):
        if partition != SPLITS[split]:
            continue
        if file_name not in labels:
            raise UserError(f"{NAME}: {file_name} is in {partition_path} but not in {attr_path}. {HINT}")
        image_name = Path(file_name).with_suffix(suffix).name if suffix else file_name
        samples.append(FaceSample(image_dir / image_name, labels[file_name]))
    check_images_exist(NAME, samples, partition_path, HINT)
    return BenchmarkSplit("celeba", split, "attributes", tuple(samples), names)
