"""What a read stages for each chunk: its hashed rows, sealed, and which identifiers they carry.

Rows of str (:class:`fbsync.identity.HashedBatch`) are fingerprinted and encrypted by
:meth:`fbsync.state.crypto.RowCipher.pairs`.  A chunk hashed column-wise
(:class:`fbsync.sources.columnar.Block`, a COPY read whose rows need nothing but hashing) goes from its
64-byte fields to sealed rows in the C module (:meth:`~fbsync.state.crypto.RowCipher.seal_columns`)
without a Python object per row: on a 1 M-row, 7-key plan that bookkeeping (a tuple of seven str
per row, the message joined and encoded, a pair per row) cost more than the encryption.

The match-rate insight counts, for the rows staged, which identifiers each carries: a pattern of
booleans in schema order, a few distinct patterns however many rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from operator import itemgetter

from .sources.columnar import Block
from .state.crypto import RowCipher
from .state.staging import Staging

Patterns = Counter[tuple[bool, ...]]


class Sealer:
    """Seals column-wise hashed chunks in a thread, one chunk behind the read, and stages them in order in
    the caller's thread.  The C module releases the GIL while it seals, so on two cores the encryption of
    chunk n overlaps the reading and hashing of chunk n + 1 (a plan is otherwise bound by the GIL its
    Python parts share).  Use as a context manager: leaving it stages the last chunk (not on an error)."""

    def __init__(self, cipher: RowCipher, stg: Staging, patterns: Patterns) -> None:
        self.cipher, self.stg, self.patterns = cipher, stg, patterns
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fbsync-seal")
        self._pending: Future[tuple[bytes, bytes, bytes]] | None = None

    def add(self, block: Block) -> int:
        """Seal and stage a chunk's kept rows (staged by the next call or on leaving); count their patterns.
        Returns how many rows."""
        rows = block.written_rows
        if rows:
            self.patterns.update(block.patterns())
            sealing = self._pool.submit(self.cipher.seal_columns, block.schema, block.fields, block.keep, rows)
            self._stage()
            self._pending = sealing
        return rows

    def _stage(self) -> None:
        if self._pending is not None:
            sealed, self._pending = self._pending, None
            self.stg.add_sealed(*sealed.result())

    def __enter__(self) -> Sealer:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                self._stage()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def patterns_of_rows(
    patterns: Patterns, schema: Sequence[str], keys: Mapping[str, str], rows: Sequence[tuple[str, ...]]
) -> None:
    """Count, for the rows about to be staged, which identifiers each carries (booleans in schema order)."""
    at = [i for i, k in enumerate(schema) if k in keys]
    if not at or not rows:
        return
    if len(at) == 1:
        i = at[0]
        patterns[(True,)] += sum(1 for r in rows if r[i])
        return
    get = itemgetter(*at)
    patterns.update(tuple(map(bool, get(r))) for r in rows)


def cover(patterns: Patterns, keys: Sequence[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Per identifier: the rows carrying it, and the rows it alone identifies (no other key on the row)."""
    carrying: Counter[str] = Counter()
    alone: Counter[str] = Counter()
    for pattern, n in patterns.items():
        present = [k for k, p in zip(keys, pattern) if p]
        carrying.update(dict.fromkeys(present, n))
        if len(present) == 1:
            alone[present[0]] += n
    return {k: carrying[k] for k in keys if carrying[k]}, {k: alone[k] for k in keys if alone[k]}
