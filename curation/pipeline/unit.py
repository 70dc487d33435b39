"""Run the stages a unit still needs, as one stream: items -> source stage (in a reader thread) -> each unit stage
of the graph in order, each run or, when committed, replayed from its outputs.

So a detector change re-runs detection and writing while decoding is read back from the decode cache. The plan's
``todo`` may be cut to one phase's stages (``phases``): the others are replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

from curation.config import CurateConfig
from curation.pipeline.graph import StageGraph, build_graph
from curation.pipeline.layout import RunLayout
from curation.pipeline.planner import UnitPlan
from curation.pipeline.read_ahead import ReadAhead
from curation.pipeline.records import ItemRecord
from curation.pipeline.stage import Stats, UnitContext
from curation.sources import iter_items
from curation.sources.video import expand_videos
from curation.types import FaceDetector

PROGRESS_EVERY = 8  # inputs between progress reports


@dataclass
class UnitResult:
    unit: int
    name: str
    ran: tuple[str, ...]  # the stages this run executed for the unit (the others were replayed)
    items: int
    stats: dict[str, Stats] = field(default_factory=dict)


def run_unit(
    plan: UnitPlan,
    config: CurateConfig,
    layout: RunLayout,
    detector: Callable[[], FaceDetector],
    on_items: Callable[[int], None] = lambda n: None,
) -> UnitResult:
    """Run ``plan.todo`` for one unit; ``on_items(n)`` is told each time n more inputs went through every stage."""
    ctx = unit_context(plan, config, layout, detector)
    with ReadAhead([partial(decoded_stream, plan, ctx)], read_ahead_depth(config)) as ahead:
        return finish_unit(plan, ctx, ahead.next_stream(), on_items)


def unit_context(plan: UnitPlan, config: CurateConfig, layout: RunLayout,
                 detector: Callable[[], FaceDetector]) -> UnitContext:
    return UnitContext(config, layout, plan.unit, plan.signatures, detector)


def decoded_stream(plan: UnitPlan, ctx: UnitContext) -> Iterator[ItemRecord]:
    """The unit's inputs through the source stage: run, or read back when it is committed."""
    graph = build_graph(ctx.config)
    items = expand_videos(iter_items(plan.unit, ctx.config.sources), ctx.config.video, ctx.config.decode)
    if graph.source.name in plan.todo:
        return graph.source.run(ctx, items)
    pixels = any(stage.needs_pixels and stage.name in plan.todo for stage in graph.unit_stages)
    return graph.source.replay(ctx, items, pixels)


def read_ahead_depth(config: CurateConfig) -> int:
    return 2 * config.detect.batch_size


def unit_stream(graph: StageGraph, plan: UnitPlan, ctx: UnitContext,
                decoded: Iterator[ItemRecord]) -> Iterator[ItemRecord]:
    """The stages after the source chained over ``decoded``: run where in ``plan.todo``, replayed elsewhere."""
    stream = decoded
    for stage in graph.unit_stages:
        stream = stage.run(ctx, stream) if stage.name in plan.todo else stage.replay(ctx, stream)
    return stream


def finish_unit(
    plan: UnitPlan, ctx: UnitContext, decoded: Iterator[ItemRecord], on_items: Callable[[int], None]
) -> UnitResult:
    """Run the stages after the source over the unit's ``decoded`` stream (usually read ahead in another thread)."""
    done = 0
    for _ in unit_stream(build_graph(ctx.config), plan, ctx, decoded):
        done += 1
        if done % PROGRESS_EVERY == 0:
            on_items(PROGRESS_EVERY)
    on_items(done % PROGRESS_EVERY)
    return UnitResult(plan.unit.index, plan.unit.name, plan.todo, done, ctx.stats)
