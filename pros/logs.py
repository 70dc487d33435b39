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


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """``quiet`` (e.g. torchrun ranks other than 0): our packages too log only warnings and errors."""
    from rich.console import Console
    from rich.logging import RichHandler

    to_stdout = RichHandler(console=Console(), show_path=False, rich_tracebacks=False, markup=False)
    to_stdout.addFilter(_Below(logging.WARNING))
    to_stderr = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False, markup=False,
                            level=logging.WARNING)
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
