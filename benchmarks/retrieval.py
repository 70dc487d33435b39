"""Retrieval benchmark (issue 4, item 7): index + seeded retrieval + dedup time at growing pool sizes, ANN recall and
speed-up against exact search at the largest size, and embedding images/s with bf16 vs fp32 autocast on CPU.

Pools are generated 512-d unit vectors drawn around N/100 cluster centres, with 1% planted near-copies.
Usage: python benchmarks/retrieval.py [--sizes 20000 80000 320000] [--queries 2000] [--embed-images 64]
       [--kind auto] [--nprobe 0] [--sweep-nprobe 8 10 12 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from curation.retrieval.config import DedupConfig, IndexConfig, RetrievalConfig
from curation.retrieval.dedup import find_near_duplicates
from curation.retrieval.index import build_index
from curation.retrieval.seeded import SeedSet, retrieve_from_seeds

DIM = 512


def generated_pool(size: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Clustered unit vectors (cosine to their centre ~0.7) with 1% near-copies (cosine ~0.99) planted."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(size // 100, 10), dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = rng.uniform(0.6, 1.4, (size, 1)).astype(np.float32) / np.sqrt(dim)
    pool = centres[rng.integers(0, len(centres), size)] + rng.standard_normal((size, dim)).astype(np.float32) * spread
    copies = rng.choice(size, size // 100, replace=False)
    pool[copies[: len(copies) // 2]] = pool[copies[len(copies) // 2 :]] + 0.1 * rng.standard_normal(
        (len(copies) // 2, dim)).astype(np.float32) / np.sqrt(dim)
    return pool / np.linalg.norm(pool, axis=1, keepdims=True)


def time_pipeline(pool: np.ndarray, index_config: IndexConfig) -> dict[str, float | str | int]:
    keys = [f"k{i:07d}" for i in range(len(pool))]
    start = time.perf_counter()
    index = build_index(pool, index_config)
    built = time.perf_counter()
    seed_rows = np.random.default_rng(1).choice(len(pool), len(pool) // 20, replace=False)
    seeds = SeedSet([keys[r] for r in seed_rows], pool[seed_rows], 0.6)
    decisions = retrieve_from_seeds(index, keys, [seeds], RetrievalConfig(k=32, min_similarity=0.6))
    retrieved = time.perf_counter()
    dedup = find_near_duplicates(pool, keys, config=DedupConfig(threshold=0.95, k=16), index=index)
    done = time.perf_counter()
    return {
        "index": index.plan.describe(), "build_s": built - start, "retrieval_s": retrieved - built,
        "dedup_s": done - retrieved, "total_s": done - start,
        "retrieved": sum(d.reason == "retrieved" for d in decisions),
        "duplicates_dropped": sum(d.status == "dropped" for d in dedup),
    }


def recall_and_speedup(pool: np.ndarray, queries: int, index_config: IndexConfig, repeats: int = 3) -> dict[str, float]:
    """recall@10 of the index against exact search, and their query rates: median of ``repeats`` alternating
    timings, so that drifting load on a shared machine hits both alike."""
    query = pool[np.random.default_rng(2).choice(len(pool), queries, replace=False)]
    exact = build_index(pool, IndexConfig(kind="flat"))
    approx = build_index(pool, index_config)
    exact_times, approx_times = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        _, exact_ids = exact.search(query, 10)
        exact_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        _, approx_ids = approx.search(query, 10)
        approx_times.append(time.perf_counter() - start)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_ids, approx_ids)]))
    exact_s, approx_s = statistics.median(exact_times), statistics.median(approx_times)
    return {"recall@10": recall, "exact_qps": queries / exact_s, "approx_qps": queries / approx_s,
            "speedup": exact_s / approx_s, "index": approx.plan.describe()}


def embedding_throughput(count: int) -> dict[str, float]:
    import skimage.data

    from curation.embed.config import EmbedderConfig
    from curation.embed.registry import build_embedder

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    images = [photos[i % len(photos)] for i in range(count)]
    rates = {}
    for precision in ("fp32", "bf16"):
        embedder = build_embedder(EmbedderConfig(precision=precision, batch_size=32))
        embedder.embed_images(images[:8])  # warm-up
        start = time.perf_counter()
        embedder.embed_images(images)
        rates[precision] = count / (time.perf_counter() - start)
    rates["bf16_over_fp32"] = rates["bf16"] / rates["fp32"]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 80_000, 320_000])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--embed-images", type=int, default=64)
    parser.add_argument("--kind", default="auto", help="retrieval.index.kind to measure (default: the pros default)")
    parser.add_argument("--nprobe", type=int, default=0, help="retrieval.index.nprobe (0: derived, the default)")
    parser.add_argument("--sweep-nprobe", type=int, nargs="+", default=[],
                        help="only recall and speed-up at the largest size, for each of these nprobe values")
    args = parser.parse_args()
    if args.sweep_nprobe:
        pool = generated_pool(args.sizes[-1])
        for nprobe in args.sweep_nprobe:
            report_quality(args.sizes[-1], recall_and_speedup(pool, args.queries, IndexConfig(args.kind, nprobe=nprobe)))
        return
    index_config = IndexConfig(args.kind, nprobe=args.nprobe)
    totals = []
    for size in args.sizes:
        pool = generated_pool(size)
        result = time_pipeline(pool, index_config)
        totals.append(result["total_s"])
        print(f"N={size}: {result['index']}; build {result['build_s']:.1f}s, retrieval {result['retrieval_s']:.1f}s, "
              f"dedup {result['dedup_s']:.1f}s, total {result['total_s']:.1f}s; retrieved {result['retrieved']}, "
              f"duplicates dropped {result['duplicates_dropped']}", flush=True)
    for (small, large), (t_small, t_large) in zip(zip(args.sizes, args.sizes[1:]), zip(totals, totals[1:])):
        print(f"growth {small} -> {large} (x{large / small:.0f} N): x{t_large / t_small:.2f} time (target <= 5 per 4x)")
    report_quality(args.sizes[-1], recall_and_speedup(generated_pool(args.sizes[-1]), args.queries, index_config))
    if args.embed_images:
        rates = embedding_throughput(args.embed_images)
        print(f"efficientnet_lite0 224px CPU: fp32 {rates['fp32']:.1f} img/s, bf16 {rates['bf16']:.1f} img/s, "
              f"bf16/fp32 x{rates['bf16_over_fp32']:.2f}")


def report_quality(size: int, quality: dict[str, float]) -> None:
    print(f"N={size} {quality['index']}: recall@10 {quality['recall@10']:.4f} (target >= 0.95), "
          f"exact {quality['exact_qps']:.0f} q/s, approx {quality['approx_qps']:.0f} q/s, "
          f"speed-up x{quality['speedup']:.1f} (target >= 5)", flush=True)


if __name__ == "__main__":
    main()
