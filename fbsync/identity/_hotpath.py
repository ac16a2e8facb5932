"""Two helpers of the identity engine's hot path (stdlib only)."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch works on temporary lists.

    Normalizing a slice makes lists of tens of thousands of values that die
    before the call returns, and no reference cycle.  With the collector on,
    every 700 allocations it would scan the young lists still alive, and now
    and then every container of the process.  Rows, which outlive the call,
    are built with the collector on (:func:`fbsync.identity.batch.finish`).
    Nested use is a no-op; the collector is back on (if it was) when the block ends.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def positions(items: Sequence[object], item: object) -> list[int]:
    """Indexes of ``item`` in ``items``: a C-speed scan per hit, for the few blanks and drops."""
    found: list[int] = []
    index = -1
    try:
        while True:
            index = items.index(item, index + 1)
            found.append(index)
    except ValueError:
        return found
