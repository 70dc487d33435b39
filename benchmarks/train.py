"""Training throughput on this machine: prints figures, asserts nothing.

1. images/s and peak memory per preset, bf16 autocast vs fp32, on synthetic multi-crop batches (model step only);
2. the loss (prototype logits + matching loss, forward and backward) and the teacher EMA update as a share of the
   step time, timed in isolation on the same shapes;
3. the data-wait share of a real `train()` run on generated shards, with the preset's default DataLoader workers.

    .venv/bin/python benchmarks/train.py                       # tiny-cpu and vit-s16 (batch 4), 2 steps timed
    .venv/bin/python benchmarks/train.py --presets tiny-cpu --steps 10
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from shards import Sample, make_key, write_shard, write_sizes
from shards.sample_meta import Face, SampleMeta
from training.config import TrainConfig, load_train_config
from training.task import ProSTask


def synthetic_views(config: TrainConfig, batch: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    d = config.data
    return ([torch.randn(batch, 3, d.global_size, d.global_size) for _ in range(2)],
            [torch.randn(batch, 3, d.local_size, d.local_size) for _ in range(d.num_local)])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_steps(task: ProSTask, optimizer: torch.optim.Optimizer, views: tuple, precision: str, steps: int) -> float:
    """Median seconds of a full step (forward, backward, AdamW, EMA) after one warm-up step."""
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = task(*views, 0.04)
        out["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        task.update_teacher(0.996)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def time_loss_and_ema(
    task: ProSTask, config: TrainConfig, batch: int, precision: str, steps: int
) -> tuple[float, float]:
    """Median seconds of (prototype logits + matching loss, forward + backward) and of the EMA update."""
    n_views = 2 + config.data.num_local
    dim = config.model.bottleneck
    loss_times, ema_times = [], []
    for _ in range(steps + 1):
        student = torch.nn.functional.normalize(torch.randn(n_views * batch, dim), dim=-1).requires_grad_(True)
        teacher = torch.nn.functional.normalize(torch.randn(2 * batch, dim), dim=-1)
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            with torch.no_grad():
                teacher_logits = task._teacher_prototypes()(teacher)
            matched = task.criterion(task.prototypes(student), teacher_logits, n_views, 0.04)
        matched.loss.backward()
        loss_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        task.update_teacher(0.996)
        ema_times.append(time.perf_counter() - start)
    return statistics.median(loss_times[1:]), statistics.median(ema_times[1:])


def model_benchmark(preset: str, batch: int, steps: int) -> list[dict]:
    """Each precision in a fresh process, so the peak resident memory is that configuration's own."""
    rows = []
    for precision in ("bf16", "fp32"):
        command = [sys.executable, __file__, "--one", preset, precision, str(batch), str(steps),
                   "--threads", str(torch.get_num_threads())]
        line = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(line))
        print(line, flush=True)
    return rows


def one_model_benchmark(preset: str, precision: str, batch: int, steps: int) -> dict:
    config = load_train_config(preset=preset, overrides=[f"data.batch_size={batch}"])
    torch.manual_seed(0)
    task = ProSTask(config.model, config.loss).train()
    optimizer = torch.optim.AdamW(task.parameter_groups(0.04), lr=1e-4)
    views = synthetic_views(config, batch)
    step = time_steps(task, optimizer, views, precision, steps)
    loss, ema = time_loss_and_ema(task, config, batch, precision, steps)
    images = batch * (2 + config.data.num_local)
    return {
        "preset": preset, "precision": precision, "batch": batch, "step_s": round(step, 4),
        "images_per_s": round(batch / step, 2), "crops_per_s": round(images / step, 1),
        "loss_share": round(loss / step, 4), "ema_share": round(ema / step, 4),
        "loss_plus_ema_share": round((loss + ema) / step, 4), "peak_rss_mb": round(peak_rss_mb()),
    }


def generated_shards(directory: Path, n_shards: int = 4, per_shard: int = 64, size: int = 160) -> Path:
    """Face-like generated crops (a skin ellipse on noise) with SampleMeta json, written through ``shards``."""
    rng = np.random.default_rng(0)
    for index in range(n_shards):
        samples = []
        for item in range(per_shard):
            key = make_key(index, item)
            box = (0.25 * size, 0.2 * size, 0.75 * size, 0.8 * size)
            eyes = ((0.4 * size, 0.4 * size), (0.6 * size, 0.4 * size))
            landmarks = (*eyes, (0.5 * size, 0.5 * size), (0.42 * size, 0.65 * size), (0.58 * size, 0.65 * size))
            meta = SampleMeta(key, f"bench-{key}", None, None, (size, size), (0.0, 0.0, size, size), size,
                              (Face(box, landmarks, 0.99),), 0.3)
            pixels = np.clip(rng.integers(40, 200, 3) + rng.normal(0, 15, (size, size, 3)), 0, 255).astype(np.uint8)
            image = Image.fromarray(pixels)
            ImageDraw.Draw(image).ellipse(box, fill=tuple(int(c) for c in rng.integers(120, 230, 3)))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=90)
            samples.append(Sample(key, {"jpg": buffer.getvalue(), "json": meta.to_json()}))
        write_shard(directory, index, samples)
    write_sizes(directory)
    return directory


def data_wait_benchmark(preset: str, batch: int, steps: int, shards: Path, workdir: Path) -> dict:
    from training.loop import train
    from training.metrics import read_metrics

    run = workdir / f"run-{preset}"
    config = load_train_config(preset=preset, overrides=[
        f"data.batch_size={batch}", f"run.max_steps={steps}", f"run.log_every={max(1, steps // 2)}",
        f"run.checkpoint_every={steps}", "run.plot_every=0", f"run.num_threads={torch.get_num_threads()}",
    ])
    train([str(p) for p in sorted(shards.glob("*.tar"))], run, config)
    first, last = read_metrics(run)[0], read_metrics(run)[-1]  # first half (with worker start-up), second half
    row = {"preset": preset, "batch": batch, "num_workers": config.data.num_workers, "steps": steps,
           "data_wait_share_first_half": round(first["train/data_wait_share"], 4),
           "data_wait_share_second_half": round(last["train/data_wait_share"], 4),
           "images_per_s_with_data_second_half": round(last["train/images_per_s"], 2)}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["tiny-cpu", "vit-s16"])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 4], help="batch per preset, in order")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per measurement (after a warm-up)")
    parser.add_argument("--data-steps", type=int, nargs="+", default=[60, 6], help="train() steps per preset")
    parser.add_argument("--data-only", action="store_true", help="only the data-wait measurement")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--one", nargs=4, metavar=("PRESET", "PRECISION", "BATCH", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.one:
        preset, precision, batch, steps = args.one
        print(json.dumps(one_model_benchmark(preset, precision, int(batch), int(steps))))
        return
    print(json.dumps({"machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "cuda": torch.cuda.is_available(),
                      "load_average_1m": os.getloadavg()[0]}))
    for preset, batch in zip(args.presets, args.batch):
        if not args.data_only:
            model_benchmark(preset, batch, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        shards = generated_shards(Path(tmp) / "shards")
        for preset, batch, steps in zip(args.presets, args.batch, args.data_steps):
            data_wait_benchmark(preset, batch, steps, shards, Path(tmp))


if __name__ == "__main__":
    main()
