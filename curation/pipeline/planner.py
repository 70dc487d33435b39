"""The plan: for every input unit, which stages are still to run, and which pool stages, from the markers on disk.

A unit stage is done for a unit when its marker holds the signature the current run expects (stage version, hash of
its config part, input fingerprint), its outputs exist, and every unit stage it reads from is done. Its input
fingerprint is the unit's own for the source stage, else the digest of the unit stages it ``reads`` (the embed stage
reads only the decode cache, so a detector change does not re-embed); the pool stages it reads enter its config part.
A pool stage's fingerprint chains the signatures its reads have in every unit; it is done when its marker matches
and no unit stage before it has work left.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from core.config import to_dict
from curation.config import CurateConfig
from curation.pipeline.graph import StageGraph
from curation.pipeline.layout import RunLayout
from curation.pipeline.markers import StageSignature, outputs_committed
from curation.pipeline.stage import PoolStage, StageInfo
from curation.sources import InputUnit


@dataclass(frozen=True)
class UnitPlan:
    unit: InputUnit
    signatures: dict[str, StageSignature]
    todo: tuple[str, ...]  # stage names still to run: a stage runs when it or a stage it reads from is not done


@dataclass(frozen=True)
class PoolPlan:
    name: str
    signature: StageSignature
    done: bool

    def describe(self) -> str:
        return f"  {self.name} (global step)  {'done' if self.done else 'to do'}"


@dataclass(frozen=True)
class Plan:
    stages: tuple[str, ...]  # the per-unit stages, in run order
    units: tuple[UnitPlan, ...]
    pools: tuple[PoolPlan, ...] = ()

    @property
    def pending(self) -> list[UnitPlan]:
        return [u for u in self.units if u.todo]

    @property
    def complete(self) -> bool:
        return not self.pending and all(p.done for p in self.pools)

    def pool(self, name: str) -> PoolPlan:
        return next(p for p in self.pools if p.name == name)

    def counts(self) -> list[tuple[str, int, int]]:
        """(stage, units done, units to do) per stage."""
        return [(s, sum(s not in u.todo for u in self.units), sum(s in u.todo for u in self.units)) for s in self.stages]

    def describe(self) -> str:
        width = max(len(s) for s in self.stages)
        lines = [f"{len(self.units)} input units; {len(self.pending)} with work left"]
        lines += [f"  {s:<{width}}  done {done:>6}  to do {todo:>6}" for s, done, todo in self.counts()]
        return "\n".join(lines + [pool.describe() for pool in self.pools])


def part_hash(part: object) -> str:
    """Stable short hash of a stage's config part: a config dataclass or a mapping of them and plain values."""

    def plain(value: object) -> object:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return to_dict(value)
        raise TypeError(f"cannot hash config value {value!r}")

    canonical = json.dumps(part, default=plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def short_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def chained_fingerprint(digests: Sequence[str], fingerprint: str) -> str:
    """What a unit stage's signature chains: the unit's fingerprint, the one stage it reads, or all of them."""
    if not digests:
        return fingerprint
    return digests[0] if len(digests) == 1 else short_sha(",".join(digests))


class _Signer:
    """Walks the graph once, giving every unit stage its signature per unit and every pool stage its own."""

    def __init__(self, graph: StageGraph, config: CurateConfig, units: Sequence[InputUnit]) -> None:
        self.graph, self.config, self.units = graph, config, units
        self.present = {graph.source.name, *(s.name for s in graph.stages)}
        self.per_unit: list[dict[str, StageSignature]] = [{} for _ in units]
        self.pools: dict[str, StageSignature] = {}

    def run(self) -> _Signer:
        self._sign_units(self.graph.source)
        for stage in self.graph.stages:
            if isinstance(stage, PoolStage):
                self._sign_pool(stage)
            else:
                self._sign_units(stage)
        return self

    def _sign_units(self, stage: StageInfo) -> None:
        reads = [name for name in stage.reads if name in self.present]
        pools = {name: self.pools[name].digest() for name in reads if name in self.pools}
        config_hash = part_hash(stage.config_part(self.config, pools))
        for unit, signatures in zip(self.units, self.per_unit):
            digests = [signatures[name].digest() for name in reads if name not in pools]
            upstream = chained_fingerprint(digests, unit.fingerprint)
            signatures[stage.name] = StageSignature(stage.name, stage.version, config_hash, upstream)

    def _sign_pool(self, stage: PoolStage) -> None:
        joined = ",".join(":".join(s[name].digest() for name in stage.reads) for s in self.per_unit)
        config_hash = part_hash(stage.config_part(self.config, {}))
        self.pools[stage.name] = StageSignature(stage.name, stage.version, config_hash, short_sha(joined))


def unit_todo(layout: RunLayout, graph: StageGraph, unit: InputUnit,
              signatures: dict[str, StageSignature]) -> tuple[str, ...]:
    todo: list[str] = []
    for stage in (graph.source, *graph.unit_stages):
        upstream_todo = any(name in todo for name in stage.reads)
        marker = layout.marker(stage.name, unit.index)
        if upstream_todo or not outputs_committed(marker, signatures[stage.name], layout.out):
            todo.append(stage.name)
    return tuple(todo)


def make_plan(layout: RunLayout, graph: StageGraph, config: CurateConfig, units: Sequence[InputUnit]) -> Plan:
    signer = _Signer(graph, config, units).run()
    plans = tuple(UnitPlan(unit, signatures, unit_todo(layout, graph, unit, signatures))
                  for unit, signatures in zip(units, signer.per_unit))
    pools: list[PoolPlan] = []
    before: set[str] = {graph.source.name}
    for stage in graph.stages:
        if isinstance(stage, PoolStage):
            signature = signer.pools[stage.name]
            earlier_done = not any(before & set(p.todo) for p in plans)
            committed = outputs_committed(layout.pool_marker(stage.name), signature, layout.out)
            pools.append(PoolPlan(stage.name, signature, earlier_done and committed))
        else:
            before.add(stage.name)
    return Plan(graph.unit_stage_names, plans, tuple(pools))
