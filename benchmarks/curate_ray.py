"""``pros curate --executor ray`` against the local executor on one machine: wall time of the same command, and
the fixed cost of starting a local Ray.

Usage:
  python benchmarks/curate_ray.py [--images 120] [--per-unit 20] [--input-size 320] [--work /tmp/curate_ray_bench]

Both runs are the real CLI in a subprocess on the same dump (real-photo variants, see benchmarks/curate.py), first pass
only (`retrieval.enabled=false`), with as many local workers as Ray actors and one onnxruntime thread each. Compare the
ratio, not absolute figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from curate import FIRST_PASS, make_dump  # the sibling benchmark's real-photo dump and first-pass switch


def timed_run(dump: Path, out: Path, args: argparse.Namespace, *extra: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pros", "curate", str(dump), "--out", str(out),
               f"detect.input_size={args.input_size}", f"sources.files_per_unit={args.per_unit}",
               "detect.threads=1", FIRST_PASS, *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def ray_start_seconds(cpus: int) -> float:
    import ray

    start = time.perf_counter()
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
    ray.shutdown()
    return time.perf_counter() - start


def same_shards(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in (a / "shards").iterdir() if p.suffix in (".tar", ".parquet"))
    return all(filecmp.cmp(a / "shards" / n, b / "shards" / n, shallow=False) for n in names)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--per-unit", type=int, default=20)
    parser.add_argument("--input-size", type=int, default=320)
    parser.add_argument("--work", type=Path, default=Path("/tmp/curate_ray_bench"))
    args = parser.parse_args()

    cores = len(os.sched_getaffinity(0))
    dump = make_dump(args.work / f"dump_{args.images}", args.images)
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores; {args.images} images, "
          f"{args.images // args.per_unit} units, detect.input_size={args.input_size}")
    local = timed_run(dump, args.work / "local", args, f"--workers={cores}")
    on_ray = timed_run(dump, args.work / "ray", args, "--executor", "ray", f"ray.actors={cores}")
    startup = ray_start_seconds(cores)
    print(f"local executor, {cores} workers:   {local:6.1f} s  {args.images / local:6.1f} images/s")
    print(f"ray executor, {cores} actors:      {on_ray:6.1f} s  {args.images / on_ray:6.1f} images/s")
    print(f"ray / local wall time:          {on_ray / local:6.2f}")
    print(f"local Ray start + stop alone:   {startup:6.1f} s")
    print(f"identical shards:               {same_shards(args.work / 'local', args.work / 'ray')}")


if __name__ == "__main__":
    main()
