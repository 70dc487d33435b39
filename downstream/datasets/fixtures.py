"""Write tiny benchmark folders in each dataset's published on-disk format (for tests and demos).

``write_fixture(name, root)`` lays out ``root`` exactly as the official download would be laid out, with
64x64 synthetic pictures whose content encodes the label (see ``fixture_images``), so a model can learn
them. Pass the returned path as ``--data-root``. Counts per split are documented on each writer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from .celeba_names import CELEBA_ATTRIBUTES
from .fixture_images import (
    attribute_image,
    expression_image,
    landmark_image,
    random_face_points,
)
from .registry import benchmark_spec


def _save(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        image.save(path, quality=95)
    else:
        image.save(path)


def _balanced_labels(count: int, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Labels cycling through all classes (each present once count >= num_classes), shuffled."""
    return rng.permutation(np.arange(count) % num_classes)


def write_celeba(root: Path, per_split: int, rng: np.random.Generator) -> None:
    """Flat layout; ``per_split`` images in each of train/val/test (partition 0/1/2)."""
    total = 3 * per_split
    bits = rng.integers(0, 2, size=(total, len(CELEBA_ATTRIBUTES)))
    names = [f"{i + 1:06d}.jpg" for i in range(total)]
    lines = [str(total), " ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [name + " " + " ".join(f"{1 if b else -1:2d}" for b in row) for name, row in zip(names, bits, strict=True)]
    root.mkdir(parents=True, exist_ok=True)
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {i // per_split}\n" for i, n in enumerate(names)))
    for name, row in zip(names, bits, strict=True):
        _save(attribute_image(row, rng), root / "img_align_celeba" / name)


def write_lfwa(root: Path, per_split: int, rng: np.random.Generator) -> None:
    """MATLAB v7.3 ``lfw_att_40.mat`` + ``indices_train_test.mat`` and ``lfw/``; ``per_split`` in train and test."""
    from .matlab_writer import write_mat73

    total = 2 * per_split
    names = [f"Person_{i // 2:03d}\\Person_{i // 2:03d}_{i % 2 + 1:04d}.jpg" for i in range(total)]
    label = rng.integers(0, 2, size=(total, len(CELEBA_ATTRIBUTES))).astype(np.float64)
    root.mkdir(parents=True, exist_ok=True)
    write_mat73(root / "lfw_att_40.mat", {"AttrName": list(CELEBA_ATTRIBUTES), "label": label, "name": names})
    order = rng.permutation(total) + 1
    write_mat73(
        root / "indices_train_test.mat",
        {"indices_img_train": order[:per_split, None], "indices_img_test": order[per_split:, None]},
    )
    for name, row in zip(names, label, strict=True):
        _save(attribute_image(row.astype(int), rng), root / "lfw" / Path(*name.split("\\")))


RAFDB_CLASSES = 7


def write_rafdb(root: Path, per_split: int, rng: np.random.Generator) -> None:
    """``basic/`` with ``EmoLabel/list_patition_label.txt`` and aligned + original images; ``per_split`` each."""
    basic = root / "basic"
    lines = []
    for split, digits in (("train", 5), ("test", 4)):
        for i, label in enumerate(_balanced_labels(per_split, RAFDB_CLASSES, rng)):
            name = f"{split}_{i + 1:0{digits}d}.jpg"
            lines.append(f"{name} {label + 1}")
            image = expression_image(int(label), RAFDB_CLASSES, rng)
            _save(image, basic / "Image" / "aligned" / f"{Path(name).stem}_aligned.jpg")
            _save(image, basic / "Image" / "original" / name)
    (basic / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (basic / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")


AFFECTNET_HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
)


def write_affectnet(root: Path, per_split: int, rng: np.random.Generator) -> None:
    """Per CSV: ``per_split`` rows with codes 0-6 (the 7-class setting), then one Contempt row (7, kept by the
    8-class setting) and two rows with codes 8 (None) and 10 (Non-Face), always dropped."""
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True, exist_ok=True)
    for csv_name in ("training.csv", "validation.csv"):
        codes = list(_balanced_labels(per_split, 7, rng)) + [7, 8, 10]
        rows = [AFFECTNET_HEADER]
        for i, code in enumerate(codes):
            relative = f"{i % 3 + 1}/{csv_name[:5]}{i:04d}{int(rng.integers(1 << 30)):x}.jpg"
            points = random_face_points(68, rng)
            landmarks = ";".join(f"{v:.2f}" for v in points.ravel())
            valence, arousal = rng.uniform(-1, 1, size=2)
            rows.append(f"{relative},6,6,52,52,{landmarks},{code},{valence:.6f},{arousal:.6f}")
            _save(expression_image(min(int(code), 7), 8, rng), root / "Manually_Annotated_Images" / relative)
        (lists / csv_name).write_text("\n".join(rows) + "\n")


def _write_pts(path: Path, points: np.ndarray) -> None:
    body = "".join(f"{x:.3f} {y:.3f}\n" for x, y in points)
    path.write_text(f"version: 1\nn_points:  {len(points)}\n{{\n{body}}}\n")


W300_FOLDERS = {
    "lfpw/trainset": "image_{:04d}.png",
    "helen/trainset": "{:09d}_1.jpg",
    "afw": "{:010d}_1.jpg",
    "lfpw/testset": "image_{:04d}.png",
    "helen/testset": "{:09d}_1.jpg",
    "ibug": "image_{:03d}_1.jpg",
}


def write_300w(root: Path, per_split: int, rng: np.random.Generator) -> None:
    """train: ``per_split`` faces over lfpw/trainset, helen/trainset, afw; common: ``per_split`` over the two
    testsets; challenging (ibug): ``per_split``; so full has 2 * ``per_split``."""
    groups = (("lfpw/trainset", "helen/trainset", "afw"), ("lfpw/testset", "helen/testset"), ("ibug",))
    for folders in groups:
        for i in range(per_split):
            folder = folders[i % len(folders)]
            points = random_face_points(68, rng)
            image_path = root / folder / W300_FOLDERS[folder].format(i + 1)
            _save(landmark_image(points, rng), image_path)
            _write_pts(image_path.with_suffix(".pts"), points)


def aflw_rows_for(per_split: int) -> int:
    """Smallest file size whose standard train proportion leaves at least ``per_split`` test faces."""
    from .aflw19 import train_count

    rows = per_split + 1
    while rows - train_count(rows, None) < per_split:
        rows += 1
    return rows


def write_aflw19(root: Path, per_split: int, rng: np.random.Generator) -> None:
    """v5 ``AFLWinfo_release.mat`` + ``data/flickr/{0,2,3}/``; test (full) has >= ``per_split`` faces, every
    other one fully visible (frontal)."""
    from .aflw19 import train_count

    rows = aflw_rows_for(per_split)
    names = [f"{(0, 2, 3)[i % 3]}/image{i + 2:05d}.jpg" for i in range(rows)]
    data, bbox = np.zeros((rows, 38)), np.zeros((rows, 4))
    for i, name in enumerate(names):
        points = random_face_points(19, rng)
        data[i] = np.concatenate([points[:, 0], points[:, 1]])
        (x0, y0), (x1, y1) = points.min(axis=0) - 3, points.max(axis=0) + 3
        bbox[i] = (x0, x1, y0, y1)
        _save(landmark_image(points, rng), root / "data" / "flickr" / name)
    ra = rng.permutation(rows) + 1
    visible = (rng.random((rows, 19)) > 0.2).astype(np.float64)
    for position, row in enumerate(ra[train_count(rows, None) :] - 1):
        if position % 2 == 0:
            visible[row] = 1.0  # frontal: all 19 points visible
        else:
            visible[row, 0] = 0.0
    name_cells = np.empty((rows, 1), dtype=object)
    name_cells[:, 0] = names
    scipy.io.savemat(
        root / "AFLWinfo_release.mat",
        {"nameList": name_cells, "data": data, "bbox": bbox, "mask_new": visible, "ra": ra[None, :].astype(np.float64)},
    )


WFLW_LIST_DIR = "WFLW_annotations/list_98pt_rect_attr_train_test"


def write_wflw(root: Path, per_split: int, rng: np.random.Generator) -> None:
    """``per_split`` lines in the train and the test list; test face i has flag i % 6 set (plus random others)."""
    (root / WFLW_LIST_DIR).mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        lines = []
        for i in range(per_split):
            number = i + 1 + (per_split if split == "test" else 0)
            points = random_face_points(98, rng)
            (x0, y0), (x1, y1) = np.floor(points.min(axis=0)) - 2, np.ceil(points.max(axis=0)) + 2
            flags = (rng.random(6) < 0.2).astype(int)
            if split == "test":
                flags[i % 6] = 1
            name = f"{i % 3}--Parade/{i % 3}_Parade_marchingband_1_{number}.jpg"
            coords = " ".join(f"{v:.6f}" for v in points.ravel())
            lines.append(f"{coords} {x0:.0f} {y0:.0f} {x1:.0f} {y1:.0f} {' '.join(map(str, flags))} {name}")
            _save(landmark_image(points, rng), root / "WFLW_images" / name)
        (root / WFLW_LIST_DIR / f"list_98pt_rect_attr_{split}.txt").write_text("\n".join(lines) + "\n")


WRITERS: dict[str, Callable[[Path, int, np.random.Generator], None]] = {
    "celeba": write_celeba,
    "lfwa": write_lfwa,
    "rafdb": write_rafdb,
    "affectnet": write_affectnet,
    "300w": write_300w,
    "aflw19": write_aflw19,
    "wflw": write_wflw,
}


def write_fixture(name: str, root: Path, per_split: int = 8, seed: int = 0) -> Path:
    """Write a tiny ``name`` dataset under ``root`` in its published layout; returns the folder to load from."""
    spec = benchmark_spec(name)
    if per_split < 1:
        raise ValueError(f"per_split must be at least 1, got {per_split}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    WRITERS[spec.name](root, per_split, np.random.default_rng(seed))
    return root
