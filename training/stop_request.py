"""SIGTERM / SIGINT during training: finish the step, checkpoint, return; while waiting for data, stop at once."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from training.data.waiting import StopWhileWaiting

log = logging.getLogger("training.loop")  # the messages belong to the loop's log, as before the move


class StopRequest:
    """SIGTERM or SIGINT (SLURM pre-emption, Ctrl-C) asks the loop to finish its step, checkpoint and return.
    A second SIGINT interrupts at once."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.received: str | None = None
        self.previous: dict[int, Any] = {}
        self.waiting_for_data = False  # set by next_batch: a signal then ends the wait at once

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            self.previous = {sig: signal.signal(sig, self.handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        log.warning("%s received: stopping after this step with a checkpoint", self.received)
        if self.waiting_for_data:
            raise StopWhileWaiting(self.received)
