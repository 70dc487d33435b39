"""The local executor: units of work spread over worker processes (spawn) on one machine.

Each worker runs whole units (decode in a reader thread, detection, crop+write), so with N workers N units are in
flight and their reading, detection and writing overlap. Workers report finished images through a queue that the
parent turns into one progress bar. ``workers=1`` runs in the calling process (no start-up cost), and its reader
thread decodes on into the next unit while the current one is still being detected and written.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import queue as queue_module
import signal
import sys
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from core.errors import UserError
from curation.config import CurateConfig
from curation.detect.config import DetectorConfig
from curation.pipeline.detector_runtime import (
    DetectorFactory,
    LazyDetector,
    default_detector_factory,
    runtime_detector_config,
)
from curation.pipeline.layout import RunLayout
from curation.pipeline.planner import UnitPlan
from curation.pipeline.read_ahead import ReadAhead
from curation.pipeline.unit import (
    UnitResult,
    decoded_stream,
    finish_unit,
    read_ahead_depth,
    run_unit,
    unit_context,
)
from curation.pipeline.unit_failure import UnitFailure
from curation.pipeline.unit_progress import UnitProgress

__all__ = ["DetectorFactory", "LazyDetector", "LocalExecutor", "UnitFailure", "default_detector_factory"]
if TYPE_CHECKING:  # multiprocessing's Queue takes type arguments only in the type stubs
    from multiprocessing.queues import Queue

    Updates = Queue[tuple[int, int, int]]  # (call, unit, n) progress messages from the pool's workers
Outcome = tuple[list[UnitResult], list[UnitFailure]]


@dataclass
class LocalExecutor:
    """Runs units here (one worker) or on a pool of worker processes that is started on the first ``run`` and kept
    for the next (a run with retrieval calls ``run`` twice), so workers start once per run; ``close()`` ends it."""

    config: CurateConfig
    layout: RunLayout
    workers: int = 1
    detector_factory: DetectorFactory = default_detector_factory
    _pool: tuple[ProcessPoolExecutor, Updates] | None = field(default=None, init=False, repr=False)
    _calls: int = field(default=0, init=False, repr=False)

    def close(self) -> None:
        if self._pool is not None:
            self._pool[0].shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _open_pool(self, units: int) -> tuple[ProcessPoolExecutor, Updates]:
        """The pool and its progress queue, started on first use with at most ``units`` workers."""
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            updates: Updates = context.Queue()
            workers = min(self.workers, units)
            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=_init_worker,
                initargs=(updates, self.detector_factory, runtime_detector_config(self.config, workers)),
            )
            self._pool = (pool, updates)
            weakref.finalize(self, pool.shutdown, wait=False, cancel_futures=True)
        return self._pool

    def _abandon_pool(self) -> None:
        if self._pool is not None:
            _stop_workers(self._pool[0])
            self._pool = None

    def run(self, plans: Sequence[UnitPlan], on_items: Callable[[int], None]) -> Outcome:
        if self.workers <= 1 or len(plans) <= 1:
            return self._run_here(plans, on_items)
        return self._run_pool(plans, on_items)

    def _run_here(self, plans: Sequence[UnitPlan], on_items: Callable[[int], None]) -> Outcome:
        """Units one after another; one reader thread decodes ahead across unit boundaries."""
        detector = LazyDetector(self.detector_factory, runtime_detector_config(self.config, 1))
        contexts = [unit_context(plan, self.config, self.layout, detector) for plan in plans]
        openers = [partial(decoded_stream, plan, ctx) for plan, ctx in zip(plans, contexts)]
        results: list[UnitResult] = []
        failures: list[UnitFailure] = []
        with ReadAhead(openers, read_ahead_depth(self.config)) as ahead:
            for plan, ctx in zip(plans, contexts):
                decoded = ahead.next_stream()
                try:
                    results.append(finish_unit(plan, ctx, decoded, on_items))
                except UserError:  # a problem every unit would hit (e.g. the detector model is missing): stop now
                    raise
                except Exception as err:  # one bad unit must not stop the others; the run reports it at the end
                    failures.append(UnitFailure.of(plan.unit.index, plan.unit.name, err))
                    decoded.skip_rest()
        return results, failures

    def _run_pool(self, plans: Sequence[UnitPlan], on_items: Callable[[int], None]) -> Outcome:
        pool, updates = self._open_pool(len(plans))
        self._calls += 1  # tags this call's progress messages: a late one from the call before is not counted
        results: list[UnitResult] = []
        failures: list[UnitFailure] = []
        futures: dict[Future[UnitResult], UnitPlan] = {
            pool.submit(_worker_run_unit, plan, self.config, self.layout, self._calls): plan for plan in plans
        }
        pending = set(futures)
        progress = UnitProgress(on_items)
        while pending:
            try:
                done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:  # Ctrl-C: stop the workers now; committed units stay committed
                self._abandon_pool()
                raise
            drain(updates, self._calls, progress)
            for future in done:
                plan = futures[future]
                try:
                    result = future.result()
                except UserError:
                    self._abandon_pool()
                    raise
                except Exception as err:
                    failures.append(UnitFailure.of(plan.unit.index, plan.unit.name, err))
                    continue
                results.append(result)
                progress.finish(result.unit, result.items)
        return sorted(results, key=lambda r: r.unit), failures


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Cancel queued units and end the running ones (their outputs stay uncommitted, so a rerun redoes them)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public API ends running tasks
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def drain(updates: Updates, call: int, progress: UnitProgress) -> None:
    """Report the workers' queued (call, unit, n) messages of this ``call`` (a late one from the call before is not
    counted)."""
    while True:
        try:
            sent, unit, n = updates.get_nowait()
        except queue_module.Empty:
            return
        if sent == call:
            progress.report(unit, n)


# Per-process state of a pool worker, set once by the pool's initializer.
_WORKER: dict[str, Any] = {}


def _init_worker(updates: Updates, factory: DetectorFactory, detector_config: DetectorConfig) -> None:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    _WORKER["updates"] = updates
    _WORKER["detector"] = LazyDetector(factory, detector_config)


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this worker when the parent dies (even by SIGKILL), so no orphan keeps writing
    a unit that the next run will write again."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request took effect
        os._exit(1)


def _worker_run_unit(plan: UnitPlan, config: CurateConfig, layout: RunLayout, call: int = 0) -> UnitResult:
    updates = _WORKER["updates"]
    unit = plan.unit.index

    def report(n: int) -> None:
        if n:
            updates.put((call, unit, n))

    return run_unit(plan, config, layout, _WORKER["detector"], report)
