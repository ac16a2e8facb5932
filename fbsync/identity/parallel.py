"""Use every core: :class:`Engine` hashes chunks with worker processes, in input order.

:func:`fbsync.identity.batch.hash_batch` stays single-process and deterministic.
The engine cuts each chunk into slices.  For a slice sent to the pool, the columns
of nearly unique values (EMAIL, PHONE, MADID, EXTERN_ID: the costly per-value
work) travel as one newline-joined shared-memory block per column (a pickled list
through a pipe costs the main process more than the hashing saves), while the
main process hashes the low-cardinality columns (names, cities, ZIPs, countries)
through its memo and builds the rows.  When the pool is busy the main process
hashes whole slices itself.  Results are exactly ``hash_batch``'s.

Shared memory holds raw identifiers for a few milliseconds; every block is
unlinked by its reader, and by the engine if a run stops early.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import resource_tracker, shared_memory
from typing import NamedTuple

from fbsync.identity._hotpath import gc_paused
from fbsync.identity.batch import Column, HashedBatch, _as_list, finish, hash_column, hash_columns, tally
from fbsync.identity.geo import default_region
from fbsync.identity.keys import DISTINCT

Columns = Mapping[str, Sequence[object]]
Packed = tuple[str, int] | list[object]  # (shared-memory name, bytes) or the values
#: Keys whose values are nearly all distinct: hashed in the workers.
WORKER_KEYS: frozenset[str] = DISTINCT
#: Pool jobs queued per pool process before this process hashes a slice itself: enough
#: that the pool does not run dry while this process is busy (measured best at 3-4).
QUEUED_PER_PROCESS = 3
_NOT_STARTED = HashedBatch(schema=())


class _Job(NamedTuple):
    number: int  # chunk number
    chunk: dict[str, list[object]]  # the whole chunk's columns
    span: tuple[int, int]  # this slice's rows in the chunk
    work: Future | HashedBatch  # a pool job, or the slice already hashed here
    sent: tuple[Packed, ...] = ()  # what went to the pool (to free if never read)

    def piece(self, keys: Iterable[str] | None = None) -> dict[str, list[object]]:
        """The slice's columns (all, or ``keys``): made when needed, so no long-lived copies."""
        start, stop = self.span
        whole = start == 0 and stop == len(next(iter(self.chunk.values())))
        return {k: v if whole else v[start:stop] for k, v in self.chunk.items() if keys is None or k in keys}


def _put(text: str) -> tuple[str, int]:
    """Copy ``text`` into a new shared-memory block (0600, RAM); the reader unlinks it."""
    data = text.encode("utf-8", "surrogatepass")
    block = shared_memory.SharedMemory(create=True, size=max(1, len(data)))
    try:
        assert block.buf is not None, "an open block has a buffer (None only after close())"
        block.buf[: len(data)] = data
        return block.name, len(data)
    finally:
        block.close()


def _take(ref: tuple[str, int]) -> str:
    """Read and remove a block written by :func:`_put`."""
    block = shared_memory.SharedMemory(name=ref[0])
    try:
        assert block.buf is not None, "an open block has a buffer (None only after close())"
        return bytes(block.buf[: ref[1]]).decode("utf-8", "surrogatepass")
    finally:
        block.close()
        block.unlink()


def _free(packed: Packed) -> None:
    """Remove a block nobody will read (best effort: it may be gone already)."""
    if isinstance(packed, tuple):
        try:
            block = shared_memory.SharedMemory(name=packed[0])
        except FileNotFoundError:
            return
        block.close()
        block.unlink()


def pack(values: list[object]) -> Packed:
    """Strings travel as one newline-joined shared-memory block; anything else is pickled.

    No newline check here (it costs as much as the join): a cell holding a newline
    makes the block split into more lines than values, and :func:`unpack` says so.
    """
    try:
        joined = "\n".join(values)  # type: ignore[arg-type]
    except TypeError:  # None, numbers, dates…: the list is pickled
        return values
    return _put(joined)


def unpack(packed: Packed, size: int) -> list[object] | None:
    """Inverse of :func:`pack` for ``size`` values (frees the block); None if a cell held a newline."""
    if isinstance(packed, list):
        return packed
    values: list[object] = _take(packed).split("\n")  # type: ignore[assignment]
    return values if len(values) == size else None


def _work(
    packed: dict[str, Packed], size: int, region: str | None
) -> tuple[dict[str, tuple[Packed, dict[int, str]]], HashedBatch]:
    """In a worker: hash some columns of one slice; values go back packed, with their counters.

    A column whose block did not split into ``size`` values (a cell holds a
    newline) is left out: the main process hashes it from its own list.
    """
    result: dict[str, tuple[Packed, dict[int, str]]] = {}
    counted = HashedBatch(schema=())
    for key, values in packed.items():
        plain = unpack(values, size)
        if plain is None:
            continue
        out, bad = hash_column(key, plain, region)
        tally(counted, key, plain, bad)
        # Outputs hold no newline: hashes, lowercase UUIDs, or EXTERN_IDs (trimmed inputs, which had none).
        result[key] = (_put("\n".join(out)), bad)
    return result, counted


def _spans(chunk: dict[str, list[object]], size: int) -> list[tuple[int, int]]:
    total = len(next(iter(chunk.values()))) if chunk else 0
    return [(start, min(start + size, total)) for start in range(0, max(total, 1), size)]


def _absorb(parts: list[HashedBatch]) -> HashedBatch:
    """One batch from the slices of one chunk, reusing the first slice's lists (engine-private)."""
    for part in parts[1:]:
        parts[0].absorb(part)
    return parts[0]


