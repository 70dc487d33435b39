"""The stage graph: every curation stage in run order, built from the config in this one place.

Adding a stage is one file (a class with the ``stage`` protocol) and one line in ``STAGES``. The planner computes
signatures walking this order; the unit runner runs the unit stages in it; a pool stage splits the run into phases
(the unit stages before it run for every unit, then the pool stage, then the unit stages after it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from curation.config import CurateConfig
from curation.pipeline.decode_stage import DecodeStage
from curation.pipeline.detect_stage import DetectStage
from curation.pipeline.embed_stage import EmbedStage
from curation.pipeline.retrieve_stage import RetrieveStage
from curation.pipeline.stage import PoolStage, SourceStage, UnitStage
from curation.pipeline.write_stage import CropWriteStage

SOURCE: SourceStage = DecodeStage()
STAGES: tuple[UnitStage | PoolStage, ...] = (
    EmbedStage(),  # before detection, which lets go of the decoded pixels
    DetectStage(),
    RetrieveStage(),
    CropWriteStage(),
)
# Every per-unit stage that any run may have committed (for removing the files of units the inputs no longer have).
UNIT_STAGE_NAMES: tuple[str, ...] = (SOURCE.name, *(s.name for s in STAGES if isinstance(s, UnitStage)))


def stage_words(names: Iterable[str]) -> list[str]:
    """What the per-unit stages named in ``names`` do, in run order (for progress labels)."""
    wanted = set(names)
    stages: list[SourceStage | UnitStage] = [SOURCE, *(s for s in STAGES if isinstance(s, UnitStage))]
    return [stage.words for stage in stages if stage.name in wanted]


@dataclass(frozen=True)
class UnitPhase:
    """Unit stages that run together, one unit at a time, between pool stages."""

    names: tuple[str, ...]


Phase = UnitPhase | PoolStage


@dataclass(frozen=True)
class StageGraph:
    source: SourceStage
    stages: tuple[UnitStage | PoolStage, ...]  # after the source, in run order

    @property
    def unit_stages(self) -> tuple[UnitStage, ...]:
        return tuple(s for s in self.stages if isinstance(s, UnitStage))

    @property
    def pool_stages(self) -> tuple[PoolStage, ...]:
        return tuple(s for s in self.stages if isinstance(s, PoolStage))

    @property
    def unit_stage_names(self) -> tuple[str, ...]:
        """The source and the unit stages, in run order: what the plan counts per unit."""
        return (self.source.name, *(s.name for s in self.unit_stages))

    def phases(self) -> Iterator[Phase]:
        """Unit phases split by the pool stages, in order."""
        names: list[str] = [self.source.name]
        for stage in self.stages:
            if isinstance(stage, UnitStage):
                names.append(stage.name)
                continue
            if names:
                yield UnitPhase(tuple(names))
            names = []
            yield stage
        if names:
            yield UnitPhase(tuple(names))


def build_graph(config: CurateConfig) -> StageGraph:
    """The stages this run's config turns on (retrieval off: decode -> detect -> write)."""
    return StageGraph(SOURCE, tuple(s for s in STAGES if s.enabled(config)))
