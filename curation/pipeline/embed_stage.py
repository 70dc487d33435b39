"""The embed stage: one vector per decoded image of a unit, stored in the clip-retrieval layout under ``embeddings/``.

It embeds the decode cache's detector-resolution image (the same pixels every run, fresh or resumed), so it reads
only the decode stage: a detector change does not re-embed. Rows follow the unit's items in order; the metadata's
``key`` column holds the manifest key (``shards.make_key(unit, item)``) and ``image_path`` the source id. It runs
before detection, which lets go of the decoded pixels.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.config import ConfigError
from curation.config import CurateConfig
from curation.embed.base import ImageEmbedder
from curation.embed.config import EmbedderConfig
from curation.embed.precomputed import PrecomputedEmbeddings
from curation.embed.registry import build_embedder
from curation.pipeline.decode_stage import DECODE
from curation.pipeline.records import ItemRecord
from curation.pipeline.resources import threads_per_worker
from curation.pipeline.stage import UnitContext, commit
from curation.retrieval.embedding_store import part_paths, write_part
from shards import make_key

EMBED = "embed"
Embedder = ImageEmbedder | PrecomputedEmbeddings
_EMBEDDERS: dict[EmbedderConfig, Embedder] = {}  # one embedder per process and config: units after the first reuse it


def embeddings_root(out: Path) -> Path:
    return Path(out) / "embeddings"


def embedder_for(config: EmbedderConfig) -> Embedder:
    """The embedder ``config`` describes, built once per process."""
    if config not in _EMBEDDERS:
        if config.backend == "precomputed":
            _EMBEDDERS[config] = PrecomputedEmbeddings(config.precomputed, config.precomputed_key_column)
        else:
            _EMBEDDERS[config] = build_embedder(config)
    return _EMBEDDERS[config]


def computing_embedder_for(config: EmbedderConfig) -> ImageEmbedder:
    """The embedder of ``config`` when it computes vectors, as seeds from outside the pool need (a precomputed store
    only looks vectors up; ``check_outside_seeds`` refuses that combination before a run starts)."""
    embedder = embedder_for(config)
    if isinstance(embedder, PrecomputedEmbeddings):
        raise ConfigError("retrieval.embed.backend=precomputed cannot embed seed images or prompts")
    return embedder


def runtime_embed_config(config: CurateConfig) -> EmbedderConfig:
    """The embedder settings a worker runs with: torch threads = cores / workers unless ``retrieval.embed.threads``
    is set, so N local workers do not each start a thread per core."""
    embed = config.retrieval.embed
    return embed if embed.threads else replace(embed, threads=threads_per_worker(config.workers))


@dataclass
class _Batch:
    keys: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)


@dataclass
class _Embedded:
    """What a unit's embedding gathered so far, in item order."""

    keys: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)


class EmbedStage:
    name = EMBED
    version = "2"  # 2: efficientnet_lite0 runs in onnxruntime on the CPU (vectors differ from torch by up to 1e-4)
    reads = (DECODE,)
    writes = ("embeddings/img_emb/img_emb_NNNNN.npy", "embeddings/metadata/metadata_NNNNN.parquet")
    needs_pixels = True
    words = "embed"

    def enabled(self, config: CurateConfig) -> bool:
        return config.retrieval.enabled

    def config_part(self, config: CurateConfig, pools: Mapping[str, str]) -> object:
        # Threads change speed, not vectors.
        return {"embed": replace(config.retrieval.embed, threads=0)}

    def run(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        embedder = embedder_for(runtime_embed_config(ctx.config))
        batch_size = ctx.config.retrieval.embed.batch_size
        done = _Embedded()
        batch = _Batch()
        missing = 0
        for record in stream:
            if record.status == "ok" and record.det_rgb is not None:
                batch.keys.append(make_key(ctx.unit.index, record.item.item))
                batch.sources.append(record.item.source_id)
                batch.images.append(record.det_rgb)  # a reference: later stages may drop theirs
                if len(batch.keys) >= batch_size:
                    missing += self._flush(embedder, batch, done)
                    batch = _Batch()
            yield record
        missing += self._flush(embedder, batch, done)
        root = embeddings_root(ctx.layout.out)
        matrix = np.concatenate(done.vectors) if done.vectors else np.zeros((0, embedder.dim), np.float32)
        write_part(root, ctx.unit.index, done.keys, matrix, image_paths=done.sources)
        commit(ctx, self.name, list(part_paths(root, ctx.unit.index)),
               {"embedded": len(done.keys), "not_in_precomputed": missing})

    def replay(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        """Nothing later in the unit reads the vectors (the pool step reads them from disk): the stream as it is."""
        return stream

    @staticmethod
    def _flush(embedder: Embedder, batch: _Batch, done: _Embedded) -> int:
        """Embed ``batch`` into ``done``; returns how many images had no precomputed vector (left out)."""
        if not batch.keys:
            return 0
        if isinstance(embedder, PrecomputedEmbeddings):  # by manifest key, else by source id
            found_vectors, found = embedder.lookup(batch.keys)
            if not found.all():
                by_source, found_source = embedder.lookup(batch.sources)
                use = ~found & found_source
                found_vectors[use] = by_source[use]
                found = found | found_source
            rows = np.nonzero(found)[0]
            done.keys.extend(batch.keys[r] for r in rows)
            done.sources.extend(batch.sources[r] for r in rows)
            done.vectors.append(found_vectors[rows])
            return int(len(batch.keys) - len(rows))
        done.keys.extend(batch.keys)
        done.sources.extend(batch.sources)
        done.vectors.append(np.asarray(embedder.embed_images(batch.images), np.float32))
        return 0
