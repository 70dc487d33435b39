"""One progress bar over all the run's images (not one per worker), with images/s and the time left."""

from __future__ import annotations

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


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- img/s" if speed is None else f"{speed:,.1f} img/s", style="progress.data.speed")


class ImageProgress:
    """``with ImageProgress(total, console) as bar: bar.advance(n)``; total None shows a bar without an end."""

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
