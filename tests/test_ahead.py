"""Reading ahead in a thread (fbsync.sources.ahead): same items, errors where they were, sources closed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from fbsync.sources.ahead import ahead


class Source:
    """A generator-like source that records which thread read it and whether it was closed."""

    def __init__(self, n: int, fail_at: int | None = None, delay: float = 0.0) -> None:
        self.n, self.fail_at, self.delay = n, fail_at, delay
        self.threads: set[str] = set()
        self.closed = False
        self.produced = 0

    def __iter__(self) -> Iterator[int]:
        return self.gen()

    def gen(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                self.threads.add(threading.current_thread().name)
                if i == self.fail_at:
                    raise ValueError(f"item {i} is broken")
                time.sleep(self.delay)
                self.produced += 1
                yield i
        finally:
            self.closed = True


def test_same_items_in_order_read_in_another_thread() -> None:
    src = Source(50)
    assert list(ahead(src, depth=3)) == list(range(50))
    assert src.threads == {"fbsync-read-ahead"} and src.closed


def test_an_error_of_the_source_reaches_the_caller_after_the_items_before_it() -> None:
    got: list[int] = []
    with pytest.raises(ValueError, match="item 7 is broken"):
        for item in ahead(Source(20, fail_at=7)):
            got.append(item)
    assert got == list(range(7))


def test_a_caller_that_stops_early_stops_and_closes_the_source() -> None:
    src = Source(1000, delay=0.001)
    items = ahead(src, depth=2)
    assert next(items) == 0
    items.close()
    assert src.closed
    assert src.produced <= 4  # the item taken, the queue's two, the one being produced


def test_an_error_in_the_caller_stops_the_thread() -> None:
    src = Source(1000, delay=0.001)
    with pytest.raises(RuntimeError):
        for item in ahead(src, depth=2):
            if item == 3:
                raise RuntimeError("the caller failed")
    assert src.closed and src.produced < 10
    assert not [t for t in threading.enumerate() if t.name == "fbsync-read-ahead"]


def test_depth_zero_reads_in_the_callers_thread() -> None:
    src = Source(5)
    assert list(ahead(src, depth=0)) == [0, 1, 2, 3, 4]
    assert src.threads == {threading.current_thread().name}
