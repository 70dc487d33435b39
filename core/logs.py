"""Logging set-up shared by the commands: one readable line per event.

Information goes to standard output, warnings and errors to standard error (so ``2>errors.log`` keeps the
problems). Our packages log at INFO; third-party libraries (faiss's loader, timm's "Loaded ... from checkpoint",
...) only from WARNING up, unless ``--verbose``, which shows everything from DEBUG.
"""

from __future__ import annotations

import logging

OUR_PACKAGES = ("pros", "curation", "training", "downstream", "shards")


class _Below(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < self.level


def _handler(stderr: bool) -> logging.Handler:
    """Rich's aligned lines on a terminal; one plain, unwrapped line per record into files and pipes."""
    from rich.console import Console

    console = Console(stderr=stderr)
    if console.is_terminal:
        from rich.logging import RichHandler

        return RichHandler(console=console, show_path=False, rich_tracebacks=False, markup=False)
    handler = _ConsoleStream(console)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S"))
    return handler


class _ConsoleStream(logging.StreamHandler):  # type: ignore[type-arg]  # generic in typeshed, not at run time
    """A stream handler that writes to the console's file as it is now (test runners swap sys.stdout)."""

    def __init__(self, console: object) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = self.console.file  # type: ignore[attr-defined]
        super().emit(record)


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """``quiet`` (e.g. torchrun ranks other than 0): our packages too log only warnings and errors."""
    to_stdout = _handler(stderr=False)
    to_stdout.addFilter(_Below(logging.WARNING))
    to_stderr = _handler(stderr=True)
    to_stderr.setLevel(logging.WARNING)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[to_stdout, to_stderr],
        force=True,
    )
    ours = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    for name in OUR_PACKAGES:
        logging.getLogger(name).setLevel(ours)
