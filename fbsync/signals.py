"""Stopping cleanly on SIGTERM/SIGINT: the first signal asks, a second one acts as by default.

Used by ``fbsync schedule`` (its loop sees the signal and stops the scheduler) and by the commands that
send (``sync``, ``upload``: the stop event is set, the batches in flight finish and are recorded, the run is
recorded as interrupted and the command exits 130).  Outside the main thread nothing is installed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def first_signal(on_signal: Callable[[int], None] | None = None) -> Iterator[list[int]]:
    """Note SIGTERM/SIGINT in the list yielded (and call ``on_signal``); the handlers are restored at once,
    so a second signal interrupts as usual (KeyboardInterrupt for SIGINT)."""
    got: list[int] = []
    old: dict[int, Any] = {}

    def restore() -> None:
        while old:
            signal.signal(*old.popitem())

    def handle(signum: int, _frame: FrameType | None) -> None:
        got.append(signum)
        restore()
        if on_signal is not None:
            on_signal(signum)

    if threading.current_thread() is threading.main_thread():
        old.update({sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)})
    try:
        yield got
    finally:
        restore()
