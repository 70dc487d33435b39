"""What retrieval adds to a ``pros curate`` run: wall time with retrieval off vs on, and a retrieval-only rerun.

Run: ``.venv/bin/python benchmarks/curate_retrieval.py [--images N] [--input-size 320]``. The pool is N variants
(cropped, mirrored, resized to 200-400 px) of five real photos (insightface t1 and Tom Hanks, Grace Hopper, skimage
astronaut and coffee), so it holds many near-duplicates. One process, ``--workers 1``, CenterFace at the given
``detect.input_size``, the offline EfficientNet-Lite0 embedder. Ratios are within one run of this script.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_curate_resume import write_dump
from test_curate_retrieval import real_photos

from curation.config import load_curate_config
from curation.pipeline.run import curate


def timed(pool: Path, out: Path, input_size: int, *overrides: str):
    config = load_curate_config(None, [f"detect.input_size={input_size}", "sources.files_per_unit=50", *overrides])
    start = time.perf_counter()
    result = curate([str(pool)], out, config, console=Console(quiet=True))
    return time.perf_counter() - start, result


def main(count: int, input_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pool = Path(tmp) / "pool"
        write_dump(pool, count, list(real_photos().values()), longest=400)
        timed(pool, Path(tmp) / "warm", input_size)  # load models and imports outside the timings
        off, first = timed(pool, Path(tmp) / "off", input_size, "retrieval.enabled=false")
        on, second = timed(pool, Path(tmp) / "on", input_size)  # retrieval is on by default
        rerun, third = timed(pool, Path(tmp) / "on", input_size, "retrieval.dedup.threshold=0.9")
    per_photo = count // 5 + (count % 5 > 0)
    print(f"pool: {count} images, detector input {input_size} ({per_photo} per photo, near-duplicates of 5 photos)")
    print(f"retrieval off: {off:6.2f} s  kept {first.kept}  samples {first.samples}")
    print(f"retrieval on:  {on:6.2f} s  kept {second.kept}  samples {second.samples}  "
          f"duplicates removed {second.reasons.get('duplicate', 0)}  ({on / off:.2f}x the time of off)")
    print(f"rerun with only retrieval.dedup.threshold changed: {rerun:6.2f} s ({rerun / on:.2f}x a full run), "
          f"stages run {third.units_run}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--input-size", type=int, default=320)
    args = parser.parse_args()
    main(args.images, args.input_size)
