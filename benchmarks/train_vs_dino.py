"""pros's training data pipeline and model step beside facebookresearch/dino's own code: prints figures, asserts
nothing.

    .venv/bin/python benchmarks/train_vs_dino.py --dino-repo /path/to/dino      # both parts, tiny-cpu and vit-s16
    .venv/bin/python benchmarks/train_vs_dino.py --dino-repo PATH --parts data --rounds 7

One process, same shards (real photos: ``pros demo``'s dump curated by ``pros curate`` in a temporary folder, or
``--shards DIR``), same configuration on both sides (ViT, head width, prototypes, 2 global + N local crops, batch,
precision), and the two sides alternate in rounds (which side goes first alternates too), so other load on the
machine hits both alike; the figures are medians over rounds of each round's ratio.

(a) data pipeline, images/s per worker core (torch and OpenCV on one thread, no DataLoader workers): pros's
    ``MultiCropStream`` over the shards + collation + ``device_views`` (float conversion and normalization per
    batch) against DINO's ``DataAugmentationDINO`` over ``ImageFolder`` on the same JPEGs extracted to a folder,
    with DINO's collation. pros with ``data.augment_on=device`` is timed in two parts: the worker (decode, crop,
    resize) and the batched augmentation where the device is this CPU.
(b) model step alone (forward, backward, optimizer, teacher EMA) on fixed random views: DINO's
    VisionTransformer + DINOHead + DINOLoss against ``ProSTask`` with the ``dino`` loss (EMA prototypes) and with
    ProS defaults (shared prototypes), images/s, each with explicit attention as training runs it on the CPU; and
    ProS defaults with torch's fused ``scaled_dot_product_attention`` (what timm uses by default), to show what the
    attention kernel costs.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dino_reference import DinoStep, dino_augmentation, import_dino

from core.hardware import resolve_precision, resolve_threads
from training.config import TrainConfig, load_train_config
from training.data.batch import device_views, step_generator
from training.data.dataset import MultiCropStream, make_loader
from training.model.backbone import use_explicit_attention
from training.optim import clip_gradients
from training.task import ProSTask

SHAPES = {"tiny-cpu": "tiny-cpu", "vit-s16": "vit-s16"}


def machine_line() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return f"{model}, {len(os.sched_getaffinity(0))} usable cores, torch {torch.__version__}"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def curated_shards(work: Path) -> Path:
    """``pros demo``'s dump of real photos (8 copies each), curated without retrieval so every copy stays."""
    from curation.config import load_curate_config
    from curation.pipeline.run import curate
    from pros.demo.dump import build_dump

    build_dump(work / "dump", copies_per_photo=8, seed=0)
    result = curate([str(work / "dump")], work / "curated", load_curate_config(None, ["retrieval.enabled=false"]),
                    command="benchmarks/train_vs_dino.py")
    print(f"curated {result.inputs} photos -> {result.samples} face crops in {work / 'curated' / 'shards'}")
    return work / "curated" / "shards"


