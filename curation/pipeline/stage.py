"""The stage protocols: what every curation stage declares, and what the engine hands it to work with.

A stage has a name, a version, the stages whose outputs it ``reads``, the files it ``writes``, and the part of the
run config its output depends on (``config_part``, hashed into its commit marker with its version and the digests
of what it reads). Three kinds, in the order the graph (``graph.py``) lists them:

- the source stage (decode) turns a unit's inputs into ``ItemRecord``s;
- unit stages work one input unit at a time on that stream (``run``), or read a committed unit's outputs back
  (``replay``) so the stages after them can run without redoing them;
- pool stages (``run_pool``) read what every unit's earlier stages committed and decide over the whole pool; the
  unit stages after them read their per-unit decisions. A pool stage splits the run into phases.

A read naming a stage that this run's graph leaves out (retrieval off) is ignored: that input is optional.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from curation.config import CurateConfig
from curation.detect.config import DetectorConfig
from curation.pipeline.layout import RunLayout
from curation.pipeline.markers import StageSignature, write_marker
from curation.pipeline.records import ItemRecord
from curation.sources import InputUnit
from curation.types import FaceDetector, InputItem

DetectorFactory = Callable[[DetectorConfig], FaceDetector]
Stats = dict[str, int]


@dataclass
class UnitContext:
    """What a stage needs to process one unit: the run's config and layout, the unit, and its stage signatures."""

    config: CurateConfig
    layout: RunLayout
    unit: InputUnit
    signatures: dict[str, StageSignature]
    detector: Callable[[], FaceDetector]
    stats: dict[str, Stats] = field(default_factory=dict)


@dataclass(frozen=True)
class PoolContext:
    """What a pool stage needs: the run, every input unit, and its own signature."""

    config: CurateConfig
    layout: RunLayout
    units: Sequence[InputUnit]
    signature: StageSignature
    detector_factory: DetectorFactory


class StageInfo(Protocol):
    """What the planner reads of every stage (class attributes in the stages themselves)."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def reads(self) -> tuple[str, ...]:
        """Stages whose outputs this one reads; none: the input unit itself."""
        ...

    @property
    def writes(self) -> tuple[str, ...]:
        """Its outputs, as patterns under the run directory (NNNNN = the unit)."""
        ...

    def enabled(self, config: CurateConfig) -> bool:
        """Whether this run's graph holds the stage."""
        ...

    def config_part(self, config: CurateConfig, pools: Mapping[str, str]) -> object:
        """The values this stage's output depends on, hashed into its marker; ``pools``: the signature digests of
        the pool stages it reads."""
        ...


@runtime_checkable
class SourceStage(StageInfo, Protocol):
    @property
    def words(self) -> str:
        """What the stage does, in the words of the progress label."""
        ...

    def run(self, ctx: UnitContext, items: Iterator[InputItem]) -> Iterator[ItemRecord]:
        ...

    def replay(self, ctx: UnitContext, items: Iterator[InputItem], pixels: bool) -> Iterator[ItemRecord]:
        """The committed output read back; ``pixels``: whether a stage that runs after it needs the images."""
        ...


@runtime_checkable
class UnitStage(StageInfo, Protocol):
    @property
    def words(self) -> str:
        """What the stage does, in the words of the progress label."""
        ...

    @property
    def needs_pixels(self) -> bool:
        """Reads the detector-resolution images (``ItemRecord.det_rgb``)."""
        ...

    def run(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        ...

    def replay(self, ctx: UnitContext, stream: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
        ...


@runtime_checkable
class PoolStage(StageInfo, Protocol):
    @property
    def title(self) -> str:
        """How the console lines of the step begin."""
        ...

    def check(self, config: CurateConfig) -> None:
        """Fail before any unit runs on what would make the step fail later (a missing seed folder)."""
        ...

    def intro(self, units: int) -> str:
        ...

    def run_pool(self, ctx: PoolContext) -> Stats:
        """Decide over the pool, write the decisions and the stage's marker; returns counts to print."""
        ...


def commit(ctx: UnitContext, stage: str, outputs: Sequence[Path], stats: Stats) -> None:
    """Write ``stage``'s marker for the unit, last, after its ``outputs`` are in place."""
    ctx.stats[stage] = stats
    names = [str(Path(p).relative_to(ctx.layout.out)) for p in outputs]
    write_marker(ctx.layout.marker(stage, ctx.unit.index), ctx.signatures[stage], names, stats)


def zip_items(ctx: UnitContext, items: Iterator[InputItem], rows: Iterator[dict[str, Any]],
              stage: str) -> Iterator[tuple[InputItem, dict[str, Any]]]:
    """Pair the unit's items with a committed stage's rows; they must line up one to one."""
    for item in items:
        row = next(rows, None)
        if row is None or row["item"] != item.item:
            raise RuntimeError(
                f"unit {ctx.unit.index} ({ctx.unit.name}): the committed {stage} output does not match the input "
                f"(item {item.item}); the input changed without changing its fingerprint. Delete "
                f"{ctx.layout.marker(stage, ctx.unit.index)} and run again."
            )
        yield item, row
