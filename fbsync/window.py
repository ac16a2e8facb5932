"""Member batches in flight together, acknowledged in the caller's thread.

The applier prepares batches (reading the staged rows, decrypting them) in its own thread while up to
``width()`` earlier batches wait on Meta in worker threads; the governor says the width before each
send, so it drops back to one as soon as usage rises or Meta throttles.  Every acknowledgement, and
so every ledger write, happens here in the caller's thread, in the order the answers come back.

Rules kept for the ledger's crash guarantees (docs/uploads.md):

* at most ``cap`` batches are ever in flight, and nothing is read ahead beyond the next batch, so a kill
  loses at most the batches in flight and memory does not grow with the audience;
* an ``alone`` batch (a replace's first and last) waits until nothing is in flight, and nothing starts
  until it is acknowledged;
* after a failure or a stop, nothing new starts: the batches in flight finish and are recorded, then
  the first error is raised;
* a batch the ``split`` callback divides (Meta found it too big) is sent again as its parts, first.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from queue import SimpleQueue
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Item(Generic[T]):
    """One batch to send: its payload, whether it is the session's last, whether it must go alone."""

    value: T
    last: bool = False
    alone: bool = False


Send = Callable[[Item[T]], R]
Record = Callable[[Item[T], R], None]
Split = Callable[[Item[T], BaseException], "Sequence[Item[T]] | None"]


class _Queue(Generic[T]):
    """The items still to send: parts of a split batch first, then the source, pulled one at a time."""

    def __init__(self, items: Iterable[Item[T]]) -> None:
        self.front: deque[Item[T]] = deque()
        self.source: Iterator[Item[T]] = iter(items)

    def peek(self) -> Item[T] | None:
        if not self.front:
            nxt = next(self.source, None)
            if nxt is None:
                return None
            self.front.append(nxt)
        return self.front[0]

    def pop(self) -> Item[T]:
        return self.front.popleft()

    def push(self, parts: Sequence[Item[T]]) -> None:
        self.front.extendleft(reversed(parts))


def send_all(
    items: Iterable[Item[T]],
    send: Send[T, R],
    record: Record[T, R],
    *,
    cap: int = 1,
    width: Callable[[], int] = lambda: 1,
    check: Callable[[], None] = lambda: None,
    split: Split[T] | None = None,
) -> int:
    """Send every item and record each acknowledged one; returns the most batches that were in flight at once.

    ``check`` runs before each send and may raise (a stop asked for): then nothing new starts, the batches in
    flight are recorded, and its error is raised.  With ``cap`` 1 everything runs in the caller's thread.
    """
    queue: _Queue[T] = _Queue(items)
    if cap <= 1:
        return _one_by_one(queue, send, record, check, split)
    failure: BaseException | None = None
    inflight: dict[int, Item[T]] = {}  # by id(): two batches may be equal
    peak = 0
    workers = _Workers(cap, send)
    try:
        while True:
            while failure is None:
                try:
                    item = queue.peek()
                    if item is None or _must_wait(item, inflight, min(cap, max(1, width()))):
                        break
                    check()
                except Exception as exc:  # a stop, or the source failing: drain, then raise it
                    failure = exc
                    break
                inflight[id(item)] = queue.pop()
                workers.submit(item)
                peak = max(peak, len(inflight))
            if not inflight:
                break
            item, resp, error = workers.next_done()
            del inflight[id(item)]
            parts = split(item, error) if error is not None and split is not None and failure is None else None
            if parts:
                queue.push(parts)
            elif error is not None:
                failure = failure or error
            else:
                try:
                    record(item, resp)  # type: ignore[arg-type]  # resp is set when error is None
                except Exception as err:  # the ledger refused: stop, keep recording what else lands
                    failure = failure or err
    finally:
        workers.close()
    if failure is not None:
        raise failure
    return peak


class _Workers(Generic[T, R]):
    """Daemon threads sending items: a second Ctrl-C (KeyboardInterrupt in the caller) ends the process at
    once instead of waiting for Meta's answers (the ledger is exact under a kill anyway)."""

    def __init__(self, n: int, send: Send[T, R]) -> None:
        self.jobs: SimpleQueue[Item[T] | None] = SimpleQueue()
        self.done: SimpleQueue[tuple[Item[T], R | None, BaseException | None]] = SimpleQueue()
        self.send = send
        self.threads = [threading.Thread(target=self._run, name="fbsync-upload", daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def _run(self) -> None:
        while (item := self.jobs.get()) is not None:
            try:
                self.done.put((item, self.send(item), None))
            except BaseException as exc:  # handed to the caller's thread, which decides
                self.done.put((item, None, exc))

    def submit(self, item: Item[T]) -> None:
        self.jobs.put(item)

    def next_done(self) -> tuple[Item[T], R | None, BaseException | None]:
        return self.done.get()

    def close(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)


def _must_wait(item: Item[T], inflight: dict[int, Item[T]], width: int) -> bool:
    if item.alone or any(i.alone for i in inflight.values()):
        return bool(inflight)
    return len(inflight) >= width


def _one_by_one(
    queue: _Queue[T], send: Send[T, R], record: Record[T, R], check: Callable[[], None], split: Split[T] | None
) -> int:
    sent = 0
    while (item := queue.peek()) is not None:
        check()
        queue.pop()
        try:
            resp = send(item)
        except Exception as exc:
            parts = split(item, exc) if split is not None else None
            if not parts:
                raise
            queue.push(parts)
            continue
        record(item, resp)
        sent = 1
    return sent