def extract_jpegs(shards: Path, folder: Path, at_least: int) -> int:
    """The shards' JPEGs as files ``folder/faces/*.jpg`` for DINO's ImageFolder (repeated up to ``at_least``)."""
    payloads = []
    for tar in sorted(shards.glob("*.tar")):
        with tarfile.open(tar) as archive:
            payloads += [archive.extractfile(m).read() for m in archive.getmembers() if m.name.endswith(".jpg")]
    (folder / "faces").mkdir(parents=True, exist_ok=True)
    copies = max(1, -(-at_least // len(payloads)))
    for copy, (index, payload) in itertools.product(range(copies), enumerate(payloads)):
        (folder / "faces" / f"{copy:03d}_{index:05d}.jpg").write_bytes(payload)
    return len(payloads)


def shape_config(shape: str, *overrides: str) -> TrainConfig:
    return load_train_config(preset=SHAPES[shape], overrides=list(overrides))


# ---------------------------------------------------------------------------------------------------- data pipeline

class ProsData:
    """Batches from pros's stream, one process; ``seconds`` splits the time into the worker and the device parts."""

    def __init__(self, urls: list[str], config: TrainConfig) -> None:
        self.config = config
        stream = MultiCropStream(urls, config.data, seed=0, start_step=0)
        self.batches = iter(make_loader(stream, config.data, pin_memory=False))
        self.step = 0

    def run(self, n_batches: int) -> tuple[int, float, float]:
        images, worker, device = 0, 0.0, 0.0
        for _ in range(n_batches):
            start = time.perf_counter()
            views, _, _ = next(self.batches)
            middle = time.perf_counter()
            generator = step_generator(torch.device("cpu"), 0, self.step, 0)
            device_views(views, self.config.data, torch.device("cpu"), generator)
            end = time.perf_counter()
            self.step += 1
            images += views[0].shape[0]
            worker, device = worker + middle - start, device + end - middle
        return images, worker, device


class DinoData:
    def __init__(self, dino, folder: Path, config: TrainConfig) -> None:
        from torchvision.datasets import ImageFolder

        dataset = ImageFolder(str(folder), transform=dino_augmentation(dino, config.data))
        loader = torch.utils.data.DataLoader(dataset, batch_size=config.data.batch_size, shuffle=True,
                                             num_workers=0, drop_last=True)
        self.batches = _forever(loader)

    def run(self, n_batches: int) -> tuple[int, float, float]:
        start = time.perf_counter()
        images = sum(next(self.batches)[0][0].shape[0] for _ in range(n_batches))
        return images, time.perf_counter() - start, 0.0


def _forever(loader: torch.utils.data.DataLoader) -> Iterator:
    while True:
        yield from loader


def data_benchmark(dino, shards: Path, folder: Path, shape: str, rounds: int, n_batches: int) -> list[dict]:
    urls = [str(p) for p in sorted(shards.glob("*.tar"))]
    base = shape_config(shape, "data.num_workers=0")
    sides: dict[str, Callable[[], ProsData | DinoData]] = {
        "dino": lambda: DinoData(dino, folder, base),
        "pros": lambda: ProsData(urls, base),
        "pros augment_on=device": lambda: ProsData(urls, shape_config(shape, "data.num_workers=0",
                                                                       "data.augment_on=device")),
    }
    runners = {name: make() for name, make in sides.items()}
    for runner in runners.values():
        runner.run(1)  # warm-up: shuffle buffers filled, files in the page cache
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    names = list(runners)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            images, worker, device = runners[name].run(n_batches)
            per_round[name].append((images / worker, images / device if device else 0.0))
        print(f"  data {shape} round {index + 1}: " + ", ".join(
            f"{n} {per_round[n][-1][0]:.1f}" for n in names) + " img/s", flush=True)
    return summarize(shape, "data images/s per worker core", per_round, "dino")


# ------------------------------------------------------------------------------------------------------ model step

class ProsStep:
    """The loop's step without its bookkeeping: forward, finite check, backward, clip, AdamW, teacher EMA."""

    def __init__(self, config: TrainConfig, precision: str, fused_attention: bool = False) -> None:
        torch.manual_seed(0)
        self.config = config
        self.precision = precision
        self.task = ProSTask(config.model, config.loss).train()
        if not fused_attention:  # what training does on the CPU (training.loop.prepare)
            use_explicit_attention(self.task)
        self.optimizer = torch.optim.AdamW(self.task.parameter_groups(config.optim.weight_decay), lr=1e-5)
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]

    def __call__(self, global_views: list[torch.Tensor], local_views: list[torch.Tensor], momentum: float) -> float:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            out = self.task(global_views, local_views, self.config.loss.teacher_temp)
        loss = out["loss"]
        if not bool(torch.isfinite(loss.detach())):
            raise FloatingPointError(f"pros's loss is {float(loss)}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(self.params, self.config.optim.clip_grad)
        self.optimizer.step()
        self.task.update_teacher(momentum)
        return float(loss.detach())


def fixed_views(config: TrainConfig) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    d = config.data

    def views(n: int, size: int) -> list[torch.Tensor]:
        return [torch.randn(d.batch_size, 3, size, size, generator=generator) for _ in range(n)]

    return views(2, d.global_size), views(d.num_local, d.local_size)


def model_benchmark(dino, shape: str, batch: int, precision: str, rounds: int, steps: int) -> list[dict]:
    base = shape_config(shape, f"data.batch_size={batch}")
    dino_loss = shape_config(shape, f"data.batch_size={batch}", "loss.kind=dino", "loss.prototypes=ema")
    steppers = {
        "dino": DinoStep(dino, base, precision),
        "pros dino loss": ProsStep(dino_loss, precision),
        "pros defaults": ProsStep(base, precision),
        "pros defaults, torch's fused attention (before 2026-12-01)": ProsStep(base, precision, fused_attention=True),
    }
    views = fixed_views(base)
    for step in steppers.values():
        step(*views, 0.996)  # warm-up
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in steppers}
    names = list(steppers)
    for index in range(rounds):
        for name in names if index % 2 == 0 else names[::-1]:
            times = []
            for _ in range(steps):
                start = time.perf_counter()
                steppers[name](*views, 0.996)
                times.append(time.perf_counter() - start)
            per_round[name].append((batch / statistics.median(times), 0.0))
        print(f"  step {shape} round {index + 1}: " + ", ".join(
            f"{n} {per_round[n][-1][0]:.2f}" for n in names) + " img/s", flush=True)
    return summarize(shape, f"model step images/s (batch {batch}, {precision})", per_round, "dino")


# ----------------------------------------------------------------------------------------------------------- report

def summarize(shape: str, what: str, per_round: dict[str, list[tuple[float, float]]], reference: str) -> list[dict]:
    rows = []
    for name, values in per_round.items():
        ratios = [v[0] / r[0] for v, r in zip(values, per_round[reference])]
        row = {"shape": shape, "what": what, "side": name, "images_per_s": statistics.median(v[0] for v in values),
               "ratio": statistics.median(ratios), "ratios": ratios}
        if any(v[1] for v in values):
            row["device_part_images_per_s"] = statistics.median(v[1] for v in values)
        rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    print("\n| shape | measure | side | images/s (median) | / DINO (median of rounds) | per-round ratios |")
    print("|---|---|---|---:|---:|---|")
    for row in rows:
        extra = ""
        if "device_part_images_per_s" in row:
            part = "augmentation + normalization" if "device" in row["side"] else "float conversion + normalization"
            extra = f" (+ batched {part} on this CPU: {row['device_part_images_per_s']:.0f} img/s)"
        ratios = ", ".join(f"{r:.2f}" for r in row["ratios"])
        print(f"| {row['shape']} | {row['what']} | {row['side']}{extra} | {row['images_per_s']:.2f} | "
              f"**{row['ratio']:.2f}** | {ratios} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dino-repo", type=Path, required=True, help="a checkout of facebookresearch/dino")
    parser.add_argument("--shards", type=Path, help="curated shards to use (default: curate real photos into --work)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--parts", nargs="+", choices=("data", "model"), default=["data", "model"])
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data-batches", type=int, default=2, help="batches per side and round")
    parser.add_argument("--steps", type=int, default=2, help="model steps per side and round (median taken)")
    parser.add_argument("--s16-batch", type=int, default=4, help="vit-s16 batch for the model step")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto")
    parser.add_argument("--threads", type=int, default=1,
                        help="model-step threads (default 1: one core, as the data part; 0: pros.s default choice)")
    args = parser.parse_args()

    dino = import_dino(args.dino_repo)
    precision = str(resolve_precision(args.precision, "cpu").value)
    print(f"machine: {machine_line()}; precision {resolve_precision(args.precision, 'cpu')}")
    print(f"load at start: {load()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="train_vs_dino_") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        rows = []
        if "data" in args.parts:
            shards = args.shards or curated_shards(work)
            torch.set_num_threads(1)
            cv2.setNumThreads(1)
            folder = work / "jpegs"
            if not folder.exists():
                extract_jpegs(shards, folder, at_least=256)
            for shape in args.shapes:
                rows += data_benchmark(dino, shards, folder, shape, args.rounds, args.data_batches)
        if "model" in args.parts:
            threads = resolve_threads(args.threads)
            print(f"model step: {threads} threads", flush=True)
            torch.set_num_threads(int(threads.value))
            for shape in args.shapes:
                batch = args.s16_batch if shape == "vit-s16" else shape_config(shape).data.batch_size
                rows += model_benchmark(dino, shape, batch, precision, args.rounds, args.steps)
    print(f"load at end: {load()}")
    print_table(rows)


if __name__ == "__main__":
    main()