class Engine:
    """Hash with ``workers`` cores: ``workers - 1`` pool processes plus this one.

    The main process is a worker too: whenever the pool already has enough work
    queued it hashes the next slice itself instead of waiting, so the split
    adapts to the data (email-only slices are cheap to hand over, 7-key slices
    less so).  ``Engine(workers=1)`` never starts a process.

    >>> with Engine(workers=2) as engine:                      # doctest: +SKIP
    ...     for batch in engine.imap(chunks, default_country="FR"):
    ...         send(batch.rows)
    """

    def __init__(self, workers: int | None = None, slice_rows: int = 50_000, steal: bool = True) -> None:
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        self.slice_rows = slice_rows
        self.steal = steal
        self._pool: Executor | None = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the worker processes."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _pool_busy(self, pending: deque[_Job]) -> bool:
        """True when the pool has enough queued to stay busy while this process hashes a slice."""
        if not self.steal:
            return False
        in_flight = sum(1 for job in pending if isinstance(job.work, Future) and not job.work.done())
        return in_flight > QUEUED_PER_PROCESS * (self.workers - 1)

    def _start(
        self,
        number: int,
        chunk: dict[str, list[object]],
        span: tuple[int, int],
        region: str | None,
        pending: deque[_Job],
    ) -> _Job:
        job = _Job(number, chunk, span, _NOT_STARTED)
        heavy = [k for k in chunk if k in WORKER_KEYS]
        if self.workers == 1 or not heavy or self._pool_busy(pending):
            with gc_paused():  # the slice's copies die here, before the collector sees them
                columns = hash_columns(job.piece(), region)
            return job._replace(work=finish(*columns))  # rows are built with the collector on (see finish)
        with gc_paused():
            if self._pool is None:
                # Workers must share this process's resource tracker; otherwise each starts its own,
                # and a block created on one side and unlinked on the other is "leaked" at exit.
                resource_tracker.ensure_running()
                self._pool = ProcessPoolExecutor(max_workers=self.workers - 1 if self.steal else self.workers)
            packed = {k: pack(v) for k, v in job.piece(heavy).items()}
            size = span[1] - span[0]
            return job._replace(work=self._pool.submit(_work, packed, size, region), sent=tuple(packed.values()))

    @staticmethod
    def _result(job: _Job, region: str | None) -> HashedBatch:
        if isinstance(job.work, HashedBatch):
            return job.work
        hashed, counted = job.work.result()
        size = job.span[1] - job.span[0]
        with gc_paused():  # unpacked hashes and slices are dropped before the collector runs
            done: dict[str, Column] = {
                key: (unpack(out, size), bad)  # type: ignore[misc]
                for key, (out, bad) in hashed.items()
            }
            rest = job.piece([key for key in job.chunk if key not in done])
            columns = hash_columns(rest, region, done, counted)
        return finish(*columns)

    @staticmethod
    def _discard(job: _Job) -> None:
        """Free the shared memory of a job whose result will not be read."""
        if not isinstance(job.work, Future):
            return
        job.work.cancel()
        try:
            outputs = [out for out, _ in job.work.result()[0].values()]
        except BaseException:
            outputs = list(job.sent)
        for packed in outputs:
            _free(packed)

    def imap(self, chunks: Iterable[Columns], default_country: str | None = None) -> Iterator[HashedBatch]:
        """Hash each chunk (a columns mapping); yield one :class:`HashedBatch` per chunk, in order.

        Chunks are cut into slices of ``slice_rows``; reading the next chunk,
        hashing and sending overlap.  Slices are collected in order, so chunks
        complete in order.
        """
        region = default_region(default_country)
        pending: deque[_Job] = deque()
        parts: dict[int, list[HashedBatch]] = {}
        expected: dict[int, int] = {}
        most = QUEUED_PER_PROCESS * self.workers + 2
        try:
            for number, columns in enumerate(chunks):
                chunk = {key: _as_list(values) for key, values in columns.items()}
                spans = _spans(chunk, self.slice_rows)
                expected[number] = len(spans)
                for span in spans:
                    pending.append(self._start(number, chunk, span, region, pending))
                    while pending and (len(pending) > most or _ready(pending[0])):
                        yield from self._collect(pending.popleft(), region, parts, expected)
            while pending:
                yield from self._collect(pending.popleft(), region, parts, expected)
        finally:
            while pending:  # stopped early (error, or the caller broke out of the loop)
                self._discard(pending.popleft())

    @classmethod
    def _collect(
        cls, job: _Job, region: str | None, parts: dict[int, list[HashedBatch]], expected: dict[int, int]
    ) -> Iterator[HashedBatch]:
        number = job.number
        bucket = parts.setdefault(number, [])
        bucket.append(cls._result(job, region))
        if len(bucket) == expected[number]:
            del parts[number], expected[number]
            yield _absorb(bucket)

    def hash_batch(self, columns: Columns, default_country: str | None = None) -> HashedBatch:
        """Same result as :func:`fbsync.identity.hash_batch`, computed with the workers."""
        return HashedBatch.concat(self.imap([columns], default_country))


def _ready(job: _Job) -> bool:
    return not isinstance(job.work, Future) or job.work.done()


def hash_batch_parallel(
    columns: Columns, default_country: str | None = None, *, workers: int | None = None, slice_rows: int = 50_000
) -> HashedBatch:
    """One-shot :meth:`Engine.hash_batch` (starts and stops a pool; reuse an Engine for many chunks)."""
    with Engine(workers=workers, slice_rows=slice_rows) as engine:
        return engine.hash_batch(columns, default_country)
