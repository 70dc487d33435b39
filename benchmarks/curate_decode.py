"""Decode throughput (images/s, one process) on a real photo and on a large JPEG made from it, with and without
reduced-size JPEG decoding, and the time to list and read a folder of many files.
Prints figures; run: ``python benchmarks/curate_decode.py [--seconds 5] [--files 10000]``."""

from __future__ import annotations

import argparse
import importlib.util
import io
import tempfile
import time
from pathlib import Path

from PIL import Image

from curation.decode import DecodeConfig, decode_image
from curation.sources import SourceConfig, iter_items, list_units
from curation.types import DecodedImage


def photo_bytes(name: str) -> bytes:
    spec = importlib.util.find_spec("insightface")
    if spec is None or spec.origin is None:
        raise SystemExit("insightface is not installed; it ships the photos this benchmark decodes")
    return (Path(spec.origin).parent / "data" / "images" / name).read_bytes()


def upscaled_jpeg(data: bytes, factor: int) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    big = image.resize((image.width * factor, image.height * factor), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    big.save(out, format="JPEG", quality=90)
    return out.getvalue()


def measure(cases: list[tuple[str, bytes, DecodeConfig]], seconds: float, rounds: int = 5) -> dict[str, float]:
    """Images/s per case. Cases take turns in ``rounds`` rounds of ``seconds / rounds`` each, so load from other
    processes on a shared machine falls on all cases alike and their ratios stay meaningful."""
    spent = {label: 0.0 for label, _, _ in cases}
    done = {label: 0 for label, _, _ in cases}
    for _ in range(rounds):
        for label, data, config in cases:
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds / rounds:
                decode_image(data, config)
                done[label] += 1
            spent[label] += elapsed
    return {label: done[label] / spent[label] for label in spent}


def listing(files: int, data: bytes) -> None:
    """Seconds to list a folder of ``files`` copies of ``data`` (in 100 subfolders) and to read every item."""
    with tempfile.TemporaryDirectory() as root:
        for i in range(files):
            folder = Path(root, f"{i % 100:03d}")
            folder.mkdir(exist_ok=True)
            (folder / f"{i:07d}.jpg").write_bytes(data)
        config = SourceConfig()
        start = time.perf_counter()
        units = list_units([root], config)
        listed = time.perf_counter() - start
        count = sum(1 for unit in units for _ in iter_items(unit, config))
        read = time.perf_counter() - start - listed
    print(f"folder of {files} files ({len(data)} bytes each): list_units {listed:.2f} s ({files / listed:.0f} files/s), "
          f"read all {count} items {read:.2f} s ({count / read:.0f} items/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per case, split over 5 rounds")
    parser.add_argument("--files", type=int, default=10000, help="files in the listing measurement (0 skips it)")
    args = parser.parse_args()
    t1 = photo_bytes("t1.jpg")
    big = upscaled_jpeg(t1, 4)
    cases = [
        ("t1.jpg 1280x886", t1, DecodeConfig()),
        ("t1 x4 5120x3544, full size (max_side=None)", big, DecodeConfig(max_side=None)),
        ("t1 x4 5120x3544, max_side=2048 (1/2 scale)", big, DecodeConfig()),
        ("t1 x4 5120x3544, max_side=1024 (1/4 scale)", big, DecodeConfig(max_side=1024)),
    ]
    shapes = {}
    for label, data, config in cases:
        first = decode_image(data, config)  # warm-up, and the output size to print
        assert isinstance(first, DecodedImage), first
        shapes[label] = "x".join(map(str, first.rgb.shape))
    results = measure(cases, args.seconds)
    print(f"{'case':<46} {'output HxWxC':>16} {'images/s':>9}")
    for label, _, _ in cases:
        print(f"{label:<46} {shapes[label]:>16} {results[label]:9.1f}")
    full = results[cases[1][0]]
    for label, _, _ in cases[2:]:
        print(f"speed-up of {label.split(', ')[1]} over full-size decoding: {results[label] / full:.1f}x")
    if args.files:
        listing(args.files, t1)


if __name__ == "__main__":
    main()
