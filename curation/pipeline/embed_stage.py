"""The embed stage: one vector per decoded image of a unit, stored in the clip-retrieval layout under ``embeddings/``.

It embeds the decode cache's detector-resolution image (the same pixels every run, fresh or resumed), so it reads
only the decode stage: a detector change does not re-embed. Rows follow the unit's items in order; the metadata's
``key`` column holds the manifest key (``shards.make_key(unit, item)``) and ``image_path`` the source id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from curation.pipeline.stages import ItemRecord, UnitContext, commit
from shards import make_key

_EMBEDDERS: dict[Any, Any] = {}  # one embedder per process and config: units after the first reuse it


def embeddings_root(out: Path) -> Path:
    return Path(out) / "embeddings"


def embedder_for(config: Any) -> Any:
    """The embedder ``config`` (an EmbedderConfig) describes, built once per process."""
    if config not in _EMBEDDERS:
        if config.backend == "precomputed":
            from curation.embed.precomputed import PrecomputedEmbeddings

            _EMBEDDERS[config] = PrecomputedEmbeddings(config.precomputed, config.precomputed_key_column)
        else:
            from curation.embed.registry import build_embedder

            _EMBEDDERS[config] = build_embedder(config)
    return _EMBEDDERS[config]


def runtime_embed_config(config: Any) -> Any:
    """The embedder settings a worker runs with: torch threads = cores / workers unless ``retrieval.embed.threads``
    is set, so N local workers do not each start a thread per core."""
    from curation.pipeline.executor import threads_per_worker

    embed = config.retrieval.embed
    return embed if embed.threads else replace(embed, threads=threads_per_worker(config.workers))


@dataclass
class _Batch:
    keys: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)


class EmbedStage:
    name = "embed"
    version = "2"  # 2: efficientnet_lite0 runs in onnxruntime on the CPU (vectors differ from torch by up to 1e-4)
    inputs = ("decode",)
    after = ("decode",)
    outputs = ("embeddings/img_emb/img_emb_NNNNN.npy", "embeddings/metadata/metadata_NNNNN.parquet")

    def config_part(self, config: Any) -> Any:
        # Threads change speed, not vectors.
        return {"embed": replace(config.retrieval.embed, threads=0)}

    def run(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        embedder = embedder_for(runtime_embed_config(ctx.config))
        batch_size = ctx.config.retrieval.embed.batch_size
        keys: list[str] = []
        sources: list[str] = []
        vectors: list[np.ndarray] = []
        batch = _Batch()
        missing = 0
        for record in stream:
            if record.status == "ok" and record.det_rgb is not None:
                batch.keys.append(make_key(ctx.unit.index, record.item.item))
                batch.sources.append(record.item.source_id)
                batch.images.append(record.det_rgb)  # a reference: later stages may drop theirs
                if len(batch.keys) >= batch_size:
                    missing += self._flush(embedder, batch, keys, sources, vectors)
                    batch = _Batch()
            yield record
        missing += self._flush(embedder, batch, keys, sources, vectors)
        from curation.retrieval.embedding_store import part_paths, write_part

        root = embeddings_root(ctx.layout.out)
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), np.float32)
        write_part(root, ctx.unit.index, keys, matrix, image_paths=sources)
        commit(ctx, self.name, list(part_paths(root, ctx.unit.index)),
               {"embedded": len(keys), "not_in_precomputed": missing})

    @staticmethod
    def _flush(embedder: Any, batch: _Batch, keys: list, sources: list, vectors: list) -> int:
        """Embed ``batch`` into the unit's lists; returns how many images had no precomputed vector (left out)."""
        if not batch.keys:
            return 0
        if hasattr(embedder, "lookup"):  # precomputed: by manifest key, else by source id
            found_vectors, found = embedder.lookup(batch.keys)
            if not found.all():
                by_source, found_source = embedder.lookup(batch.sources)
                use = ~found & found_source
                found_vectors[use] = by_source[use]
                found = found | found_source
            rows = np.nonzero(found)[0]
            keys.extend(batch.keys[r] for r in rows)
            sources.extend(batch.sources[r] for r in rows)
            vectors.append(found_vectors[rows])
            return int(len(batch.keys) - len(rows))
        keys.extend(batch.keys)
        sources.extend(batch.sources)
        vectors.append(np.asarray(embedder.embed_images(batch.images), np.float32))
        return 0
