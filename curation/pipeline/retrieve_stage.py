"""The retrieval pool stage: over every unit's embeddings and detections, decide which images to keep.

Its signature chains every unit's detect and embed signatures (``reads``) with the retrieval settings, so a changed
retrieval setting re-runs this step and writing only. The work itself is in ``retrieval_step``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from curation.config import CurateConfig
from curation.pipeline.detect_stage import DETECT
from curation.pipeline.detector_runtime import LazyDetector, runtime_detector_config
from curation.pipeline.embed_stage import EMBED, computing_embedder_for, runtime_embed_config
from curation.pipeline.markers import write_marker
from curation.pipeline.outside_seeds import check_outside_seeds, seeds_part
from curation.pipeline.retrieval_step import run_retrieval_step
from curation.pipeline.stage import PoolContext, Stats

RETRIEVE = "retrieve"


class RetrieveStage:
    name = RETRIEVE
    version = "3"  # 2: index nprobe derived as 10, not 16; 3: a seed removed as a duplicate is replaced by its kept copy
    reads = (DETECT, EMBED)
    writes = ("index/pool.faiss", "work/decisions/NNNNN.parquet")
    title = "retrieval"

    def enabled(self, config: CurateConfig) -> bool:
        return config.retrieval.enabled

    def config_part(self, config: CurateConfig, pools: Mapping[str, str]) -> object:
        section = config.retrieval
        return {"index": section.index, "seeded": section.seeded, "recheck": section.recheck,
                "dedup": section.dedup, "balance": section.balance, "crops": config.crops, **seeds_part(section)}

    def check(self, config: CurateConfig) -> None:
        check_outside_seeds(config, lambda: computing_embedder_for(runtime_embed_config(config)))

    def intro(self, units: int) -> str:
        return f"indexing and deciding over the pool of {units} unit(s)"

    def run_pool(self, ctx: PoolContext) -> Stats:
        config = ctx.config
        recheck = replace(runtime_detector_config(config, 1, reader_thread=False),
                          score_threshold=config.retrieval.recheck.score_threshold)
        detector = LazyDetector(ctx.detector_factory, recheck)
        outputs, stats = run_retrieval_step(ctx.layout, [u.index for u in ctx.units], config, detector)
        names = [str(p.relative_to(ctx.layout.out)) for p in outputs]
        write_marker(ctx.layout.pool_marker(self.name), ctx.signature, names, stats)
        return stats

