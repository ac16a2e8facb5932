"""Progress bars for long work (reading + hashing the CRM, uploading batches), on stderr, only on a terminal.

The sync calls ``progress(audience, phase, done, total)``; ``total`` is None while unknown
(reading a query streams it). Nothing is shown when stderr is not a terminal (cron, CI, pipes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

ProgressFn = Callable[[str, str, int, "int | None"], None]


@contextmanager
def terminal_progress(enabled: bool | None = None) -> Iterator[ProgressFn | None]:
    """A progress callback drawing rich bars (rows, batches, rate, ETA), or None when not on a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(f"{task.speed:,.0f} rows/s" if task.speed else "", style="progress.data.speed")

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[tuple[str, str], Any] = {}

    def update(audience: str, phase: str, done: int, total: int | None) -> None:
        key = (audience, phase)
        if key not in tasks:
            tasks[key] = bars.add_task(f"{audience}: {phase}", total=total)
        bars.update(tasks[key], completed=done, total=total)

    with bars:
        yield update
