"""Every CUDA path of pros in one short run, with one table of images/s and peak memory.

    python benchmarks/gpu_check.py                  # on a CUDA machine: about 5-8 minutes on one GPU
    python benchmarks/gpu_check.py --device cpu --quick   # the same steps on the CPU at toy sizes (what the tests run)

Steps: curation of N real-photo variants (onnxruntime CUDA provider for detection and embedding, faiss on the GPU for
retrieval and dedup); vit-s16 training in bf16 for 50 steps without and with ``torch.compile``; FSDP2 on one GPU
(torchrun, one process); export; eval feature extraction. Without CUDA (and without ``--device cpu``) it says so and
exits 0. Peak memory is torch's allocator peak in this process (the onnxruntime and faiss pools are not in it) and, on
CUDA, the device-wide peak sampled from ``nvidia-smi``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class Sizes:
    images: int  # raw dump size for curation
    preset: str
    batch: int
    steps: int
    compile: bool


FULL = Sizes(images=500, preset="vit-s16", batch=32, steps=50, compile=True)
QUICK = Sizes(images=24, preset="tiny-cpu", batch=8, steps=3, compile=False)


@dataclass
class Row:
    step: str
    images: int
    seconds: float
    torch_peak_mb: float
    device_peak_mb: float | None
    note: str

    def line(self) -> str:
        rate = self.images / self.seconds if self.seconds else 0.0
        device = f"{self.device_peak_mb:.0f}" if self.device_peak_mb is not None else "-"
        return (f"| {self.step} | {self.images} | {self.seconds:.1f} | {rate:.1f} | {self.torch_peak_mb:.0f} | {device} "
                f"| {self.note} |")


class DevicePeak:
    """The highest ``memory.used`` nvidia-smi reports while a step runs (None without nvidia-smi)."""

    def __init__(self) -> None:
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                     capture_output=True, text=True, timeout=5, check=True).stdout
            except (OSError, subprocess.SubprocessError):
                return
            used = max(float(v) for v in out.split())
            self.peak = used if self.peak is None else max(self.peak, used)

    def __enter__(self) -> DevicePeak:
        if shutil.which("nvidia-smi"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def measure(name: str, device: str, run: Callable[[], tuple[int, str]]) -> Row:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with DevicePeak() as sampler:
        start = time.perf_counter()
        images, note = run()
        seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
    return Row(name, images, seconds, peak, sampler.peak, note)


def curate_step(work: Path, sizes: Sizes, device: str) -> tuple[int, str]:
    from curation.config import load_curate_config
    from curation.pipeline.run import curate
    from pros.demo.dump import FACE_PHOTOS, OTHER_PHOTOS, build_dump

    copies = max(1, math.ceil(sizes.images / (len(FACE_PHOTOS) + len(OTHER_PHOTOS))))
    dump = build_dump(work / "dump", copies)
    embed_device = "cuda" if device == "cuda" else "cpu"
    config = load_curate_config(None, [f"detect.device={'auto' if device == 'cuda' else 'cpu'}",
                                       f"retrieval.embed.device={embed_device}"])
    result = curate([str(dump.directory)], work / "curated", config)
    return result.inputs, f"{result.samples} crops; {accelerators()}"


def accelerators() -> str:
    import onnxruntime

    try:
        import faiss

        gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    except ImportError:
        gpus = 0
    cuda_provider = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    return f"onnxruntime CUDA provider {'on' if cuda_provider else 'off'}, faiss GPUs {gpus}"


def train_overrides(sizes: Sizes, device: str, steps: int) -> list[str]:
    return [f"run.device={device}", f"run.max_steps={steps}", f"data.batch_size={sizes.batch}",
            f"run.checkpoint_every={steps}", "run.plot_every=0", "run.log_every=1"]


def train_step(work: Path, sizes: Sizes, device: str, compile_model: bool) -> tuple[int, str]:
    from core.hardware import resolve_precision
    from training.config import load_train_config
    from training.loop import train

    name = "train_compiled" if compile_model else "train"
    overrides = [*train_overrides(sizes, device, sizes.steps), f"run.compile={str(compile_model).lower()}"]
    config = load_train_config(None, sizes.preset, overrides)
    train([str(work / "curated" / "shards")], work / name, config, command=f"gpu_check {name}")
    precision = resolve_precision(config.run.precision, device)
    return sizes.steps * sizes.batch, f"{sizes.preset}, precision {precision}, {last_rate(work / name)}"


def last_rate(run: Path) -> str:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rates = [r["train/images_per_s"] for r in records[1:] if "train/images_per_s" in r]  # the first step warms up
    return f"{sum(rates) / len(rates):.1f} images/s after step 1" if rates else "no steady-state rate"


def fsdp_step(work: Path, sizes: Sizes, device: str) -> tuple[int, str]:
    steps = max(2, sizes.steps // 5)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "pros", "train",
               str(work / "curated" / "shards"), "--out", str(work / "fsdp"), "--preset", sizes.preset,
               *train_overrides(sizes, device, steps), "run.strategy=fsdp"]
    subprocess.run(command, check=True, timeout=600)
    return steps * sizes.batch, "torchrun, 1 process, run.strategy=fsdp (peak memory is the child's, not shown)"


def export_step(work: Path) -> tuple[int, str]:
    from training.export import export_run

    result = export_run(work / "train", work / "export")
    return 1, f"max |ours - timm| {result.max_abs_diff:.1e}"


def eval_step(work: Path, device: str) -> tuple[int, str]:
    from core.config import build_config
    from downstream.config import EvalConfig
    from downstream.evaluate import run_eval
    from pros.demo.lfw_proxy import write_lfw_proxy

    data = write_lfw_proxy(work / "lfw_subset")
    config = build_config(EvalConfig, {"benchmark": "imagefolder", "device": device, "linear": {"epochs": 5},
                                       "features": {"cache_dir": str(work / "feature_cache")}})
    run_eval(str(work / "export"), data, work / "eval", config, command="gpu_check eval")
    images = sum(1 for _ in data.rglob("*.png")) + sum(1 for _ in data.rglob("*.jpg"))
    return images, "feature extraction + linear probe, imagefolder (lfw_subset)"


def run_checks(work: Path, sizes: Sizes, device: str) -> list[Row]:
    steps: list[tuple[str, Callable[[], tuple[int, str]]]] = [
        ("curate", lambda: curate_step(work, sizes, device)),
        ("train", lambda: train_step(work, sizes, device, compile_model=False)),
    ]
    if sizes.compile:
        steps.append(("train + torch.compile", lambda: train_step(work, sizes, device, compile_model=True)))
    steps += [
        ("FSDP2 (1 GPU)" if device == "cuda" else "FSDP2 (1 process)", lambda: fsdp_step(work, sizes, device)),
        ("export", lambda: export_step(work)),
        ("eval features", lambda: eval_step(work, device)),
    ]
    rows = []
    for name, step in steps:
        rows.append(measure(name, device, step))
        print(f"done: {rows[-1].step}", flush=True)
    return rows


def header(device: str) -> str:
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU"
    return (f"gpu_check on {name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
            "| step | images | s | images/s | torch peak (MiB) | device peak (MiB) | note |\n|---|---|---|---|---|---|---|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="toy sizes (tiny-cpu preset, 24 images, 3 steps)")
    parser.add_argument("--work", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing to check here (run with --device cpu to exercise the steps)")
        return 0
    sizes = QUICK if args.quick else FULL
    work = args.work or Path(tempfile.mkdtemp(prefix="pros-gpu-check-"))
    os.environ.setdefault("PROS_CACHE", str(work / "cache"))
    rows = run_checks(work, sizes, args.device)
    print("\n".join([header(args.device), *(row.line() for row in rows), f"outputs in {work}"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
