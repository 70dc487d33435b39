"""Read a sequence of streams in one background thread that runs ahead of the consumer, across stream boundaries.

A unit's decoded images are one stream. With a thread per unit, the detector would wait at every unit start until the
first batch was decoded; one thread over all units keeps decoding the next unit while the current one is still being
detected and written. Decoders and onnxruntime release the GIL, so the two really run at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class _StreamEnd:
    error: BaseException | None  # what ended the stream early, re-raised in the consumer


class ReadAhead(Generic[T]):
    """Open and iterate streams in order in a thread, at most ``depth`` elements ahead of the consumer.

    ``openers`` make the streams, one call each, in the thread. The consumer takes the streams in the same order with
    ``next_stream()``; a stream that failed to open or raised re-raises its error there, and the thread goes on with
    the next one. Use as a context manager: leaving it stops the thread, and an unfinished stream is closed without
    finishing (a decode stage then commits nothing for that unit).
    """

    def __init__(self, openers: Iterable[Callable[[], Iterator[T]]], depth: int) -> None:
        self._buffer: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, args=(iter(openers),), name="curate-reader", daemon=True)
        self._thread.start()

    def next_stream(self) -> ConsumedStream[T]:
        return ConsumedStream(self)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()

    def _produce(self, openers: Iterator[Callable[[], Iterator[T]]]) -> None:
        for open_stream in openers:
            if self._stop.is_set():
                return
            end = _StreamEnd(None)
            stream: Iterator[T] = iter(())
            try:
                stream = open_stream()
                for element in stream:
                    if not self._put(element):
                        return
            except BaseException as err:  # handed to the consumer of this stream
                end = _StreamEnd(err)
            finally:
                if self._stop.is_set():
                    _close(stream)
            if not self._put(end):
                return

    def _put(self, element: object) -> bool:
        while not self._stop.is_set():
            try:
                self._buffer.put(element, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _get(self) -> object:
        while True:
            try:
                return self._buffer.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not self._thread.is_alive() and self._buffer.empty():
                    raise RuntimeError("the curate reader thread stopped before its streams ended") from None


class ConsumedStream(Generic[T]):
    """The consumer's side of one stream of a ``ReadAhead``."""

    def __init__(self, source: ReadAhead[T]) -> None:
        self._source = source
        self._ended = False

    def __iter__(self) -> ConsumedStream[T]:
        return self

    def __next__(self) -> T:
        if self._ended:
            raise StopIteration
        element = self._source._get()
        if isinstance(element, _StreamEnd):
            self._ended = True
            if element.error is not None:
                raise element.error
            raise StopIteration
        return element  # type: ignore[return-value]

    def skip_rest(self) -> None:
        """Let the rest of this stream go by, so that the next ``next_stream()`` starts at the next stream.

        The thread still reads the rest (a decode stage then commits the unit's decoding, which a rerun reuses)."""
        while not self._ended:
            try:
                next(self)
            except StopIteration:
                return
            except Exception:  # the stream's own failure; the consumer has already given up on it
                return


def _close(stream: Iterator[object]) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()
