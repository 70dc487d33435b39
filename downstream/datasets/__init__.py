"""Face benchmarks read from their published on-disk formats (see docs/eval_datasets.md)."""

from __future__ import annotations

from pathlib import Path

from .base import BenchmarkSplit, FaceSample, Task
from .registry import (
    BenchmarkSpec,
    benchmark_names,
    benchmark_options,
    benchmark_spec,
    benchmark_splits,
    load_benchmark,
)

__all__ = [
    "BenchmarkSpec",
    "BenchmarkSplit",
    "FaceSample",
    "Task",
    "benchmark_names",
    "benchmark_options",
    "benchmark_spec",
    "benchmark_splits",
    "load_benchmark",
    "write_fixture",
]


def write_fixture(name: str, root: Path, per_split: int = 8, seed: int = 0) -> Path:
    """Write a tiny ``name`` dataset under ``root`` in its published layout (see ``fixtures.write_fixture``).

    Imported lazily so that loading real datasets does not pull in the fixture writers (PIL drawing, h5py).
    """
    from .fixtures import write_fixture as _write_fixture

    return _write_fixture(name, root, per_split=per_split, seed=seed)
