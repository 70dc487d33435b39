"""Noticing that a shard stream has stopped producing: no usable sample for too long, or every shard failing.

A resampled reader draws shards forever, so a directory of damaged shards would otherwise loop without end (and
without a word beyond one warning per draw). ``StallGuard`` is told of each usable sample and each failure and raises
``DataStalled`` with a message that names the shards and the fix. No torch here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence


class DataStalled(Exception):
    """A shard stream produced no usable sample for too long, or every one of its shards failed."""


def shard_list(urls: Sequence[str], shown: int = 3) -> str:
    names = ", ".join(urls[:shown])
    return f"{names} and {len(urls) - shown} more" if len(urls) > shown else names


class StallGuard:
    """Raises DataStalled from ``check`` / ``shard_failed`` once no ``progress`` came for ``timeout_s`` seconds
    (``None`` or 0: never), or when every distinct shard failed before giving a single sample."""

    def __init__(self, urls: Sequence[str], timeout_s: float | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.urls = list(urls)
        self.timeout_s = timeout_s or None
        self.clock = clock
        self.last_progress = clock()
        self.any_progress = False
        self.failed: set[str] = set()

    def progress(self) -> None:
        self.last_progress = self.clock()
        self.any_progress = True

    def check(self) -> None:
        if self.timeout_s is None:
            return
        waited = self.clock() - self.last_progress
        if waited > self.timeout_s:
            raise DataStalled(
                f"no usable sample for {waited:.0f} s (data.stall_timeout_s={self.timeout_s:g}) from the "
                f"{len(self.urls)} shard(s) {shard_list(self.urls)}: every sample read failed. Check them with "
                "`pros shards verify DIR`, rewrite them with `pros curate`, or raise data.stall_timeout_s if the "
                "storage is just slow"
            )

    def shard_failed(self, url: str, gave_samples: bool) -> None:
        if not gave_samples:
            self.failed.add(url)
        if not self.any_progress and len(self.failed) == len(set(self.urls)):
            raise DataStalled(
                f"every one of the {len(self.failed)} shard(s) {shard_list(self.urls)} failed before giving a "
                "sample (not tar archives, or damaged); check them with `pros shards verify DIR` and rewrite them "
                "with `pros curate`, or pass other shards"
            )
        self.check()
