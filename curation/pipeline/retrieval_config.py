"""Settings of the retrieval half of ``pros curate``: embed stage, index, seeded retrieval, re-check, dedup, balance.

They live under one config section, ``retrieval.*`` (e.g. ``retrieval.enabled=true retrieval.seeded.k=16
retrieval.dedup.threshold=0.9 retrieval.recheck.min_score=0.4``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.config import ConfigError
from curation.embed.config import EmbedderConfig
from curation.retrieval.config import (
    BalanceConfig,
    DedupConfig,
    IndexConfig,
    RetrievalConfig,
)


@dataclass(frozen=True)
class RecheckConfig:
    """How the detector checks retrieved candidates again before they are kept (looser than the first pass).

    score_threshold: the detector's own score threshold for the re-check (``detect.score_threshold`` for the
        first pass).
    min_score: a face of a retrieved image needs at least this score to become a sample (``crops.min_score`` for
        the first pass); the other selection rules (``crops.min_face_px``, ``crops.max_faces``) stay as they are.
    With CenterFace, 0.3 / 0.4 reported no face on 16 non-face photos nor on lfw_subset's 100 non-faces, and found
    67 of its 100 faces against 29 at the first pass's 0.7 (docs/retrieval.md).
    """

    score_threshold: float = 0.3
    min_score: float = 0.4

    def __post_init__(self) -> None:
        for name in ("score_threshold", "min_score"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"retrieval.recheck.{name}={getattr(self, name)} must lie in [0, 1]")


@dataclass(frozen=True)
class RetrievalStageConfig:
    """The retrieval stages of ``pros curate``.

    enabled: embed every decoded image, index the pool, retrieve the seeds' neighbours, re-check them with the
        detector, remove near-duplicates and (optionally) balance clusters before writing (the default). False =
        the first pass alone (decode, detect, write), which saves the embedding (docs/curate_retrieval.md, "Default and cost").
    embed: the embedder (``retrieval.embed.backend``, ...; see docs/retrieval.md).
    index: the FAISS index over the pool.
    seeded: seeded retrieval (``k`` neighbours per seed above ``min_similarity``).
    recheck: the detector settings retrieved candidates must pass.
    dedup: near-duplicate removal among the images that would be kept.
    balance: cluster-balanced sampling (off by default).
    seed_images: a folder of extra seed images (searched recursively), embedded with the run's embedder; their
        pool neighbours are retrieved and re-checked like the first pass's seeds. "" = none.
    prompts: text prompts used as seeds; they need an embedder with a text tower (``retrieval.embed.backend=
        open_clip``). Their threshold is ``retrieval.seeded.min_text_similarity``.
    """

    enabled: bool = True
    embed: EmbedderConfig = field(default_factory=EmbedderConfig)
    index: IndexConfig = field(default_factory=IndexConfig)
    seeded: RetrievalConfig = field(default_factory=RetrievalConfig)
    recheck: RecheckConfig = field(default_factory=RecheckConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    seed_images: str = ""
    prompts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        blank = [p for p in self.prompts if not p.strip()]
        if blank:
            raise ConfigError("retrieval.prompts holds an empty prompt; remove it or write the text to search for")
        for name in ("seed_images", "prompts"):
            if getattr(self, name) and not self.enabled:
                raise ConfigError(f"retrieval.{name} is set but retrieval is off; "
                                  f"add retrieval.enabled=true or remove retrieval.{name}")
