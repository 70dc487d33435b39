"""A unit that failed: the run goes on with the others and reports it at the end (a rerun finishes it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class UnitFailure:
    unit: int
    name: str
    error: str

    @classmethod
    def of(cls, unit: int, name: str, err: BaseException) -> UnitFailure:
        return cls(unit, name, f"{type(err).__name__}: {err}")
