"""`pros eval` throughput: feature extraction (first pass vs cache hit) and linear-probe training, printed as figures.

Usage: .venv/bin/python benchmarks/eval.py [--arch vit_small_patch16_224] [--images 64] [--workers 2]
Runs on the CelebA fixture (synthetic 64x64 images in the published layout) with a randomly initialized timm ViT at
its native 224 px input; random weights cost the same time as trained ones.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_small_patch16_224")
    parser.add_argument("--images", type=int, default=64, help="images per split of the fixture")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from downstream.backbones import load_backbone
    from downstream.config import FeatureConfig, LinearConfig
    from downstream.datasets import load_benchmark, write_fixture
    from downstream.features import extract_features
    from downstream.protocols.linear import train_linear_probe
    from downstream.runtime import resolve_device

    device = resolve_device("auto")
    with tempfile.TemporaryDirectory() as scratch:
        root = write_fixture("celeba", Path(scratch) / "celeba", per_split=args.images)
        split = load_benchmark("celeba", root, "train")
        backbone = load_backbone(args.arch, weights="random")
        config = FeatureConfig(batch_size=args.batch_size, num_workers=args.workers, cache_dir=Path(scratch) / "cache")
        print(f"device={device} torch_threads={torch.get_num_threads()} arch={args.arch} "
              f"input={backbone.inputs.size} images={len(split)}")
        for with_tokens in (False, True):
            start = time.perf_counter()
            features = extract_features(backbone, split, config, device, with_tokens=with_tokens)
            first = time.perf_counter() - start
            start = time.perf_counter()
            extract_features(backbone, split, config, device, with_tokens=with_tokens)
            cached = time.perf_counter() - start
            print(f"extraction tokens={with_tokens}: first pass {first:.2f} s ({len(split) / first:.1f} img/s), "
                  f"cache hit {cached * 1000:.1f} ms, ratio {first / cached:.0f}x")
        targets = split.targets()
        pooled = np.tile(features.pooled, (16, 1))  # a larger probe problem: 16 copies of the features
        labels = np.tile(targets, (16, 1))
        train_linear_probe("attributes", pooled[:64], labels[:64], 40, LinearConfig(epochs=1), device)  # warm-up
        start = time.perf_counter()
        train_linear_probe("attributes", pooled, labels, 40, LinearConfig(epochs=10), device)
        elapsed = time.perf_counter() - start
        print(f"linear probe: {len(pooled)} x {pooled.shape[1]} features, 40 attributes, 10 epochs in {elapsed:.2f} s "
              f"({10 * len(pooled) / elapsed:.0f} samples/s)")


if __name__ == "__main__":
    main()
