"""The plan: for every input unit, which stages are still to run, from the commit markers on disk.

A stage is done for a unit when its marker holds the signature the current run expects (stage version, hash of the
config parts the stage depends on, input fingerprint), its outputs exist, and every stage it reads from is done. A
stage reads from the stage before it unless it names its inputs in ``after`` (the embed stage reads only the decode
cache, so a detector change does not re-embed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from curation.pipeline.layout import RunLayout
from curation.pipeline.markers import StageSignature, marker_matches, read_marker
from pros.config import to_dict


@dataclass(frozen=True)
class UnitPlan:
    unit: Any  # curation.sources.InputUnit
    signatures: dict[str, StageSignature]
    todo: tuple[str, ...]  # stage names still to run: a stage runs when it or a stage it reads from is not done


@dataclass(frozen=True)
class Plan:
    stages: tuple[str, ...]
    units: tuple[UnitPlan, ...]

    @property
    def pending(self) -> list[UnitPlan]:
        return [u for u in self.units if u.todo]

    def counts(self) -> list[tuple[str, int, int]]:
        """(stage, units done, units to do) per stage."""
        return [(s, sum(s not in u.todo for u in self.units), sum(s in u.todo for u in self.units)) for s in self.stages]

    def describe(self) -> str:
        width = max(len(s) for s in self.stages)
        lines = [f"{len(self.units)} input units; {len(self.pending)} with work left"]
        lines += [f"  {s:<{width}}  done {done:>6}  to do {todo:>6}" for s, done, todo in self.counts()]
        return "\n".join(lines)


def part_hash(part: Any) -> str:
    """Stable short hash of a stage's config part: a config dataclass or a mapping of them and plain values."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return to_dict(value)
        raise TypeError(f"cannot hash config value {value!r}")

    canonical = json.dumps(part, default=plain, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def upstream_names(stages: Sequence[Any], position: int) -> tuple[str, ...]:
    """The stages whose outputs stage ``position`` reads: its ``after`` names, else the stage before it."""
    after = getattr(stages[position], "after", None)
    if after is not None:
        return tuple(after)
    return (stages[position - 1].name,) if position else ()


def stage_signatures(stages: Sequence[Any], config: Any, fingerprint: str) -> dict[str, StageSignature]:
    signatures: dict[str, StageSignature] = {}
    for position, stage in enumerate(stages):
        names = upstream_names(stages, position)
        if not names:
            upstream = fingerprint
        elif len(names) == 1:
            upstream = signatures[names[0]].digest()
        else:
            joined = ",".join(signatures[n].digest() for n in names)
            upstream = hashlib.sha256(joined.encode()).hexdigest()[:24]
        signatures[stage.name] = StageSignature(stage.name, stage.version, part_hash(stage.config_part(config)), upstream)
    return signatures


def stage_done(layout: RunLayout, stage: Any, unit: int, signature: StageSignature) -> bool:
    path = layout.marker(stage.name, unit)
    if not marker_matches(path, signature):
        return False
    outputs = (read_marker(path) or {}).get("outputs", [])
    return all((layout.out / name).exists() for name in outputs)


def plan_unit(layout: RunLayout, stages: Sequence[Any], config: Any, unit: Any) -> UnitPlan:
    signatures = stage_signatures(stages, config, unit.fingerprint)
    todo: list[str] = []
    for position, stage in enumerate(stages):
        upstream_todo = any(name in todo for name in upstream_names(stages, position))
        if upstream_todo or not stage_done(layout, stage, unit.index, signatures[stage.name]):
            todo.append(stage.name)
    return UnitPlan(unit, signatures, tuple(todo))


def make_plan(layout: RunLayout, stages: Sequence[Any], config: Any, units: Sequence[Any]) -> Plan:
    return Plan(tuple(s.name for s in stages), tuple(plan_unit(layout, stages, config, u) for u in units))
