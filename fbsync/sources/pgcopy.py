"""Reading a segment from PostgreSQL at COPY speed: ``COPY (SELECT …) TO STDOUT WITH (FORMAT csv)`` through
psycopg's copy protocol, parsed by pyarrow's CSV reader in large blocks, in the same read-only transaction
as any other read (:meth:`fbsync.sources.crm.CrmSource.read_only`).

Taken only where the values come out exactly as the cursor gives them to fbsync's steps: text types
(``text``, ``varchar``, ``char``, ``citext``, ``name``), where COPY's CSV keeps the text as it is and tells
NULL (an unquoted empty field) from an empty string (``""``); and booleans, integers and ``numeric``,
turned back into ``bool``, ``int`` and ``Decimal`` as the cursor gives them (a consent flag, a lifetime
value).  A query with any other column type among those wanted (dates, floats, arrays, JSON…) reads
through the server-side cursor as before: COPY would turn an array into ``{a,b}``, a date into text
that depends on the server's DateStyle.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

#: PostgreSQL types whose COPY text is the value the cursor returns.
TEXT_TYPES = frozenset({"text", "character varying", "character", "citext", "name", "bpchar", "varchar"})
_BOOL = {"t": True, "f": False, None: None}
#: Other types, and how their COPY text becomes the value the cursor returns.
CONVERT: dict[str, Callable[[list[Any]], list[Any]]] = {
    "boolean": lambda values: [_BOOL[v] for v in values],
    **{t: (lambda values: [None if v is None else int(v) for v in values]) for t in ("smallint", "integer", "bigint")},
    "numeric": lambda values: [None if v is None else Decimal(v) for v in values],
}
BLOCK = 8 << 20


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _drained(copy: Any, target: int | None = None) -> Iterator[bytes]:
    """The copy's data in blocks of about ``target`` bytes.

    The server sends one message per row, and psycopg's iteration takes several Python calls for each
    (1 M rows: about a second of a thread holding the GIL the hashing needs).  Here libpq's buffered
    messages are taken in one tight loop, waiting on the socket only when libpq has nothing buffered,
    and joined; at the end the command's result is read as psycopg would and the copy marked finished.
    Falls back to psycopg's iteration when the copy object is not the one this was written against.
    """
    pgconn = getattr(copy, "_pgconn", None)
    if pgconn is None or getattr(copy, "_finished", None) is not False:
        yield from (bytes(block) for block in copy)
        return
    import select

    from psycopg import DatabaseError, pq

    target = target or BLOCK
    get, parts, size = pgconn.get_copy_data, [], 0
    while True:
        n, data = get(1)
        if n > 0:
            parts.append(data)
            size += n
            if size >= target:
                yield b"".join(parts)
                parts, size = [], 0
        elif n == 0:  # nothing buffered: wait for the server
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        else:
            break
    if parts:
        yield b"".join(parts)
    failed = None
    while (res := pgconn.get_result()) is not None:
        if res.status != pq.ExecStatus.COMMAND_OK:
            failed = failed or res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"the COPY failed"
    copy._finished = True
    if n == -2 or failed:
        raise DatabaseError((failed or pgconn.error_message or b"the COPY failed").decode("utf-8", "replace"))


class _Blocks(io.RawIOBase):
    """The copy's data blocks as a readable byte stream (what pyarrow reads)."""

    def __init__(self, blocks: Iterable[Any]) -> None:
        self._it = iter(blocks)
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = memoryview(bytes(next(self._it)))
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def usable(types: dict[str, str], wanted: Sequence[str]) -> list[tuple[str, str]] | None:
    """``(actual name, type)`` of each of ``wanted`` (case-insensitive) when COPY reads them all exactly."""
    by_lower = {n.lower(): n for n in types}
    names = [by_lower.get(c.lower()) for c in wanted]
    if any(n is None for n in names):
        return None
    if any(types[n].lower().removesuffix("[]") != types[n].lower() for n in names if n):  # arrays
        return None
    kinds = [(n, types[n].split("(")[0].strip().lower()) for n in names if n]
    if not all(k in TEXT_TYPES or k in CONVERT for _, k in kinds):
        return None
    return kinds


def chunks(
    raw_conn: Any,
    query: str,
    columns: Sequence[tuple[str, str]],
    wanted: Sequence[str],
    chunk: int,
    arrays: bool = False,
) -> Iterator[dict[str, Any]]:
    """``{wanted column: values}`` chunks of the query's rows, NULL as None, through COPY; ``columns`` are
    :func:`usable`'s (name, type).  With ``arrays``, text columns stay pyarrow string arrays."""
    names = [n for n, _ in columns]
    convert = [CONVERT.get(kind) for _, kind in columns]
    import pyarrow as pa
    import pyarrow.csv as pacsv

    fields = [f"f{i}" for i in range(len(names))]
    select = ", ".join(f"fbsync_q.{ident(n)}" for n in names)
    sql = f"COPY (SELECT {select} FROM ({query.strip().rstrip(';')}\n) AS fbsync_q) TO STDOUT WITH (FORMAT csv)"
    with raw_conn.cursor() as cur, cur.copy(sql) as copy:
        reader = pacsv.open_csv(
            io.BufferedReader(_Blocks(_drained(copy)), BLOCK),
            read_options=pacsv.ReadOptions(column_names=fields, block_size=BLOCK, use_threads=False),
            # ignore_empty_lines: a one-column row whose value is NULL is an empty line
            parse_options=pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={f: pa.string() for f in fields},
                strings_can_be_null=True,  # COPY's NULL is an unquoted empty field…
                quoted_strings_can_be_null=False,  # …and an empty string is ""
            ),
        )
        for batch in reader:
            for start in range(0, batch.num_rows, chunk):
                piece = batch.slice(start, chunk)
                out = {}
                for i, w in enumerate(wanted):
                    if arrays and not convert[i]:
                        out[w] = piece.column(i)
                        continue
                    values = piece.column(i).to_pylist()
                    out[w] = convert[i](values) if convert[i] else values  # type: ignore[misc]
                yield out
