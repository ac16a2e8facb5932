"""Reading ahead: the next items of a slow source produced in a thread while the caller works on the last.

A CRM read through COPY spends its time in psycopg and pyarrow, and the hashing and encryption of what it
read in the C module: both release the GIL, so on two cores the read of chunk n + 1 overlaps the hashing
of chunk n.  At most ``depth`` items wait in the queue (memory stays bounded); the source is iterated,
and closed, in the thread alone (a database connection is used by one thread at a time).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from queue import Full, Queue
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def ahead(source: Iterable[T], depth: int = 2) -> Iterator[T]:
    """The items of ``source``, produced in a thread up to ``depth`` ahead of the caller.

    An error of the source is raised here, in the caller, where it would have been raised without the
    thread; when the caller stops early (an error of its own, or it closes this generator), the thread
    stops after the item it is producing and closes the source.
    """
    if depth < 1:
        yield from source
        return
    items: Queue[object] = Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except Full:  # the caller is busy, or gone
                continue
        return False

    def produce() -> None:
        it = iter(source)
        try:
            for item in it:
                if not put(item):
                    break
        except BaseException as exc:  # handed to the caller
            failure.append(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    failure.append(exc)
            put(_DONE)

    thread = threading.Thread(target=produce, name="fbsync-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                break
            yield item  # type: ignore[misc]
        if failure:
            raise failure[0]
    finally:
        stop.set()
        thread.join()
