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
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing import shared_memory
from typing import Iterable, Iterator, Mapping, NamedTuple, Sequence, Union

from fbsync.identity.batch import Column, HashedBatch, _as_list, finish, hash_column, hash_columns
from fbsync.identity.geo import default_region

Columns = Mapping[str, Sequence[object]]
Packed = Union[tuple[str, int], list[object]]  # (shared-memory name, bytes) or the values
#: Keys whose values are nearly all distinct: hashed in the workers.
WORKER_KEYS = frozenset({"EMAIL", "PHONE", "MADID", "EXTERN_ID"})


class _Job(NamedTuple):
    number: int  # chunk number
    piece: dict[str, list[object]]
    work: Future | HashedBatch  # a pool job, or the slice already hashed here
    sent: tuple[Packed, ...] = ()  # what went to the pool (to free if never read)


def _put(text: str) -> tuple[str, int]:
    """Copy ``text`` into a new shared-memory block (0600, RAM); the reader unlinks it."""
    data = text.encode("utf-8", "surrogatepass")
    block = shared_memory.SharedMemory(create=True, size=max(1, len(data)))
    try:
        block.buf[: len(data)] = data
        return block.name, len(data)
    finally:
        block.close()


def _take(ref: tuple[str, int]) -> str:
    """Read and remove a block written by :func:`_put`."""
    block = shared_memory.SharedMemory(name=ref[0])
    try:
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
    """Newline-free strings travel as one shared-memory block; anything else is pickled."""
    if values and set(map(type, values)) <= {str}:
        joined = "\n".join(values)  # type: ignore[arg-type]
        if joined.count("\n") == len(values) - 1:
            return _put(joined)
    return values


def unpack(packed: Packed, size: int) -> list[object]:
    """Inverse of :func:`pack` for ``size`` values (frees the block)."""
    if isinstance(packed, list):
        return packed
    return _take(packed).split("\n")  # type: ignore[arg-type]


def _work(packed: dict[str, Packed], size: int, region: str | None) -> dict[str, tuple[Packed, dict[int, str]]]:
    """In a worker: hash some columns of one slice; values go back packed."""
    result = {}
    for key, values in packed.items():
        out, bad = hash_column(key, unpack(values, size), region)
        result[key] = (pack(out), bad)  # type: ignore[arg-type]
    return result


def _slices(columns: Columns, size: int) -> Iterator[dict[str, list[object]]]:
    lists = {key: _as_list(values) for key, values in columns.items()}
    total = len(next(iter(lists.values()))) if lists else 0
    for start in range(0, max(total, 1), size):
        yield {key: values[start:start + size] for key, values in lists.items()}


def _merge(batches: Iterable[HashedBatch]) -> HashedBatch:
    return HashedBatch.concat(batches)


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

    def __init__(self, workers: int | None = None, slice_rows: int = 25_000, steal: bool = True) -> None:
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
        if not self.steal:
            return False
        in_flight = sum(1 for job in pending if isinstance(job.work, Future) and not job.work.done())
        return in_flight > self.workers - 1  # one queued per pool process keeps it fed

    def _start(self, number: int, piece: dict[str, list[object]], region: str | None,
               pending: deque[_Job]) -> _Job:
        heavy = {k: v for k, v in piece.items() if k in WORKER_KEYS}
        if self.workers == 1 or not heavy or self._pool_busy(pending):
            return _Job(number, piece, finish(*hash_columns(piece, region)))
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.workers - 1 if self.steal else self.workers)
        size = len(next(iter(piece.values())))
        packed = {k: pack(v) for k, v in heavy.items()}
        return _Job(number, piece, self._pool.submit(_work, packed, size, region), tuple(packed.values()))

    @staticmethod
    def _result(job: _Job, region: str | None) -> HashedBatch:
        if isinstance(job.work, HashedBatch):
            return job.work
        size = len(next(iter(job.piece.values())))
        done: dict[str, Column] = {key: (unpack(out, size), bad) for key, (out, bad) in job.work.result().items()}
        return finish(*hash_columns(job.piece, region, done))

    @staticmethod
    def _discard(job: _Job) -> None:
        """Free the shared memory of a job whose result will not be read."""
        if not isinstance(job.work, Future):
            return
        job.work.cancel()
        try:
            outputs = [out for out, _ in job.work.result().values()]
        except BaseException:  # noqa: BLE001 - cancelled or failed: the inputs may be left
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
        try:
            for number, chunk in enumerate(chunks):
                slices = list(_slices(chunk, self.slice_rows))
                expected[number] = len(slices)
                for piece in slices:
                    pending.append(self._start(number, piece, region, pending))
                    while pending and (len(pending) > 2 * self.workers + 2 or _ready(pending[0])):
                        yield from self._collect(pending.popleft(), region, parts, expected)
            while pending:
                yield from self._collect(pending.popleft(), region, parts, expected)
        finally:
            while pending:  # stopped early (error, or the caller broke out of the loop)
                self._discard(pending.popleft())

    @classmethod
    def _collect(cls, job: _Job, region: str | None, parts: dict[int, list[HashedBatch]],
                 expected: dict[int, int]) -> Iterator[HashedBatch]:
        number = job.number
        bucket = parts.setdefault(number, [])
        bucket.append(cls._result(job, region))
        if len(bucket) == expected[number]:
            del parts[number], expected[number]
            yield _merge(bucket)

    def hash_batch(self, columns: Columns, default_country: str | None = None) -> HashedBatch:
        """Same result as :func:`fbsync.identity.hash_batch`, computed with the workers."""
        return _merge(self.imap([columns], default_country))


def _ready(job: _Job) -> bool:
    return not isinstance(job.work, Future) or job.work.done()


def hash_batch_parallel(columns: Columns, default_country: str | None = None, *,
                        workers: int | None = None, slice_rows: int = 25_000) -> HashedBatch:
    """One-shot :meth:`Engine.hash_batch` (starts and stops a pool; reuse an Engine for many chunks)."""
    with Engine(workers=workers, slice_rows=slice_rows) as engine:
        return engine.hash_batch(columns, default_country)
