"""How long the benchmark loaders take on annotation files of the real datasets' sizes.

Usage: python benchmarks/eval_datasets.py [--workdir /tmp/pros_eval_datasets]
Writes synthetic annotation files with the real row counts (CelebA 202,599 images with an empty file per image,
AffectNet training.csv 287,651 rows, WFLW 7,500 train lines, 300W 3,148 train .pts files), then prints the seconds of
``load_benchmark`` for each (annotation parsing plus the check that every listed image exists).
Absolute times drift on a shared machine; the point is the order of magnitude a user waits before extraction starts.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from downstream.datasets import load_benchmark
from downstream.datasets.celeba_names import CELEBA_ATTRIBUTES
from downstream.datasets.fixtures import AFFECTNET_HEADER, WFLW_LIST_DIR


def _touch_all(paths: list[Path]) -> None:
    for directory in {p.parent for p in paths}:
        directory.mkdir(parents=True, exist_ok=True)
    for path in paths:
        path.touch()


def celeba(root: Path, rng: np.random.Generator) -> None:
    names = [f"{i + 1:06d}.jpg" for i in range(202_599)]
    signs = np.where(rng.random((len(names), 40)) < 0.5, " 1", "-1")
    lines = [str(len(names)), " ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [name + " " + " ".join(row) for name, row in zip(names, signs, strict=True)]
    root.mkdir(parents=True)
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    bounds = (162_770, 162_770 + 19_867)
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{n} {0 if i < bounds[0] else 1 if i < bounds[1] else 2}\n" for i, n in enumerate(names))
    )
    _touch_all([root / "img_align_celeba" / n for n in names])


def affectnet(root: Path, rng: np.random.Generator) -> None:
    landmarks = ";".join(f"{v:.2f}" for v in rng.uniform(0, 200, 136))
    rows = [AFFECTNET_HEADER]
    paths = []
    for i in range(287_651):
        relative = f"{i % 1000}/{i:056x}.jpg"
        rows.append(f"{relative},10,10,200,200,{landmarks},{i % 11},0.1,-0.2")
        paths.append(root / "Manually_Annotated_Images" / relative)
    (root / "Manually_Annotated_file_lists").mkdir(parents=True)
    (root / "Manually_Annotated_file_lists/training.csv").write_text("\n".join(rows) + "\n")
    _touch_all(paths)


def wflw(root: Path, rng: np.random.Generator) -> None:
    lines, paths = [], []
    for i in range(7_500):
        coords = " ".join(f"{v:.6f}" for v in rng.uniform(0, 500, 196))
        name = f"{i % 60}--Event/{i}.jpg"
        lines.append(f"{coords} 10 10 400 400 0 1 0 0 1 0 {name}")
        paths.append(root / "WFLW_images" / name)
    (root / WFLW_LIST_DIR).mkdir(parents=True)
    (root / WFLW_LIST_DIR / "list_98pt_rect_attr_train.txt").write_text("\n".join(lines) + "\n")
    _touch_all(paths)


def w300(root: Path, rng: np.random.Generator) -> None:
    for folder, count in (("lfpw/trainset", 811), ("helen/trainset", 2000), ("afw", 337)):
        (root / folder).mkdir(parents=True)
        for i in range(count):
            body = "".join(f"{x:.3f} {y:.3f}\n" for x, y in rng.uniform(0, 500, (68, 2)))
            (root / folder / f"{i:06d}.pts").write_text(f"version: 1\nn_points:  68\n{{\n{body}}}\n")
            (root / folder / f"{i:06d}.jpg").touch()


CASES = (
    ("celeba", "train", celeba),
    ("affectnet", "train", affectnet),
    ("wflw", "train", wflw),
    ("300w", "train", w300),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pros_eval_datasets"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    rng = np.random.default_rng(0)
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    for name, split, write in CASES:
        root = args.workdir / name
        start = time.perf_counter()
        write(root, rng)
        written = time.perf_counter() - start
        start = time.perf_counter()
        data = load_benchmark(name, root, split)
        seconds = time.perf_counter() - start
        print(
            f"{name:10s} {split:6s} {len(data):7d} samples: load {seconds:6.2f} s "
            f"({len(data) / seconds:9.0f} samples/s; writing the synthetic files took {written:5.1f} s)"
        )
    shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
