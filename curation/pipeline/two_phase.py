"""Plan and run the unit stages around the global retrieval step.

With retrieval off, each unit runs decode -> detect -> write in one go. With it on, units run decode -> embed ->
detect first; then the retrieval step decides over the whole pool; then each unit runs writing (its decode and
detections replayed from the work files). Both unit phases go through the same executor and markers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich.console import Console

from curation.pipeline.embed_stage import embedder_for, runtime_embed_config
from curation.pipeline.executor import (
    DetectorFactory,
    LazyDetector,
    UnitFailure,
    runtime_detector_config,
)
from curation.pipeline.layout import RunLayout
from curation.pipeline.markers import StageSignature
from curation.pipeline.outside_seeds import check_outside_seeds
from curation.pipeline.planner import Plan, UnitPlan, make_plan
from curation.pipeline.retrieval_step import (
    run_retrieval_step,
    step_done,
    step_signature,
)
from curation.pipeline.unit import UnitResult, pipeline_stages
from pros.errors import resumable_writes


@dataclass(frozen=True)
class RetrievalPlan:
    signature: StageSignature
    done: bool

    def describe(self) -> str:
        return f"  retrieve (global step)  {'done' if self.done else 'to do'}"


def plan_run(layout: RunLayout, config: Any, units: Sequence[Any]) -> tuple[Plan, RetrievalPlan | None]:
    """The unit plan and, with retrieval on, whether the retrieval step must run."""
    if not config.retrieval.enabled:
        return make_plan(layout, pipeline_stages(config), config, units), None
    check_outside_seeds(config, lambda: embedder_for(runtime_embed_config(config)))
    draft = make_plan(layout, pipeline_stages(config, ""), config, units)  # unit signatures before writing
    signature = step_signature(draft.units, config)
    plan = make_plan(layout, pipeline_stages(config, signature.digest()), config, units)
    before_done = not any(set(u.todo) - {"write"} for u in plan.units)
    return plan, RetrievalPlan(signature, before_done and step_done(layout, signature))


def run_phases(executor: Any, plan: Plan, retrieval: RetrievalPlan | None, layout: RunLayout, config: Any,
               detector_factory: DetectorFactory, console: Console) -> tuple[list[UnitResult], list[UnitFailure]]:
    if retrieval is None:
        return run_pending(executor, plan.pending, config, console)
    before = [replace(u, todo=tuple(t for t in u.todo if t != "write")) for u in plan.pending]
    results, failures = run_pending(executor, [u for u in before if u.todo], config, console)
    if failures:
        return results, failures
    if not retrieval.done:
        console.print(f"retrieval: indexing and deciding over the pool of {len(plan.units)} unit(s)")
        recheck_config = replace(runtime_detector_config(config, 1, reader_thread=False),
                                 score_threshold=config.retrieval.recheck.score_threshold)
        with resumable_writes(str(layout.work)):  # disk full in the global step: the units stay committed
            stats = run_retrieval_step(layout, plan.units, config, LazyDetector(detector_factory, recheck_config),
                                       retrieval.signature)
        console.print("retrieval: " + ", ".join(f"{k} {v}" for k, v in stats.items()))
    after = [replace(u, todo=("write",)) for u in plan.pending if "write" in u.todo]
    more, failures = run_pending(executor, after, config, console)
    return results + more, failures


def run_pending(executor: Any, pending: list[UnitPlan], config: Any,
                console: Console) -> tuple[list[UnitResult], list[UnitFailure]]:
    from curation.pipeline.progress import open_progress, phase_label
    from curation.pipeline.run import estimate_items

    if not pending:
        return [], []
    label = phase_label([stage for unit in pending for stage in unit.todo])
    with open_progress(estimate_items(Plan((), tuple(pending)), config.sources), console, label) as bar:
        return executor.run(pending, bar.advance)
