"""Benchmarks by name: which task, which splits, and the loader that reads each from its published layout."""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError

from .base import BenchmarkSplit, Task


@dataclass(frozen=True)
class BenchmarkSpec:
    """What ``pros eval`` needs to know about a benchmark before reading it.

    ``train_split`` is the split heads are trained on; ``eval_splits`` are the splits reported in
    tables (the first is the headline one). ``module`` is imported lazily and must define
    ``load(root: Path, split: str, **options) -> BenchmarkSplit``.
    """

    name: str
    task: Task
    splits: tuple[str, ...]
    train_split: str
    eval_splits: tuple[str, ...]
    module: str
    title: str


_WFLW_TESTS = tuple(f"test_{flag}" for flag in ("pose", "expression", "illumination", "makeup", "occlusion", "blur"))
_SPECS: tuple[BenchmarkSpec, ...] = (
    BenchmarkSpec(
        name="celeba", task="attributes", splits=("train", "val", "test"), train_split="train",
        eval_splits=("test",), module="celeba", title="CelebA",
    ),
    BenchmarkSpec(
        name="lfwa", task="attributes", splits=("train", "test"), train_split="train",
        eval_splits=("test",), module="lfwa", title="LFWA",
    ),
    BenchmarkSpec(
        name="rafdb", task="expression", splits=("train", "test"), train_split="train",
        eval_splits=("test",), module="rafdb", title="RAF-DB (basic)",
    ),
    BenchmarkSpec(
        name="affectnet", task="expression", splits=("train", "val"), train_split="train",
        eval_splits=("val",), module="affectnet", title="AffectNet",
    ),
    BenchmarkSpec(
        name="300w", task="landmarks", splits=("train", "common", "challenging", "full"), train_split="train",
        eval_splits=("full", "common", "challenging"), module="w300", title="300W",
    ),
    BenchmarkSpec(
        name="aflw19", task="landmarks", splits=("train", "full", "frontal"), train_split="train",
        eval_splits=("full", "frontal"), module="aflw19", title="AFLW-19",
    ),
    BenchmarkSpec(
        name="wflw", task="landmarks", splits=("train", "test", *_WFLW_TESTS), train_split="train",
        eval_splits=("test", *_WFLW_TESTS), module="wflw", title="WFLW",
    ),
    BenchmarkSpec(
        name="imagefolder", task="expression", splits=("train", "test"), train_split="train",
        eval_splits=("test",), module="image_folder", title="Image folder",
    ),
)
_BY_NAME = {spec.name: spec for spec in _SPECS}


def _canonical(name: str) -> str:
    """Accept common spellings: 'RAF-DB', 'raf_db', 'AFLW-19', '300-W'."""
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def benchmark_names() -> list[str]:
    """Names accepted by ``load_benchmark`` (canonical spelling)."""
    return [spec.name for spec in _SPECS]


def benchmark_spec(name: str) -> BenchmarkSpec:
    """The spec of a benchmark; UserError listing the known names if ``name`` is unknown."""
    spec = _BY_NAME.get(_canonical(name))
    if spec is None:
        raise UserError(f"unknown benchmark {name!r}; choose one of {', '.join(benchmark_names())}")
    return spec


def benchmark_splits(name: str) -> list[str]:
    """Split names a benchmark defines, e.g. ['train', 'common', 'challenging', 'full'] for 300W."""
    return list(benchmark_spec(name).splits)


def load_benchmark(name: str, root: Path, split: str, **options: Any) -> BenchmarkSplit:
    """Read ``split`` of benchmark ``name`` from ``root``, the folder as downloaded from the official page.

    Options are benchmark specific (e.g. ``num_classes=8`` for AffectNet); an unknown option is a UserError.
    """
    spec = benchmark_spec(name)
    if split not in spec.splits:
        raise UserError(f"{spec.title}: unknown split {split!r}; choose one of {', '.join(spec.splits)}")
    module = importlib.import_module(f"{__package__}.{spec.module}")
    accepted = [name for name in inspect.signature(module.load).parameters if name not in ("root", "split")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        known = ", ".join(accepted) if accepted else "none"
        raise UserError(f"{spec.title}: unknown option {', '.join(unknown)}; options of this benchmark: {known}")
    return module.load(Path(root).expanduser(), split, **options)


def benchmark_options(name: str) -> dict[str, Any]:
    """The options ``load_benchmark`` accepts for ``name``, with their defaults (e.g. {'num_classes': 7})."""
    spec = benchmark_spec(name)
    module = importlib.import_module(f"{__package__}.{spec.module}")
    parameters = inspect.signature(module.load).parameters
    return {key: p.default for key, p in parameters.items() if key not in ("root", "split")}
