"""Progress of units that report finished inputs piecemeal while they run, made exact when each one finishes.

Both executors use it: a running unit's counts arrive late or not at all (a queue, a poll), so the total a unit
adds to the bar is set from its result when it finishes, and counts that arrive after that are ignored.
"""

from __future__ import annotations

from collections.abc import Callable


class UnitProgress:
    def __init__(self, on_items: Callable[[int], None]) -> None:
        self.on_items = on_items
        self.reported: dict[int, int] = {}
        self.finished: set[int] = set()

    def count(self, unit: int, n: int) -> int:
        """Record ``n`` more inputs of a running ``unit`` without reporting them; returns what counted."""
        if unit in self.finished:
            return 0
        self.reported[unit] = self.reported.get(unit, 0) + n
        return n

    def report(self, unit: int, n: int) -> None:
        if self.count(unit, n):
            self.on_items(n)

    def finish(self, unit: int, items: int) -> None:
        """``unit`` is done with ``items`` inputs: the bar gets what it had not been told."""
        self.finished.add(unit)
        self.on_items(items - self.reported.get(unit, 0))
