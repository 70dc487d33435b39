"""``pros curate`` throughput: each stage alone and end to end, worker scaling, and peak memory against dump size.

Usage:
  python benchmarks/curate.py [--images 200] [--repeats 3] [--input-size 640] [--memory 1000,10000] [--work /tmp/curate_bench]

The dump is generated from real photos (insightface t1.jpg and Tom_Hanks, matplotlib grace_hopper, skimage
astronaut / coffee / chelsea / rocket): random crops, mirrors and resizes (longer side 400..1200 px), saved as JPEG.
Ratios within one run are what to compare: absolute figures drift on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
FIRST_PASS = "retrieval.enabled=false"  # the first half of curation; benchmarks/curate_retrieval.py measures the rest


def real_photos() -> list[Image.Image]:
    import insightface
    import matplotlib
    import skimage.data

    insight = Path(insightface.__file__).parent / "data" / "images"
    photos = [Image.open(insight / "t1.jpg"), Image.open(insight / "Tom_Hanks_54745.png"),
              Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")]
    photos += [Image.fromarray(getattr(skimage.data, name)()) for name in ("astronaut", "coffee", "chelsea", "rocket")]
    return [p.convert("RGB") for p in photos]


def make_dump(folder: Path, count: int, unique: int | None = None, seed: int = 0) -> Path:
    """``count`` JPEG variants of the real photos; past ``unique`` files, hard links repeat earlier ones (same
    bytes, different names: the pipeline treats them as separate inputs)."""
    if folder.exists() and len(list(folder.iterdir())) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    photos = real_photos()
    unique = min(count, unique or count)
    for n in range(unique):
        image = photos[int(rng.integers(len(photos)))]
        w, h = image.size
        cut = rng.uniform(0.0, 0.15, size=4)
        image = image.crop((int(cut[0] * w), int(cut[1] * h), int(w * (1 - cut[2])), int(h * (1 - cut[3]))))
        if rng.random() < 0.5:
            image = ImageOps.mirror(image)
        side = int(rng.integers(400, 1200))
        scale = side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        image.save(folder / f"img_{n:06d}.jpg", quality=90)
    for n in range(unique, count):
        os.link(folder / f"img_{n % unique:06d}.jpg", folder / f"img_{n:06d}.jpg")
    return folder


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (pool workers are joined before we read it)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def stages_alone(dump: Path, input_size: int, threads: int) -> dict[str, float]:
    """images/s of reading+decoding, of the detector, and of selection+crops, each alone on the same images."""
    from curation.config import load_curate_config
    from curation.crops import face_crop, select_faces
    from curation.decode import decode_image
    from curation.detect import build_detector
    from curation.pipeline.records import fit_within, to_decoded_pixels

    config = load_curate_config(None, [f"detect.input_size={input_size}", f"detect.threads={threads}"])
    files = sorted(dump.iterdir())
    cpu = {}
    start, cpu_start = time.perf_counter(), cpu_seconds()
    decoded = [decode_image(f.read_bytes(), config.decode, f.name) for f in files]
    small = [fit_within(d.rgb, input_size) for d in decoded]
    decode_s = time.perf_counter() - start
    cpu["decode"] = cpu_seconds() - cpu_start

    detector = build_detector(config.detect)
    detector.detect([s[0] for s in small[: config.detect.batch_size]])  # warm-up
    start, cpu_start = time.perf_counter(), cpu_seconds()
    faces = []
    for begin in range(0, len(small), config.detect.batch_size):
        faces += detector.detect([s[0] for s in small[begin: begin + config.detect.batch_size]])
    detect_s = time.perf_counter() - start
    cpu["detect"] = cpu_seconds() - cpu_start

    start, cpu_start = time.perf_counter(), cpu_seconds()
    crops = 0
    for image, (_, scale), found in zip(decoded, small, faces):
        in_decoded = to_decoded_pixels(found, scale)
        factor = image.original_size[0] / image.rgb.shape[1]
        kept, _ = select_faces(in_decoded, config.crops, scale=factor)
        for face in kept:
            index = next(i for i, f in enumerate(in_decoded) if f is face)
            face_crop(image.rgb, index, in_decoded, config.crops, key=f"k{crops}", source_id="s", source_path=None,
                      source_url=None, original_size=image.original_size, scale=factor)
            crops += 1
    crop_s = time.perf_counter() - start
    cpu["crop"] = cpu_seconds() - cpu_start
    n = len(files)
    return {"decode": rate(n, decode_s), "detect": rate(n, detect_s), "crop": rate(n, crop_s), "crops_made": crops,
            "cpu_ms_per_image": {k: 1000 * v / n for k, v in cpu.items()}}


def end_to_end(dump: Path, out: Path, input_size: int, workers: int, *extra: str) -> tuple[float, float, float]:
    """(images/s of the whole ``curate`` call, images/s without the final report, CPU ms per image without the
    report), in this process."""
    from rich.console import Console

    from curation.config import load_curate_config
    from curation.pipeline import run as run_module

    shutil.rmtree(out, ignore_errors=True)
    config = load_curate_config(None, [f"detect.input_size={input_size}", f"workers={workers}", FIRST_PASS, *extra])
    timings = {}
    original = run_module.write_sizes

    def timed_sizes(directory):  # the executor is done when sizes.json is written; the report follows
        timings["executor_end"] = time.perf_counter()
        timings["executor_cpu"] = cpu_seconds()
        return original(directory)

    run_module.write_sizes = timed_sizes
    try:
        start, cpu_start = time.perf_counter(), cpu_seconds()
        result = run_module.curate([str(dump)], out, config, console=Console(file=open(os.devnull, "w")))
        total = time.perf_counter() - start
    finally:
        run_module.write_sizes = original
    cpu_ms = 1000 * (timings["executor_cpu"] - cpu_start) / result.inputs
    return rate(result.inputs, total), rate(result.inputs, timings["executor_end"] - start), cpu_ms


def peak_memory(dump: Path, out: Path, input_size: int, workers: int) -> float:
    """Peak resident memory (MiB) of a whole ``pros curate`` command run in a fresh process (``--workers 1``: one
    process does everything)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "pros", "curate", str(dump), "--out", str(out), "--workers", str(workers),
               f"detect.input_size={input_size}", FIRST_PASS]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--input-size", type=int, default=640)
    parser.add_argument("--per-unit", type=int, default=25,
                        help="sources.files_per_unit: a unit is the grain of work, so --workers 2 needs several")
    parser.add_argument("--repeats", type=int, default=3,
                        help="detector-alone / end-to-end pairs, alternated; the median ratio is the figure")
    parser.add_argument("--memory", default="1000,10000", help="dump sizes for the peak-memory check ('' to skip)")
    parser.add_argument("--memory-input-size", type=int, default=640,
                        help="detect.input_size of the memory runs (640, the default of pros curate)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/curate_bench"))
    parser.add_argument("--skip-throughput", action="store_true", help="only the peak-memory check")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f} (other work on the machine slows wall-clock figures)")

    if not args.skip_throughput:
        throughput(args, cores)
    sizes = [int(s) for s in args.memory.split(",") if s]
    if sizes:
        memory(args, sizes)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def throughput(args: argparse.Namespace, cores: int) -> None:
    dump = make_dump(args.work / f"dump_{args.images}", args.images)
    units = f"sources.files_per_unit={args.per_unit}"
    ratios, runs = [], []
    for repeat in range(args.repeats):  # alternate, so drifting load hits both sides alike
        alone = stages_alone(dump, args.input_size, threads=cores)
        e2e_total, e2e_exec, e2e_cpu = end_to_end(dump, args.work / "out_w1", args.input_size, 1, units)
        ratios.append(e2e_exec / alone["detect"])
        runs.append({"alone": alone, "e2e_workers1": e2e_exec, "e2e_workers1_with_report": e2e_total,
                     "e2e_cpu_ms_per_image": e2e_cpu})
        print(f"run {repeat + 1}/{args.repeats}, {args.images} images, detector input {args.input_size}, "
              f"{cores} onnxruntime threads:")
        for stage in ("decode", "detect", "crop"):
            print(f"  {stage:<7} alone {alone[stage]:8.1f} images/s   {alone['cpu_ms_per_image'][stage]:7.1f} CPU ms/image")
        print(f"  end to end, --workers 1: {e2e_exec:.1f} images/s without the report ({e2e_total:.1f} with it), "
              f"{e2e_cpu:.1f} CPU ms/image")
        print(f"  end to end / detector alone, wall: {ratios[-1]:.2f}; CPU: "
              f"{alone['cpu_ms_per_image']['detect'] / e2e_cpu:.2f}")
    print(f"end to end / detector alone, median of {args.repeats}: {statistics.median(ratios):.2f} (target >= 0.8); "
          f"runs: {', '.join(f'{r:.2f}' for r in ratios)}")

    e2e_exec = statistics.median(run["e2e_workers1"] for run in runs)
    _, w2, _ = end_to_end(dump, args.work / "out_w2", args.input_size, 2, units)
    print(f"--workers 2: {w2:.1f} images/s; workers 2 / workers 1 (median) = {w2 / e2e_exec:.2f} (target >= 1.6)")
    _, one_thread_1, _ = end_to_end(dump, args.work / "out_w1t1", args.input_size, 1, units, "detect.threads=1")
    _, one_thread_2, _ = end_to_end(dump, args.work / "out_w2t1", args.input_size, 2, units, "detect.threads=1")
    print(f"with detect.threads=1 per worker: workers 1 {one_thread_1:.1f}, workers 2 {one_thread_2:.1f} images/s; "
          f"ratio {one_thread_2 / one_thread_1:.2f}")

    print(json.dumps({"runs": runs, "ratios": ratios, "e2e_workers2": w2, "threads1_workers1": one_thread_1,
                      "threads1_workers2": one_thread_2}))


def memory(args: argparse.Namespace, sizes: list[int]) -> None:
    peaks = {}
    for size in sizes:
        big = make_dump(args.work / f"memdump_{size}", size, unique=min(size, 1000), seed=1)
        start = time.perf_counter()
        peaks[size] = peak_memory(big, args.work / f"memout_{size}", args.memory_input_size, 1)
        print(f"peak memory, {size} images, --workers 1, detector input {args.memory_input_size}: "
              f"{peaks[size]:.0f} MiB ({size / (time.perf_counter() - start):.1f} images/s)")
    if len(sizes) > 1:
        print(f"  peak memory ratio {sizes[-1]} / {sizes[0]} images: {peaks[sizes[-1]] / peaks[sizes[0]]:.2f} "
              "(target <= 1.2)")


if __name__ == "__main__":
    main()
