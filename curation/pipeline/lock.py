"""One writer per output directory: a second ``pros curate`` on the same ``--out`` stops with a clear message."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from core.errors import UserError


@contextlib.contextmanager
def run_lock(work: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``work/.lock`` for the duration; the OS releases it if the process dies."""
    import fcntl  # POSIX only: imported where a run takes its lock, so the package imports everywhere

    work.mkdir(parents=True, exist_ok=True)
    path = work / ".lock"
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"another pros curate is writing {work.parent} (it holds {path}); wait for it to finish, or stop it "
                "and run again to resume"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
