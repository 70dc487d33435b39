"""Run the stages a unit still needs, as one stream: items -> decode (in a reader thread) -> [embed] -> detect ->
crop+write. With retrieval on, a unit runs twice: up to embed before the global retrieval step, then writing after.

Stages already committed for the unit are replayed from their outputs instead of run, so a detector change re-runs
detection and writing while decoding is read back from the decode cache.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from curation.pipeline.embed_stage import EmbedStage
from curation.pipeline.layout import RunLayout
from curation.pipeline.planner import UnitPlan
from curation.pipeline.stages import DecodeStage, DetectStage, UnitContext
from curation.pipeline.write_stage import CropWriteStage
from curation.types import FaceDetector

T = TypeVar("T")
_END = object()


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
    from curation.sources import iter_items

    decode, detect, embed, write = DecodeStage(), DetectStage(), EmbedStage(), CropWriteStage()
    ctx = UnitContext(config, layout, plan.unit, plan.signatures, detector)
    items = iter_items(plan.unit, config.sources)
    stream: Iterator[Any] = decode.run(ctx, items) if decode.name in plan.todo else decode.replay(ctx, items)
    stream = prefetch(stream, depth=2 * config.detect.batch_size)
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


def prefetch(stream: Iterator[T], depth: int) -> Iterator[T]:
    """Consume ``stream`` in a thread, ``depth`` items ahead, so reading and decoding overlap detection.

    Decoders and onnxruntime release the GIL, so the two really run at once. An error in the thread is raised here.
    """
    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for element in stream:
                while not stop.is_set():
                    try:
                        buffer.put(element, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_END)
        except BaseException as err:  # handed to the consumer, which re-raises it
            buffer.put(err)

    thread = threading.Thread(target=produce, name="curate-reader", daemon=True)
    thread.start()
    try:
        while True:
            element = buffer.get()
            if element is _END:
                return
            if isinstance(element, BaseException):
                raise element
            yield element
    finally:
        stop.set()
        thread.join(timeout=5)
