"""Waiting for the next batch without hanging: a stop signal ends the wait, a stalled stream ends the run with a
message naming the shards and the fix (instead of a DataLoader traceback or an endless loop).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypeVar

from core.errors import UserError
from shards.stall import DataStalled

T = TypeVar("T")


class StopWhileWaiting(BaseException):
    """Raised by a stop-signal handler while the loop waits for data. A BaseException, so that no ``except
    Exception`` in the data pipeline (DataLoader, shard reader) swallows it."""


class Stoppable(Protocol):
    waiting_for_data: bool


class DataStallError(UserError):
    """The training data stopped arriving (see ``shards.stall``)."""


def next_batch(data: Iterator[T], stop: Stoppable) -> T | None:
    """The next batch of ``data``, or None when a stop signal arrived while waiting for it.

    Raises DataStallError when the stream stalled: a worker's (or this process's) ``DataStalled``, or a DataLoader
    that got nothing within its timeout."""
    try:
        stop.waiting_for_data = True
        try:
            return next(data)
        finally:
            stop.waiting_for_data = False
    except StopWhileWaiting:
        return None
    except DataStalled as err:
        raise DataStallError(stall_reason(err)) from None
    except RuntimeError as err:
        if "DataLoader timed out" in str(err):
            raise DataStallError(
                f"{err}: no batch arrived (data.stall_timeout_s); the data workers are stuck reading the shards. "
                "Check that they are on reachable storage and readable, or raise data.stall_timeout_s"
            ) from None
        raise


def stall_reason(err: Any) -> str:
    """The message of a DataStalled, also when a DataLoader worker re-raised it wrapped in its traceback text."""
    text = str(err).strip()
    if "Traceback" not in text:
        return text
    last = text.splitlines()[-1]
    return last.partition(f"{DataStalled.__name__}: ")[2] or last
