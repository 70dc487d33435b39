"""``pros curate`` as a library call: list units, plan from markers, run what is left, write sizes and the report."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from rich.console import Console

import curation.report
from core.errors import UserError, check_output_dir, resumable_writes
from core.run_info import write_run_info
from curation.config import CurateConfig
from curation.pipeline.detector_runtime import DetectorFactory, default_detector_factory
from curation.pipeline.disk import decode_cache_bytes, estimate_cache, prune_decode_cache
from curation.pipeline.executor import LocalExecutor
from curation.pipeline.graph import UNIT_STAGE_NAMES, StageGraph, build_graph
from curation.pipeline.layout import RunLayout
from curation.pipeline.lock import run_lock
from curation.pipeline.manifest import read_manifests
from curation.pipeline.phases import Executor, run_phases
from curation.pipeline.planner import Plan, make_plan
from curation.pipeline.ray_executor import RayExecutor
from curation.pipeline.resources import choose_resources
from curation.pipeline.unit import UnitResult
from curation.pipeline.unit_failure import UnitFailure
from curation.sources import InputUnit, list_units
from curation.sources.sizes import estimate_items
from curation.types import DECODE_REASONS, VIDEO_REASONS
from shards import write_sizes

log = logging.getLogger(__name__)


@dataclass
class CurateResult:
    """What a run did and what the output holds (counts over the whole output, not only this run's units)."""

    plan: Plan
    dry_run: bool = False
    nothing_to_do: bool = False
    units_run: dict[str, int] = field(default_factory=dict)  # stage -> units this run executed it for
    results: list[UnitResult] = field(default_factory=list)
    failures: list[UnitFailure] = field(default_factory=list)
    inputs: int = 0
    kept: int = 0
    rejected: int = 0
    samples: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    videos: int = 0  # videos read (their frames are counted in inputs); a video that gave no frames is an input
    cache_bytes: int = 0  # what the decode cache (OUT/work/decode) holds after the run
    pruned_bytes: int = 0  # what --prune-cache freed

    @property
    def decode_rejections(self) -> int:
        return sum(n for reason, n in self.reasons.items() if reason in DECODE_REASONS + VIDEO_REASONS)


def curate(
    inputs: Sequence[str],
    out: Path,
    config: CurateConfig,
    *,
    dry_run: bool = False,
    command: str = "pros curate",
    console: Console | None = None,
    detector_factory: DetectorFactory = default_detector_factory,
    prune_cache: bool = False,
) -> CurateResult:
    """Curate ``inputs`` into ``out``; safe to call again after a crash or with changed settings (see planner).
    ``prune_cache``: once the run is complete, delete its decode cache (a later run then decodes again)."""
    console = console or Console(stderr=True)
    check_output_dir(out)
    layout = RunLayout(Path(out))
    units = list_units(list(inputs), config.sources, exclude=[str(out)])
    if not units:
        raise UserError(f"inputs {' '.join(inputs)} hold no images or videos; point pros curate at folders, tars or parquet files")
    graph = build_graph(config)
    plan = plan_run(layout, graph, config, units)
    if dry_run:
        cache = estimate_cache(plan, config, layout.out)
        console.print(f"plan for {layout.out}:\n{plan.describe()}\n  {cache.describe()}")
        return CurateResult(plan, dry_run=True)
    report_file = layout.report / "report.json"
    if plan.complete and report_file.exists() \
            and not layout.stale_units(len(units)):
        console.print(f"nothing to do: all {len(units)} input units of {layout.out} are already committed")
        result = summarize(CurateResult(plan, nothing_to_do=True), layout)
        if not prune_cache:
            return finish_cache(result, layout, prune=False)
        with run_lock(layout.work):  # not while another run on this output reads the cache
            return finish_cache(result, layout, prune=True)
    with resumable_writes(str(layout.out)):
        layout.make_dirs()
    with run_lock(layout.work):
        plan = plan_run(layout, graph, config, units)  # again, now that no other run can change the markers
        remove_stale_units(layout, len(units), console)
        with resumable_writes(str(layout.out / "run_info.json")):
            write_run_info(layout.out, config, command)
        console.print(plan.describe())
        cache = estimate_cache(plan, config, layout.out)
        if not cache.fits:
            console.print(cache.warning(layout.work), style="bold yellow", markup=False)
        config = resolve_local_resources(config, plan, console)
        executor = build_executor(config, layout, detector_factory)
        try:
            results, failures = run_phases(executor, plan, graph, layout, config, detector_factory, console)
        finally:
            executor.close()
        with resumable_writes(str(layout.shards / "sizes.json")):
            write_sizes(layout.shards)
        if failures:
            raise UserError(failures_message(failures, len(units)))
        with resumable_writes(str(layout.report)):
            curation.report.write_report(layout, config)  # looked up here, so a test can replace it
        result = summarize(CurateResult(plan, results=results), layout)
        finish_cache(result, layout, prune_cache)
    result.units_run = {s: sum(s in r.ran for r in results) for s in plan.stages}
    return result


def failures_message(failures: Sequence[UnitFailure], total_units: int) -> str:
    """What failed, what is kept, and how to finish: rerunning the same command runs only the failed units."""
    lines = "\n".join(f"  unit {f.unit} ({f.name}): {f.error}" for f in failures[:10])
    more = f"\n  ... and {len(failures) - 10} more" if len(failures) > 10 else ""
    if len(failures) >= total_units:
        head = f"{len(failures)} input unit(s) failed (all of them); none is committed"
    else:
        head = (f"{len(failures)} input unit(s) failed (of {total_units}); the other {total_units - len(failures)} "
                "are committed")
    return f"{head}. Fix the cause and run the same command again to finish them:\n{lines}{more}"


def finish_cache(result: CurateResult, layout: RunLayout, prune: bool) -> CurateResult:
    """Record the decode cache's size, deleting it first when asked."""
    if prune:
        result.pruned_bytes = prune_decode_cache(layout)
    result.cache_bytes = decode_cache_bytes(layout)
    return result


def plan_run(layout: RunLayout, graph: StageGraph, config: CurateConfig, units: Sequence[InputUnit]) -> Plan:
    """The plan, after each pool stage checked what would make it fail later."""
    for stage in graph.pool_stages:
        stage.check(config)
    return make_plan(layout, graph, config, units)


def build_executor(config: CurateConfig, layout: RunLayout, detector_factory: DetectorFactory) -> Executor:
    """The executor ``config.executor`` names: local worker processes, or Ray actors."""
    if config.executor == "ray":
        return RayExecutor(config, layout, detector_factory)
    return LocalExecutor(config, layout, int(config.workers), detector_factory)  # resolved: resolve_local_resources


def resolve_local_resources(config: CurateConfig, plan: Plan, console: Console) -> CurateConfig:
    """``config`` with ``workers`` resolved to a count for the local executor, the choice printed once."""
    if config.executor != "local":
        return config
    images = estimate_items([u.unit for u in plan.pending], config.sources)
    resources = choose_resources(config, max(1, len(plan.pending)), images=images)
    console.print(resources.describe(), markup=False)
    return replace(config, workers=int(resources.workers.value))


def remove_stale_units(layout: RunLayout, count: int, console: Console) -> None:
    """Delete the outputs of units past the current unit list, so shards, sizes and manifests describe this input."""
    stale = layout.stale_units(count)
    if not stale:
        return
    console.print(f"removing the outputs of {len(stale)} unit(s) that the current inputs no longer have "
                  f"({stale[0]:05d}..{stale[-1]:05d})")
    for unit in stale:
        for path in layout.unit_files(unit, UNIT_STAGE_NAMES):
            path.unlink(missing_ok=True)


def summarize(result: CurateResult, layout: RunLayout) -> CurateResult:
    """Fill the counts from the manifests of every committed unit."""
    table = read_manifests(layout.manifest, ["status", "reason", "n_kept_faces"])
    statuses = table.column("status").to_pylist()
    reasons = Counter(r for s, r in zip(statuses, table.column("reason").to_pylist()) if s == "rejected")
    result.kept = statuses.count("kept")
    result.rejected = statuses.count("rejected")
    result.inputs = result.kept + result.rejected
    result.videos = statuses.count("video")
    result.samples = int(sum(n or 0 for n in table.column("n_kept_faces").to_pylist()))
    result.reasons = dict(reasons.most_common())
    return result
