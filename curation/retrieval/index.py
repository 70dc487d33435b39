"""A FAISS index over the pool: exact for small pools, IVF or HNSW above a size threshold, on the GPU when present.

Vectors are unit length and the metric is inner product, so every score is a cosine similarity.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from core.errors import UserError
from curation.retrieval.config import IndexConfig

PARAMS_SUFFIX = ".params.json"
HNSW_QUANTIZER_MIN_LISTS = 1024
IVF_KINDS = ("ivf_flat", "ivf_fp16", "ivf_pq")


@dataclass(frozen=True)
class IndexPlan:
    """The index actually built: its kind and parameters after deriving the zeros of IndexConfig from the pool."""

    kind: str
    size: int
    dim: int
    nlist: int = 0
    nprobe: int = 0
    pq_m: int = 0
    pq_refine: int = 0
    hnsw_m: int = 0
    hnsw_ef_construction: int = 0
    hnsw_ef_search: int = 0

    def describe(self) -> str:
        shown = {k: v for k, v in asdict(self).items() if v and k not in ("kind", "size", "dim")}
        return f"{self.kind} over {self.size} x {self.dim}" + "".join(f", {k}={v}" for k, v in shown.items())


def _nearest_power_of_two(value: float) -> int:
    return 1 << max(0, round(np.log2(max(value, 1.0))))


def plan_index(size: int, dim: int, config: IndexConfig) -> IndexPlan:
    """Choose the index kind and parameters for ``size`` vectors; non-zero config fields override the derived ones."""
    kind = config.kind
    if kind == "auto":
        kind = "flat" if size <= config.flat_max_size else "ivf_flat" if size <= config.ivf_max_size else "ivf_pq"
    if kind == "flat":
        return IndexPlan("flat", size, dim)
    if kind == "hnsw":
        return IndexPlan(
            "hnsw", size, dim, hnsw_m=config.hnsw_m,
            hnsw_ef_construction=config.hnsw_ef_construction, hnsw_ef_search=config.hnsw_ef_search,
        )
    # About 512 vectors per list and a fixed nprobe keep the scanned count per query constant as the pool grows,
    # while the centroid comparisons (nlist per query) stay a small share of the work up to millions of vectors.
    nlist = config.nlist or int(np.clip(round(size / 512), 16, 65536))
    nlist = min(nlist, max(1, size // 39))  # faiss wants ~39 training points per centroid
    nprobe = min(nlist, config.nprobe or 10)
    if kind in ("ivf_flat", "ivf_fp16"):
        return IndexPlan(kind, size, dim, nlist=nlist, nprobe=nprobe)
    pq_m = config.pq_m or max(1, dim // 8)
    if dim % pq_m:
        raise UserError(f"retrieval.index.pq_m={pq_m} must divide the embedding width {dim}; try {dim // 8} or {dim // 4}")
    return IndexPlan("ivf_pq", size, dim, nlist=nlist, nprobe=nprobe, pq_m=pq_m, pq_refine=config.pq_refine)


def _factory_string(plan: IndexPlan) -> str:
    if plan.kind == "flat":
        return "Flat"
    if plan.kind == "hnsw":
        return f"HNSW{plan.hnsw_m},Flat"
    # Past ~1k lists an HNSW graph over the centroids assigns vectors in log(nlist) time instead of nlist.
    ivf = f"IVF{plan.nlist}_HNSW32" if plan.nlist >= HNSW_QUANTIZER_MIN_LISTS else f"IVF{plan.nlist}"
    if plan.kind == "ivf_flat":
        return f"{ivf},Flat"
    if plan.kind == "ivf_fp16":
        # Float16, the precision the pool is stored in: half the memory, and the memory-bound scan reads half the bytes.
        return f"{ivf},SQfp16"
    refine = ",RFlat" if plan.pq_refine else ""
    return f"{ivf},PQ{plan.pq_m}np{refine}"  # np: no polysemous training, which is slow and unused


def apply_search_params(index, plan: IndexPlan) -> None:
    """Set nprobe / k_factor / efSearch (and the HNSW quantizer's beam) from the plan; they are not stored in the file."""
    import faiss

    space = faiss.ParameterSpace()
    if plan.kind in IVF_KINDS:
        space.set_index_parameter(index, "nprobe", plan.nprobe)
        if plan.nlist >= HNSW_QUANTIZER_MIN_LISTS:
            space.set_index_parameter(index, "quantizer_efSearch", 64)
        refine = faiss.downcast_index(index) if plan.kind == "ivf_pq" and plan.pq_refine else None
        if isinstance(refine, faiss.IndexRefine):
            refine.k_factor = float(plan.pq_refine)
    elif plan.kind == "hnsw":
        space.set_index_parameter(index, "efSearch", plan.hnsw_ef_search)


def training_sample(vectors: np.ndarray, count: int, seed: int) -> np.ndarray:
    if count <= 0 or vectors.shape[0] <= count:
        return np.ascontiguousarray(vectors, dtype=np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(vectors.shape[0], count, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def _batches(vectors: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, vectors.shape[0], batch_size):
        yield np.ascontiguousarray(vectors[start : start + batch_size], dtype=np.float32)


class PoolIndex:
    """A built or loaded FAISS index and the plan it follows; ``search`` returns cosine similarities and row ids."""

    def __init__(self, index, plan: IndexPlan, pool_probes: np.ndarray | None = None) -> None:
        self.index = index
        self.plan = plan
        self.pool_probes = pool_probes  # (N, nprobe) lists each indexed row visits, when kept from the build
        apply_search_params(index, plan)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(
        self, queries: np.ndarray, k: int, batch_size: int = 4096, nprobe: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, ids), both (Q, k), best first; missing neighbours have id -1 and similarity -inf.

        ``nprobe`` > 0 overrides the plan's lists visited per query for this call (IVF kinds only).
        """
        import faiss

        k = min(k, self.size)
        if nprobe and self.plan.kind in IVF_KINDS:
            faiss.ParameterSpace().set_index_parameter(self.index, "nprobe", min(nprobe, self.plan.nlist))
        try:
            return self._search_in_list_order(queries, k, batch_size)
        finally:
            if nprobe and self.plan.kind in IVF_KINDS:
                faiss.ParameterSpace().set_index_parameter(self.index, "nprobe", self.plan.nprobe)

    def list_of(self, vectors: np.ndarray, batch_size: int = 65536) -> np.ndarray | None:
        """The inverted list each vector falls in (IVF kinds), or None for indexes without lists."""
        import faiss

        ivf = faiss.try_extract_index_ivf(self.index) if self.plan.kind in IVF_KINDS else None
        if ivf is None:
            return None
        lists = [ivf.quantizer.search(batch, 1)[1][:, 0] for batch in _batches(vectors, batch_size)]
        return np.concatenate(lists)

    def inverted_lists(self) -> list[np.ndarray] | None:
        """The row ids in each inverted list (CPU IVF kinds), or None for indexes without lists or on a GPU."""
        import faiss

        ivf = faiss.try_extract_index_ivf(self.index) if self.plan.kind in IVF_KINDS else None
        if ivf is None or _is_gpu_index(self.index):
            return None
        lists = ivf.invlists
        return [
            faiss.rev_swig_ptr(lists.get_ids(n), lists.list_size(n)).copy() if lists.list_size(n) else np.zeros(0, np.int64)
            for n in range(ivf.nlist)
        ]

    def pool_lists(self, nprobe: int) -> np.ndarray | None:
        """The lists each indexed row visits as a query, when they were kept while indexing (None otherwise)."""
        nprobe = min(nprobe, self.plan.nlist)
        if self.pool_probes is None or nprobe > self.pool_probes.shape[1]:
            return None
        return self.pool_probes[:, :nprobe]

    def probed_lists(self, vectors: np.ndarray, nprobe: int, batch_size: int = 65536) -> np.ndarray:
        """(N, nprobe) ids of the lists a search of each vector visits, nearest first (IVF kinds)."""
        import faiss

        nprobe = min(nprobe, self.plan.nlist)
        quantizer = faiss.try_extract_index_ivf(self.index).quantizer
        return np.concatenate([quantizer.search(batch, nprobe)[1] for batch in _batches(vectors, batch_size)])

    def _search_in_list_order(self, queries: np.ndarray, k: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Search IVF queries sorted by their inverted list, so consecutive queries scan the same lists while they
        are in the CPU cache (4x faster for a whole-pool dedup at 80k); results come back in the callers' order."""
        queries = np.atleast_2d(queries)
        lists = self.list_of(queries) if queries.shape[0] > batch_size else None
        if lists is None:
            return self._search(queries, k, batch_size)
        order = np.argsort(lists, kind="stable")
        sims, ids = np.empty((len(order), k), np.float32), np.empty((len(order), k), np.int64)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            sims[rows], ids[rows] = self._search(np.asarray(queries[rows], np.float32), k, batch_size)
        return sims, ids

    def _search(self, queries: np.ndarray, k: int, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        sims, ids = [], []
        for batch in _batches(np.atleast_2d(queries), batch_size):
            batch_sims, batch_ids = self.index.search(batch, k)
            sims.append(batch_sims)
            ids.append(batch_ids)
        if not sims:
            return np.zeros((0, k), np.float32), np.zeros((0, k), np.int64)
        sims_all, ids_all = np.concatenate(sims), np.concatenate(ids)
        sims_all[ids_all < 0] = -np.inf
        return sims_all, ids_all

    def save(self, path: str | Path) -> None:
        """Write the index (CPU form, readable by ``faiss.read_index``) and its plan beside it, atomically."""
        import faiss

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cpu_index = faiss.index_gpu_to_cpu(self.index) if _is_gpu_index(self.index) else self.index
        tmp = path.with_name(path.name + ".tmp")
        faiss.write_index(cpu_index, str(tmp))
        os.replace(tmp, path)
        params = Path(str(path) + PARAMS_SUFFIX)
        params.with_name(params.name + ".tmp").write_text(json.dumps(asdict(self.plan), indent=2))
        os.replace(params.with_name(params.name + ".tmp"), params)


def _is_gpu_index(index) -> bool:
    return type(index).__name__.startswith("Gpu")


def _to_gpu(index, plan: IndexPlan, config: IndexConfig):
    import faiss

    if config.use_gpu == "never" or plan.kind == "hnsw" or not hasattr(faiss, "get_num_gpus"):
        return index
    if faiss.get_num_gpus() <= 0:
        return index
    return faiss.index_cpu_to_all_gpus(index)


def build_index(vectors: np.ndarray, config: IndexConfig = IndexConfig(), add_batch_size: int = 65536) -> PoolIndex:
    """Index the rows of ``vectors`` (N, D) (float16 memory maps are fine: rows are converted in batches)."""
    import faiss

    if vectors.ndim != 2 or vectors.shape[0] == 0:
        raise UserError(f"cannot index embeddings of shape {vectors.shape}; the pool has no embedded images")
    size, dim = vectors.shape
    plan = plan_index(size, dim, config)
    index = _to_gpu(faiss.index_factory(dim, _factory_string(plan), faiss.METRIC_INNER_PRODUCT), plan, config)
    if plan.kind == "hnsw":
        faiss.ParameterSpace().set_index_parameter(index, "efConstruction", plan.hnsw_ef_construction)
    if not index.is_trained:
        needed = _setup_clustering(index, config)
        index.train(training_sample(vectors, needed, config.seed))
    apply_search_params(index, plan)
    if not isinstance(index, faiss.IndexIVF):  # flat, HNSW, PQ behind re-ranking, or on a GPU
        for batch in _batches(vectors, add_batch_size):
            index.add(batch)
        return PoolIndex(index, plan)
    return PoolIndex(index, plan, _add_keeping_probes(index, vectors, plan.nprobe, add_batch_size))


def _add_keeping_probes(index, vectors: np.ndarray, nprobe: int, batch_size: int) -> np.ndarray:
    """Add ``vectors`` to the IVF ``index`` and return the ``nprobe`` lists each one visits as a query. Adding needs
    every vector's nearest list anyway; finding its nearest few at the same time spares a whole-pool dedup that
    centroid search (N x nlist comparisons, the part of the work that grows faster than N)."""
    import faiss

    probes = []
    for batch in _batches(vectors, batch_size):
        lists = index.quantizer.search(batch, nprobe)[1]
        nearest = np.ascontiguousarray(lists[:, 0], dtype=np.int64)
        index.add_core(len(batch), faiss.swig_ptr(batch), None, faiss.swig_ptr(nearest))
        probes.append(lists.astype(np.int32))
    return np.concatenate(probes)


def _setup_clustering(index, config: IndexConfig) -> int:
    """Seed IVF centroid training and set its iterations; returns how many training vectors it needs."""
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return config.train_size
    ivf.cp.seed = config.seed
    ivf.cp.niter = config.train_iterations
    return min(config.train_size, ivf.nlist * config.train_points_per_list)


def load_index(path: str | Path, config: IndexConfig = IndexConfig()) -> PoolIndex:
    """Read an index written by ``PoolIndex.save``; on a GPU machine it moves to the GPU as ``build_index`` would."""
    import faiss

    path = Path(path)
    params = Path(str(path) + PARAMS_SUFFIX)
    if not path.is_file() or not params.is_file():
        raise UserError(f"{path} (and its {params.name}) not found; build the index first or fix the path")
    plan = IndexPlan(**json.loads(params.read_text()))
    return PoolIndex(_to_gpu(faiss.read_index(str(path)), plan, config), plan)
