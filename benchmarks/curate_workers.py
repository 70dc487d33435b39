"""``pros curate`` with its defaults (``--workers auto``, ``sources.files_per_unit=auto``) against ``--workers 1`` on
the demo's real-photo dump: wall time of whole CLI runs, alternating, fresh output each run, and whether the shards of
both are byte-identical.

Usage:
  python benchmarks/curate_workers.py [--copies 4] [--pairs 3] [--work /tmp/curate_workers] [-- EXTRA KEY=VALUE ...]

Ratios within one run are the figures to read: absolute times drift on a shared machine (the load average is
printed beside every run).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shard_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((out / "shards").glob("*.tar")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(dump: Path, out: Path, extra: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the run and its workers) and the shards' digest of one fresh run."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pros", "curate", str(dump), "--out", str(out), *extra]
    start, cpu = time.perf_counter(), children_cpu()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "PYTHONPATH": str(REPO)})
    return time.perf_counter() - start, children_cpu() - cpu, shard_digest(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies per photo in the demo dump")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/curate_workers"))
    parser.add_argument("extra", nargs="*", help="config overrides for both variants")
    args = parser.parse_args()

    from pros.demo.dump import build_dump

    dump = build_dump(args.work / "dump", args.copies, 0)
    files = sum(1 for p in dump.directory.rglob("*") if p.is_file())
    print(f"dump {dump.directory}: {files} files; cores usable: {len(os.sched_getaffinity(0))}")
    variants = {"default (--workers auto)": [], "--workers 1": ["--workers", "1"]}
    times: dict[str, list[float]] = {name: [] for name in variants}
    digests: set[str] = set()
    for pair in range(args.pairs):
        for name, flags in (variants.items() if pair % 2 == 0 else reversed(variants.items())):
            seconds, cpu, digest = timed_run(dump.directory, args.work / "out", [*flags, *args.extra])
            times[name].append(seconds)
            digests.add(digest)
            print(f"pair {pair + 1} {name:<26} {seconds:6.1f} s wall, {cpu:6.1f} s CPU, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    ratios = [one / auto for one, auto in zip(times["--workers 1"], times["default (--workers auto)"])]
    print(f"--workers 1 time / default time per pair: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"median {statistics.median(ratios):.2f}")
    print(f"shards identical across all runs: {len(digests) == 1}")


if __name__ == "__main__":
    main()
