"""Are the automatic precision and thread defaults as fast as the best hand-set choice on this machine?

For each preset, real ``pros train`` runs on generated shards (the preset's data workers, images/s from its
metrics after the first steps) with the defaults (``run.precision=auto``, ``run.num_threads=0``) and with every
hand-set precision (bf16, fp32) x intra-op threads (1 .. usable cores), alternating in rounds (each round starting
at another setting) so machine load and position fall on all alike; prints the median images/s of each and the
defaults' ratio to the best. Target: within 10%.

    .venv/bin/python benchmarks/train_defaults.py                                   # tiny-cpu and vit-s16
    .venv/bin/python benchmarks/train_defaults.py --presets tiny-cpu --rounds 3 --steps 30
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train import generated_shards  # noqa: E402  (the same face-like shards as the training benchmark)

from core.hardware import cpu_flags, usable_cores  # noqa: E402

CHOICE_LINE = re.compile(r"precision (\S+) \(([^)]*)\), (\d+) \(([^)]*)\) threads")


def settings(cores: int) -> list[tuple[str, list[str]]]:
    grid = [(f"{precision}, {threads} thread{'s' * (threads > 1)}",
             [f"run.precision={precision}", f"run.num_threads={threads}"])
            for precision in ("bf16", "fp32") for threads in range(1, cores + 1)]
    return [("defaults", []), *grid]


def run_once(shards: Path, out: Path, preset: str, batch: int, steps: int, warm: int, overrides: list[str]) \
        -> tuple[float, str]:
    """Steady-state images/s of one short run, and the defaults' choice as the run logged it."""
    command = [sys.executable, "-m", "pros", "train", str(shards), "--out", str(out), "--preset", preset,
               f"run.max_steps={steps}", f"data.batch_size={batch}", "run.log_every=1",
               f"run.checkpoint_every={steps}", "run.plot_every=0", *overrides]
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = [r["train/images_per_s"] for r in records if r["step"] > warm]
    choice = CHOICE_LINE.search(" ".join(done.stderr.split()) + " " + " ".join(done.stdout.split()))
    return statistics.mean(rates), (f"{choice[1]}, {choice[3]} threads" if choice else "?")


def benchmark(preset: str, batch: int, steps: int, warm: int, rounds: int, shards: Path, work: Path) -> None:
    rates: dict[str, list[float]] = {name: [] for name, _ in settings(usable_cores())}
    chosen = ""
    order = settings(usable_cores())
    for round_index in range(rounds):
        shift = round_index % len(order)  # each setting runs in another position each round
        for name, overrides in order[shift:] + order[:shift]:
            out = work / f"{preset}-{round_index}-{len(rates[name])}-{name.replace(', ', '-').replace(' ', '')}"
            rate, choice = run_once(shards, out, preset, batch, steps, warm, overrides)
            rates[name].append(rate)
            chosen = choice if name == "defaults" else chosen
            print(f"  round {round_index + 1} {preset} {name}: {rate:.2f} images/s (load {os.getloadavg()[0]:.1f})",
                  flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    best = max((v, k) for k, v in medians.items() if k != "defaults")
    print(f"\n{preset}, batch {batch}, steps {warm + 1}-{steps} of each run, median of {rounds} rounds; "
          f"the defaults chose {chosen}")
    print("| setting | images/s | vs best hand-set |\n|---|---|---|")
    for name, value in medians.items():
        print(f"| {name} | {value:.2f} | {value / best[0]:.2f} |")
    print(f"defaults / best ({best[1]}): {medians['defaults'] / best[0]:.2f}\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny-cpu", "vit-s16"])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 8], help="batch per preset, in order")
    parser.add_argument("--steps", type=int, nargs="+", default=[30, 6], help="steps per run, per preset")
    parser.add_argument("--warm", type=int, nargs="+", default=[5, 2], help="first steps not timed, per preset")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    bf16 = sorted(flag for flag in cpu_flags() if "bf16" in flag or flag.startswith("amx"))
    print(f"{platform.processor() or platform.machine()}, {usable_cores()} usable cores, bf16/AMX flags: "
          f"{', '.join(bf16) or 'none'}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        shards = generated_shards(Path(tmp) / "shards")
        for preset, batch, steps, warm in zip(args.presets, args.batch, args.steps, args.warm):
            benchmark(preset, batch, steps, warm, args.rounds, shards, Path(tmp))


if __name__ == "__main__":
    main()
