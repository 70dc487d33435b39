"""Settings of the index, seeded retrieval, near-duplicate removal and cluster balancing, with their defaults."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import ConfigError

INDEX_KINDS = ("auto", "flat", "ivf_flat", "ivf_fp16", "ivf_pq", "hnsw")


@dataclass(frozen=True)
class IndexConfig:
    """How the pool is indexed (inner product on unit vectors = cosine similarity).

    kind: ``auto`` = ``flat`` (exact) up to ``flat_max_size`` vectors, ``ivf_flat`` (inverted lists of float32
        vectors) up to ``ivf_max_size``,
        ``ivf_pq`` above (compressed codes, exact re-ranking of ``pq_refine`` x k candidates); or force one of
        ``flat``, ``ivf_flat``, ``ivf_fp16`` (lists of float16 vectors, the precision the pool is stored in: half
        the memory of ``ivf_flat`` and faster scans of large pools), ``ivf_pq``, ``hnsw``.
    nlist: inverted lists; 0 = derived from the pool size N: N / 512, within [16, 65536] and at most N / 39;
        from 1024 lists on, the centroids are searched through an HNSW graph (faiss ``IVFn_HNSW32``).
    nprobe: lists visited per query; 0 = 10 (so a query scans about 5k vectors whatever the pool size).
    pq_m: ivf_pq bytes per vector; 0 = dim / 8 (64 for 512-d).
    pq_refine: ivf_pq re-ranks this many times k candidates exactly (0 = no re-ranking).
    hnsw_m / hnsw_ef_construction / hnsw_ef_search: HNSW graph degree, build and search beam widths.
    train_size: most vectors used to train IVF centroids (a deterministic sample); a fixed cap keeps training time
        linear in the pool size.
    train_points_per_list: IVF training uses at most this many vectors per list (faiss wants at least 39).
    train_iterations: k-means iterations of IVF training.
    use_gpu: ``auto`` = faiss GPU build when ``faiss.get_num_gpus() > 0`` (HNSW stays on the CPU); ``never``.
    seed: centroid training and sampling seed.
    """

    kind: str = "auto"
    flat_max_size: int = 10_000
    ivf_max_size: int = 2_000_000
    nlist: int = 0
    nprobe: int = 0
    pq_m: int = 0
    pq_refine: int = 4
    hnsw_m: int = 32
    hnsw_ef_construction: int = 80
    hnsw_ef_search: int = 128
    train_size: int = 32_768
    train_points_per_list: int = 64
    train_iterations: int = 10
    use_gpu: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in INDEX_KINDS:
            raise ConfigError(f"retrieval.index.kind={self.kind!r} is not one of: {', '.join(INDEX_KINDS)}")
        if self.use_gpu not in ("auto", "never"):
            raise ConfigError(f"retrieval.index.use_gpu={self.use_gpu!r} is not one of: auto, never")
        for field in ("flat_max_size", "nlist", "nprobe", "pq_m", "pq_refine", "train_size"):
            if getattr(self, field) < 0:
                raise ConfigError(f"index.{field}={getattr(self, field)} must be >= 0 (0 = derived from the pool)")
        if self.hnsw_m < 4:
            raise ConfigError(f"retrieval.index.hnsw_m={self.hnsw_m} must be at least 4 (16-64 is typical)")


@dataclass(frozen=True)
class RetrievalConfig:
    """Seeded retrieval: each seed pulls its ``k`` nearest pool images whose similarity is at least the threshold.

    k: neighbours per seed.
    min_similarity: cosine threshold for image seeds. 0.6 suits the default efficientnet_lite0 embedder: on real
        photos no non-face photo reaches it from a face photo (at most 0.57, docs/retrieval.md); other embedders
        need their own value: calibrate on your data.
    min_text_similarity: cosine threshold for text-prompt seeds (image-text cosines of CLIP models are about 0.2-0.35).
    batch_size: seeds per FAISS search call.
    """

    k: int = 32
    min_similarity: float = 0.6
    min_text_similarity: float = 0.25
    batch_size: int = 4096

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"retrieval.seeded.k={self.k} must be at least 1")
        for field in ("min_similarity", "min_text_similarity"):
            if not -1.0 <= getattr(self, field) <= 1.0:
                raise ConfigError(f"retrieval.{field}={getattr(self, field)} is a cosine and must lie in [-1, 1]")
        if self.batch_size < 1:
            raise ConfigError(f"retrieval.seeded.batch_size={self.batch_size} must be at least 1")


@dataclass(frozen=True)
class DedupConfig:
    """Near-duplicate removal: pairs with cosine >= ``threshold`` are linked, linked groups keep their best member.

    threshold: cosine at or above which two images count as near-duplicates. 0.85 suits the default
        efficientnet_lite0 embedder on real photos (docs/retrieval.md): 85%-cropped, mirrored and most 0.6x-resized
        copies score >= 0.85 against their original, different photos at most 0.78; heavier edits (0.35x, 75% crops,
        JPEG q=15) often fall below and stay. Small tight face crops of different people can reach 0.9 with it:
        raise the threshold for such dumps. Other embedders need their own value: calibrate on your data.
    k: neighbours searched per image; groups larger than k still join through chains of links.
    batch_size: queries per FAISS search call (exact, HNSW and GPU indexes; IVF lists are compared list by list).
    nprobe: IVF lists visited per query during dedup (0 = the index's own); near-copies almost always share their
        nearest list, so fewer probes than retrieval's suffice and dedup of the whole pool stays cheap.
    """

    threshold: float = 0.85
    k: int = 16
    nprobe: int = 4
    batch_size: int = 4096

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"retrieval.dedup.threshold={self.threshold} must lie in (0, 1]")
        if self.k < 2:
            raise ConfigError(f"retrieval.dedup.k={self.k} must be at least 2 (each image finds itself first)")
        if self.batch_size < 1:
            raise ConfigError(f"retrieval.dedup.batch_size={self.batch_size} must be at least 1")


@dataclass(frozen=True)
class BalanceConfig:
    """Cluster-balanced sampling: k-means over the embeddings, at most ``cap`` images kept per cluster.

    enabled: off by default.
    clusters: k-means centroids; 0 = sqrt(N) rounded.
    cap: most images kept per cluster; 0 = 2x the mean cluster size.
    iterations: k-means iterations.
    seed: k-means and tie-breaking seed (the same seed gives the same selection).
    """

    enabled: bool = False
    clusters: int = 0
    cap: int = 0
    iterations: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.clusters < 0 or self.cap < 0:
            raise ConfigError("retrieval.balance.clusters and retrieval.balance.cap must be >= 0 (0 = derived from the pool size)")
        if self.iterations < 1:
            raise ConfigError(f"retrieval.balance.iterations={self.iterations} must be at least 1")
