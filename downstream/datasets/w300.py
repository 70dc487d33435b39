"""300W (Sagonas et al., 2013/2016): 68 landmarks in iBUG ``.pts`` files, images beside them.

As downloaded from https://ibug.doc.ic.ac.uk/resources/facial-point-annotations/ (one zip per source, extracted
side by side): ``lfpw/trainset``, ``lfpw/testset``, ``helen/trainset``, ``helen/testset``, ``afw``, ``ibug``.
Splits follow the standard protocol (Ren et al. 2014, LBF; used by HRNet, FaRL and others):
- ``train``: LFPW train + HELEN train + AFW (3,148 faces);
- ``common``: LFPW test + HELEN test (554); ``challenging``: iBUG (135); ``full``: common + challenging (689).
Coordinates are kept as written in the .pts files. The face box is the tight box around the 68 points.
NME is normalised by the outer-eye-corner distance (points 37 and 46 in 1-based iBUG numbering).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import UserError

from .base import BenchmarkSplit, FaceSample, annotation_error, unknown_split

NAME = "300W"
NUM_POINTS = 68
EYE_CORNERS = (36, 45)
FOLDERS = {
    "train": ("lfpw/trainset", "helen/trainset", "afw"),
    "common": ("lfpw/testset", "helen/testset"),
    "challenging": ("ibug",),
    "full": ("lfpw/testset", "helen/testset", "ibug"),
}
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".JPG", ".PNG")
HINT = (
    "Point --data-root at the folder where the 300W zips from "
    "https://ibug.doc.ic.ac.uk/resources/facial-point-annotations/ were extracted side by side: "
    "lfpw/trainset, lfpw/testset, helen/trainset, helen/testset, afw, ibug "
    "(each with images and .pts files)."
)


def parse_pts(path: Path, num_points: int | None = None) -> np.ndarray:
    """Points of an iBUG .pts file as (N, 2) float32.

    The format: ``version: 1``, ``n_points: N``, ``{``, N lines ``x y``, ``}``.
    """
    lines = [line.strip() for line in path.read_text().splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 4 or not lines[0].startswith("version:") or not lines[1].startswith("n_points:"):
        raise annotation_error(NAME, path, 1, "expected 'version: 1' and 'n_points: N' header lines")
    try:
        count = int(lines[1].split(":", 1)[1])
    except ValueError:
        raise annotation_error(NAME, path, 2, f"bad point count {lines[1]!r}") from None
    if lines[2] != "{" or lines[-1] != "}" or len(lines) != count + 4:
        raise annotation_error(NAME, path, 3, f"expected '{{', {count} lines 'x y', then '}}'")
    if num_points is not None and count != num_points:
        raise annotation_error(NAME, path, 2, f"expected {num_points} points, the file has {count}")
    try:
        points = np.array([[float(v) for v in line.split()] for line in lines[3:-1]], dtype=np.float32)
    except ValueError:
        raise annotation_error(NAME, path, 4, "point lines must hold two numbers 'x y'") from None
    if points.shape != (count, 2):
        raise annotation_error(NAME, path, 4, "point lines must hold two numbers 'x y'")
    return points


def image_for(pts_path: Path) -> Path | None:
    """The image with the same stem as a .pts file, next to it."""
    for suffix in IMAGE_SUFFIXES:
        candidate = pts_path.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def tight_box(points: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the smallest box holding all points."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return (float(x0), float(y0), float(x1), float(y1))


def load(root: Path, split: str) -> BenchmarkSplit:
    """Every .pts file (sorted) under the split's folders, with its image."""
    if split not in FOLDERS:
        raise unknown_split(NAME, split, list(FOLDERS))
    root = Path(root)
    missing = [folder for folder in FOLDERS[split] if not (root / folder).is_dir()]
    if missing:
        raise UserError(
            f"{NAME}: {root} is missing {', '.join(f + '/' for f in missing)} (needed for split {split!r}). {HINT}"
        )
    samples = []
    for folder in FOLDERS[split]:
        pts_files = sorted((root / folder).rglob("*.pts"))
        if not pts_files:
            raise UserError(f"{NAME}: {root / folder} holds no .pts files. {HINT}")
        for pts_path in pts_files:
            image = image_for(pts_path)
            if image is None:
                raise UserError(f"{NAME}: no image ({'/'.join(IMAGE_SUFFIXES)}) next to {pts_path}. {HINT}")
            points = parse_pts(pts_path, NUM_POINTS)
            samples.append(FaceSample(image, points, tight_box(points)))
    return BenchmarkSplit("300w", split, "landmarks", tuple(samples), (), NUM_POINTS, "inter_ocular", EYE_CORNERS)
