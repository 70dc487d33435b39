"""Progress of a curation phase over all the run's images (not one per worker), labelled with what the phase does.

On a terminal: a rich bar with images/s and the time left. Elsewhere (a log file, a pipe, CI): no bar, only a plain
line now and then -- when another tenth of the images is done, at most one such line per ``MIN_GAP_S``; after
``EVERY_S`` without a line in any case -- and one line when the phase ends, so a log never fills with redrawn bars.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from curation.pipeline.graph import stage_words

EVERY_S = 30.0
MIN_GAP_S = 10.0
STEPS = 10  # a line per tenth of the images, at most one per MIN_GAP_S



def phase_label(stages: Sequence[str]) -> str:
    """``decode, embed, detect faces`` for the stages a phase runs, in pipeline order."""
    return ", ".join(stage_words(stages)) or "replay"


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- img/s" if speed is None else f"{speed:,.1f} img/s", style="progress.data.speed")


class ImageProgress:
    """``with ImageProgress(total, console, label) as bar: bar.advance(n)``; total None shows a bar without an end."""

    def __init__(self, total: int | None, console: Console | None = None, description: str = "curating") -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("images"),
            RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, refresh_per_second=4, speed_estimate_period=60,
        )
        self.task = self.progress.add_task(description, total=total)

    def __enter__(self) -> ImageProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def advance(self, n: int) -> None:
        if n:
            self.progress.advance(self.task, n)

    @property
    def completed(self) -> int:
        return int(self.progress.tasks[0].completed)


class PlainProgress:
    """The same interface as ImageProgress for a console that is not a terminal: a few plain lines."""

    def __init__(self, total: int | None, console: Console, description: str = "curating",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.console, self.description, self.clock = total, console, description, clock
        self.completed = 0
        self.started = self.last_line = clock()
        self.step = 0  # tenths of ``total`` already reported

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self._line(final=True)

    def advance(self, n: int) -> None:
        if not n:
            return
        self.completed += n
        now = self.clock()
        step = STEPS * self.completed // self.total if self.total else 0
        if (step > self.step and now - self.last_line >= MIN_GAP_S) or now - self.last_line >= EVERY_S:
            self.step = step
            self._line()

    def _line(self, final: bool = False) -> None:
        now = self.clock()
        self.last_line = now
        elapsed = now - self.started
        rate = self.completed / elapsed if elapsed > 0 else 0.0
        done = f"{self.completed}/{self.total}" if self.total else str(self.completed)
        percent = f" ({100 * self.completed // self.total}%)" if self.total else ""
        text = f"{self.description}: {done} images{percent}, {rate:,.1f} img/s, {_clock(elapsed)} elapsed"
        if final:
            text = f"{self.description}: done, {done} images in {_clock(elapsed)} ({rate:,.1f} img/s)"
        elif self.total and rate > 0:
            text += f", ETA {_clock((self.total - self.completed) / rate)}"
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def open_progress(total: int | None, console: Console, description: str) -> ImageProgress | PlainProgress:
    """A bar on a terminal, else periodic plain lines."""
    if console.is_terminal:
        return ImageProgress(total, console, description)
    return PlainProgress(total, console, description)
