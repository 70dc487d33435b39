"""Run the stages a unit still needs, as one stream: items -> decode (in a reader thread) -> [embed] -> detect ->
crop+write. With retrieval on, a unit runs twice: up to embed before the global retrieval step, then writing after.

Stages already committed for the unit are replayed from their outputs instead of run, so a detector change re-runs
detection and writing while decoding is read back from the decode cache.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from curation.pipeline.embed_stage import EmbedStage
from curation.pipeline.layout import RunLayout
from curation.pipeline.planner import UnitPlan
from curation.pipeline.read_ahead import ReadAhead
from curation.pipeline.stages import DecodeStage, DetectStage, UnitContext
from curation.pipeline.write_stage import CropWriteStage
from curation.types import FaceDetector


def pipeline_stages(config: Any = None, decisions_digest: str | None = None) -> tuple[Any, ...]:
    """The per-unit stages in signature order; with retrieval on, embed joins them and writing reads the decisions
    of the retrieval step whose signature digest is ``decisions_digest``."""
    if config is not None and config.retrieval.enabled:
        return DecodeStage(), DetectStage(), EmbedStage(), CropWriteStage(decisions_digest)
    return DecodeStage(), DetectStage(), CropWriteStage()


@dataclass
class UnitResult:
    unit: int
    name: str
    ran: tuple[str, ...]  # the stages this run executed for the unit (the others were replayed)
    items: int
    stats: dict[str, dict[str, int]] = field(default_factory=dict)


def run_unit(
    plan: UnitPlan,
    config: Any,
    layout: RunLayout,
    detector: Callable[[], FaceDetector],
    on_items: Callable[[int], None] = lambda n: None,
) -> UnitResult:
    """Run ``plan.todo`` for one unit; ``on_items(n)`` is told each time n more inputs went through every stage."""
    ctx = unit_context(plan, config, layout, detector)
    with ReadAhead([partial(decoded_stream, plan, ctx)], read_ahead_depth(config)) as ahead:
        return finish_unit(plan, ctx, ahead.next_stream(), on_items)


def unit_context(plan: UnitPlan, config: Any, layout: RunLayout, detector: Callable[[], FaceDetector]) -> UnitContext:
    return UnitContext(config, layout, plan.unit, plan.signatures, detector)


def decoded_stream(plan: UnitPlan, ctx: UnitContext) -> Iterator[Any]:
    """The unit's inputs decoded, or read back from the decode cache when decoding is committed."""
    from curation.sources import iter_items
    from curation.sources.video import expand_videos

    decode = DecodeStage()
    items = expand_videos(iter_items(plan.unit, ctx.config.sources), ctx.config.video, ctx.config.decode)
    if decode.name in plan.todo:
        return decode.run(ctx, items)
    return decode.replay(ctx, items, pixels=bool({DetectStage.name, EmbedStage.name} & set(plan.todo)))


def read_ahead_depth(config: Any) -> int:
    return 2 * config.detect.batch_size


def finish_unit(
    plan: UnitPlan, ctx: UnitContext, decoded: Iterator[Any], on_items: Callable[[int], None]
) -> UnitResult:
    """Run the stages after decoding over the unit's ``decoded`` stream (usually read ahead in another thread)."""
    detect, embed, write = DetectStage(), EmbedStage(), CropWriteStage()
    stream = decoded
    if embed.name in plan.todo:  # before detection, which lets go of the decoded pixels
        stream = embed.run(ctx, stream)
    stream = detect.run(ctx, stream) if detect.name in plan.todo else detect.replay(ctx, stream)
    if write.name in plan.todo:
        stream = write.run(ctx, stream)
    done = 0
    for _ in stream:
        done += 1
        if done % 8 == 0:
            on_items(8)
    on_items(done % 8)
    return UnitResult(plan.unit.index, plan.unit.name, plan.todo, done, ctx.stats)
