"""The resolved configuration of ``pros curate``: one section per stage, plus how the run is executed.

Build it with ``load_curate_config(preset, overrides)`` (defaults -> YAML preset -> ``key=value`` overrides), e.g.
``detect.input_size=320 crops.size=256 sources.files_per_unit=500 workers=2``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from core.config import ConfigError, build_config
from curation.crops import CropConfig
from curation.decode_config import DecodeConfig
from curation.detect.config import DetectorConfig
from curation.pipeline.retrieval_config import RetrievalStageConfig
from curation.sources.config import SourceConfig
from curation.video_config import VideoConfig


@dataclass(frozen=True)
class ReportConfig:
    """What the run report shows.

    contact_sheet_kept: how many kept crops the kept-samples contact sheet shows (the first ones, in key order).
    contact_sheet_rejected: how many rejected inputs the rejected-images contact sheet shows, spread over reasons.
    thumbnail: side in pixels of one contact-sheet tile.
    """

    contact_sheet_kept: int = 64
    contact_sheet_rejected: int = 32
    thumbnail: int = 112


@dataclass(frozen=True)
class RayConfig:
    """How ``executor=ray`` runs (see docs/curate_ray.md).

    address: the cluster to join: ``auto`` (the cluster this node joined with ``ray start``), ``HOST:6379`` or
        ``ray://HOST:10001``; empty = start a local Ray with this machine's cores for the run and stop it after.
    actors: actors running units at once, each holding one detector; 0 = the cluster's CPUs / max(1, cpus_per_actor).
    cpus_per_actor: CPUs Ray reserves per actor; fractions leave room for other Ray work. The detector and the
        embedder each get max(1, floor(cpus_per_actor)) threads per actor unless ``detect.threads`` /
        ``retrieval.embed.threads`` is set.
    gpus_per_actor: GPUs Ray reserves per actor (e.g. 0.25 packs 4 actors on a GPU; use with ``detect.device=auto``).
    """

    address: str = ""
    actors: int = 0
    cpus_per_actor: float = 0.5
    gpus_per_actor: float = 0.0

    def __post_init__(self) -> None:
        if self.actors < 0:
            raise ConfigError(f"ray.actors={self.actors} must be 0 (one per CPU) or a positive count")
        if self.cpus_per_actor <= 0:
            raise ConfigError(f"ray.cpus_per_actor={self.cpus_per_actor} must be above 0, e.g. 0.5 or 1")
        if self.gpus_per_actor < 0:
            raise ConfigError(f"ray.gpus_per_actor={self.gpus_per_actor} must be 0 or more")


@dataclass(frozen=True)
class CurateConfig:
    """``pros curate``: sources -> decode -> detect -> crops -> shards.

    workers: worker processes; each works through whole input units (one unit = one output shard), with its
        reading and decoding overlapping its detection. ``auto`` = one per usable core, at most the units to run.
        Each worker's onnxruntime sessions get cores / workers threads less its reader thread (at least 1) unless
        ``detect.threads`` / ``retrieval.embed.threads`` is set. 1 = run in the calling process. Used by
        ``executor=local``; never changes the shards (curation.pipeline.resources).
    executor: ``local`` (worker processes on this machine) or ``ray`` (Ray actors on one or many machines, set up
        by the ``ray`` section). Both write the same shards and markers, so a run started with one resumes with
        the other.
    Shard size: one input unit becomes one shard, so a shard holds the kept faces of ``sources.files_per_unit``
        files of a folder, or of one input tar or parquet file.
    """

    sources: SourceConfig = field(default_factory=SourceConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    detect: DetectorConfig = field(default_factory=DetectorConfig)
    crops: CropConfig = field(default_factory=CropConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    retrieval: RetrievalStageConfig = field(default_factory=RetrievalStageConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    workers: int | Literal["auto"] = "auto"
    executor: Literal["local", "ray"] = "local"
    ray: RayConfig = field(default_factory=RayConfig)

    def __post_init__(self) -> None:
        if self.workers != "auto" and self.workers < 1:
            raise ConfigError(f"workers={self.workers} must be auto (one per usable core) or at least 1")


def load_curate_config(preset: Path | Mapping[str, Any] | None = None, overrides: Sequence[str] = ()) -> CurateConfig:
    """Defaults, then a preset (YAML path or mapping), then dotted overrides; bad values raise ConfigError."""
    try:
        return build_config(CurateConfig, preset, overrides)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:  # a section's own check, e.g. sources.files_per_unit=0
        raise ConfigError(f"invalid curate config: {err}") from err
