"""``pros curate`` as a library call: list units, plan from markers, run what is left, write sizes and the report."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from curation.pipeline.disk import decode_cache_bytes, estimate_cache, prune_decode_cache
from curation.pipeline.executor import (
    DetectorFactory,
    Executor,
    LocalExecutor,
    UnitFailure,
    default_detector_factory,
)
from curation.pipeline.layout import RunLayout
from curation.pipeline.lock import run_lock
from curation.pipeline.manifest import read_manifests
from curation.pipeline.planner import Plan
from curation.pipeline.two_phase import RetrievalPlan, plan_run, run_phases
from curation.pipeline.unit import UnitResult
from curation.types import DECODE_REASONS, VIDEO_REASONS
from pros.errors import UserError, check_output_dir, resumable_writes
from pros.run_info import write_run_info
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
    config: Any,
    *,
    dry_run: bool = False,
    command: str = "pros curate",
    console: Console | None = None,
    detector_factory: DetectorFactory = default_detector_factory,
    prune_cache: bool = False,
) -> CurateResult:
    """Curate ``inputs`` into ``out``; safe to call again after a crash or with changed settings (see planner).
    ``prune_cache``: once the run is complete, delete its decode cache (a later run then decodes again)."""
    from curation.sources import list_units

    console = console or Console(stderr=True)
    check_output_dir(out)
    layout = RunLayout(Path(out))
    units = list_units(list(inputs), config.sources, exclude=[str(out)])
    if not units:
        raise UserError(f"inputs {' '.join(inputs)} hold no images or videos; point pros curate at folders, tars or parquet files")
    plan, retrieval = plan_run(layout, config, units)
    if dry_run:
        cache = estimate_cache(plan, config, layout.out)
        console.print(f"plan for {layout.out}:\n{describe(plan, retrieval)}\n  {cache.describe()}")
        return CurateResult(plan, dry_run=True)
    report_file = layout.report / "report.json"
    if not plan.pending and (retrieval is None or retrieval.done) and report_file.exists() \
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
        plan, retrieval = plan_run(layout, config, units)  # again, now that no other run can change the markers
        remove_stale_units(layout, len(units), console)
        with resumable_writes(str(layout.out / "run_info.json")):
            write_run_info(layout.out, config, command)
        console.print(describe(plan, retrieval))
        cache = estimate_cache(plan, config, layout.out)
        if not cache.fits:
            console.print(cache.warning(layout.work), style="bold yellow", markup=False)
        config = resolve_local_resources(config, plan, console)
        executor = build_executor(config, layout, detector_factory)
        try:
            results, failures = run_phases(executor, plan, retrieval, layout, config, detector_factory, console)
        finally:
            close = getattr(executor, "close", None)
            if close is not None:
                close()
        with resumable_writes(str(layout.shards / "sizes.json")):
            write_sizes(layout.shards)
        if failures:
            raise UserError(failures_message(failures, len(units)))
        from curation.report import write_report

        with resumable_writes(str(layout.report)):
            write_report(layout, config)
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
        result.pruned_bytes = prune_decode_cache(layout.work)
    result.cache_bytes = decode_cache_bytes(layout.work)
    return result


def build_executor(config: Any, layout: RunLayout, detector_factory: DetectorFactory) -> Executor:
    """The executor ``config.executor`` names: local worker processes, or Ray actors (imported only when asked)."""
    if config.executor == "ray":
        from curation.pipeline.ray_executor import RayExecutor

        return RayExecutor(config, layout, detector_factory)
    return LocalExecutor(config, layout, config.workers, detector_factory)


def resolve_local_resources(config: Any, plan: Plan, console: Console) -> Any:
    """``config`` with ``workers`` resolved to a count for the local executor, the choice printed once."""
    if config.executor != "local":
        return config
    from curation.pipeline.resources import choose_resources

    resources = choose_resources(config, max(1, len(plan.pending)), images=estimate_items(plan, config.sources))
    console.print(resources.describe(), markup=False)
    return replace(config, workers=int(resources.workers.value))


def describe(plan: Plan, retrieval: RetrievalPlan | None) -> str:
    return plan.describe() if retrieval is None else f"{plan.describe()}\n{retrieval.describe()}"


def remove_stale_units(layout: RunLayout, count: int, console: Console) -> None:
    """Delete the outputs of units past the current unit list, so shards, sizes and manifests describe this input."""
    stale = layout.stale_units(count)
    if not stale:
        return
    console.print(f"removing the outputs of {len(stale)} unit(s) that the current inputs no longer have "
                  f"({stale[0]:05d}..{stale[-1]:05d})")
    for unit in stale:
        for path in layout.unit_files(unit):
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


def estimate_items(plan: Plan, sources: Any) -> int | None:
    """Inputs the pending units hold, for the progress bar's total; None when a unit's size is not cheap to know."""
    total = 0
    for unit_plan in plan.pending:
        count = unit_size(unit_plan.unit, sources)
        if count is None:
            return None
        total += count
    return total


def unit_size(unit: Any, sources: Any) -> int | None:
    """The number of inputs of ``unit``, from a listing, parquet metadata or tar headers (no image is read)."""
    try:
        from curation.sources.video import is_video_name

        if unit.kind == "directory":  # a video's frame count is known only once it is read
            return None if any(map(is_video_name, unit.members)) else len(unit.members)
        if not os.path.isfile(unit.path):  # a FIFO or a device: never opened here (its item says not_a_file)
            return None
        if unit.kind == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(unit.path).metadata.num_rows
        if unit.kind == "tar" and unit.path.lower().endswith(".tar"):
            import tarfile

            with tarfile.open(unit.path, mode="r:") as tar:  # seeks from header to header
                members = [m.name for m in tar.getmembers()]
                return None if any(map(is_video_name, members)) else sum(map(sources.is_image_name, members))
    except Exception:  # a damaged file: its size is unknown, the run itself reports it
        return None
    return None
