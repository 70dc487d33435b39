"""Run a plan phase by phase, as the graph splits it: the unit stages before a pool stage for every unit (through
the executor), then the pool stage over the whole pool, then the unit stages after it. A phase stops the run when
any of its units failed (the pool stage needs them all)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from rich.console import Console

from core.errors import resumable_writes
from curation.config import CurateConfig
from curation.pipeline.graph import StageGraph, UnitPhase
from curation.pipeline.layout import RunLayout
from curation.pipeline.planner import Plan, UnitPlan
from curation.pipeline.progress import open_progress, phase_label
from curation.pipeline.stage import DetectorFactory, PoolContext, PoolStage
from curation.pipeline.unit import UnitResult
from curation.pipeline.unit_failure import UnitFailure
from curation.sources.sizes import estimate_items


class Executor(Protocol):
    def run(self, plans: Sequence[UnitPlan],
            on_items: Callable[[int], None]) -> tuple[list[UnitResult], list[UnitFailure]]:
        ...

    def close(self) -> None:
        ...


def run_phases(executor: Executor, plan: Plan, graph: StageGraph, layout: RunLayout, config: CurateConfig,
               detector_factory: DetectorFactory, console: Console) -> tuple[list[UnitResult], list[UnitFailure]]:
    results: list[UnitResult] = []
    for phase in graph.phases():
        if isinstance(phase, UnitPhase):
            more, failures = run_unit_phase(executor, plan.pending, phase, config, console)
            results += more
            if failures:
                return results, failures
        elif not plan.pool(phase.name).done:
            run_pool_stage(phase, plan, layout, config, detector_factory, console)
    return results, []


def run_unit_phase(executor: Executor, pending: Sequence[UnitPlan], phase: UnitPhase, config: CurateConfig,
                   console: Console) -> tuple[list[UnitResult], list[UnitFailure]]:
    """The pending units' work among ``phase``'s stages."""
    cut = [replace(u, todo=tuple(t for t in u.todo if t in phase.names)) for u in pending]
    return run_pending(executor, [u for u in cut if u.todo], config, console)


def run_pool_stage(stage: PoolStage, plan: Plan, layout: RunLayout, config: CurateConfig,
                   detector_factory: DetectorFactory, console: Console) -> None:
    console.print(f"{stage.title}: {stage.intro(len(plan.units))}")
    ctx = PoolContext(config, layout, [u.unit for u in plan.units], plan.pool(stage.name).signature,
                      detector_factory)
    with resumable_writes(str(layout.work)):  # disk full in a pool stage: the units stay committed
        stats = stage.run_pool(ctx)
    console.print(f"{stage.title}: " + ", ".join(f"{k} {v}" for k, v in stats.items()))


def run_pending(executor: Executor, pending: list[UnitPlan], config: CurateConfig,
                console: Console) -> tuple[list[UnitResult], list[UnitFailure]]:
    if not pending:
        return [], []
    label = phase_label([stage for unit in pending for stage in unit.todo])
    with open_progress(estimate_items([u.unit for u in pending], config.sources), console, label) as bar:
        return executor.run(pending, bar.advance)
