"""How many local worker processes and onnxruntime threads a curation run uses, chosen once at start and logged.

Workers (``workers=auto``, the default): one per usable core, never more than the units there are to run (a unit is
the smallest piece a worker takes), nor than one per MIN_IMAGES_PER_WORKER images, nor than the cores other work
leaves idle (1-minute load average): on a busy machine an extra worker only adds its start-up cost. Threads: each worker's onnxruntime sessions (detector, embedder) get the usable
cores divided by the workers, less the reader thread that decodes beside them, at least 1; an explicit
``detect.threads`` / ``retrieval.embed.threads`` wins. Neither choice changes what is written: thread counts are left
out of the stage signatures, and unit boundaries come from the inputs alone (``SourceConfig.unit_size``), never from
the cores, so another machine writes the same shards.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from core.hardware import Choice, usable_cores
from curation.config import CurateConfig

AUTO = "auto"
# Each extra worker process cost about 9.6 CPU seconds (spawn, imports, detector and embedder sessions: 30.5-30.9 s
# CPU for 2 workers against 21.0-21.1 s for 1 on the 116-file demo dump, 2-core EPYC, BENCHMARKS.md), the CPU work
# of about 100 images at 0.1 s each: ``auto`` gives each worker at least this many images.
MIN_IMAGES_PER_WORKER = 100


def idle_cores(cores: int) -> tuple[int, float]:
    """(usable cores not busy with other work, by the 1-minute load average, at least 1; the load average)."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this system
        return cores, 0.0
    return max(1, min(cores, math.floor(cores - load + 0.5))), load


def choose_workers(requested: int | str, units: int, cores: int | None = None, images: int | None = None,
                   load: float | None = None) -> Choice:
    """``requested`` when a count, else (``auto``) the usable cores less those other work keeps busy (``load``: the
    load average, read when None), at most ``units``, at most one per MIN_IMAGES_PER_WORKER of ``images`` (when
    known), and at least 1."""
    if requested != AUTO:
        return Choice(int(requested), "set")
    cores = cores or usable_cores()
    if load is None:
        free, load = idle_cores(cores)
    else:
        free = max(1, min(cores, math.floor(cores - load + 0.5)))
    limits = {f"{cores} usable cores": cores, f"{units} unit(s) to run": units,
              f"load average {load:.1f} on {cores} cores": free}
    if images is not None:
        limits[f"{images} images, {MIN_IMAGES_PER_WORKER}+ per worker"] = images // MIN_IMAGES_PER_WORKER
    reason, workers = min(limits.items(), key=lambda item: item[1])
    return Choice(max(1, workers), f"auto: {reason}")


def session_threads(requested: int, workers: int, reader_thread: bool = True, cores: int | None = None) -> Choice:
    """onnxruntime intra-op threads per worker: ``requested`` when > 0, else cores / workers less the reader thread."""
    if requested > 0:
        return Choice(requested, "set")
    cores = cores or usable_cores()
    share = cores // max(1, workers)
    threads = max(1, share - (1 if reader_thread else 0))
    reason = f"{cores} cores / {workers} worker(s)" + (" - 1 reader thread" if reader_thread else "")
    return Choice(threads, reason)


def threads_per_worker(workers: int | str, reader_thread: bool = True) -> int:
    """onnxruntime / torch threads of each of ``workers`` workers; ``auto`` not yet resolved counts as 1."""
    return int(session_threads(0, workers if isinstance(workers, int) else 1, reader_thread).value)


@dataclass(frozen=True)
class Resources:
    workers: Choice
    detector_threads: Choice
    embedder_threads: Choice | None  # None with retrieval off (no embedder runs)

    def describe(self) -> str:
        line = f"workers {self.workers}; onnxruntime threads per worker: detector {self.detector_threads}"
        if self.embedder_threads is not None:
            line += f", embedder {self.embedder_threads}"
        return line


def choose_resources(config: CurateConfig, units: int, cores: int | None = None, images: int | None = None,
                     load: float | None = None) -> Resources:
    """Workers and per-worker threads for a local run with ``units`` units (at least one) and ``images`` inputs
    (None when unknown, e.g. tar shards) to run."""
    workers = choose_workers(config.workers, units, cores, images, load)
    count = int(workers.value)
    detector = session_threads(config.detect.threads, count, cores=cores)
    embedder = session_threads(config.retrieval.embed.threads, count, cores=cores) if config.retrieval.enabled else None
    return Resources(workers, detector, embedder)
