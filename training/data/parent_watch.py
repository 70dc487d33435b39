"""A DataLoader worker that outlives its training process is an orphan spinning on the shards: make it die with it.

On Linux the kernel does it (``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the worker gets SIGKILL when its parent exits,
even by SIGKILL, and even while the worker is deep inside a read). Elsewhere a daemon thread polls the parent.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0


def exit_with_parent() -> str:
    """Arrange for this process to end when its parent does; returns how ("prctl" or "watchdog")."""
    parent = os.getppid()
    if sys.platform.startswith("linux") and _set_parent_death_signal():
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)
        return "prctl"
    threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()
    return "watchdog"


def _set_parent_death_signal() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    os._exit(1)
