"""Hashing Arrow columns without a Python object per value: the file and COPY readers' fast path.

:func:`hash_batch` turns every value into a ``str`` and every hash into another; on a 1 M-row, 7-key
file that bookkeeping cost more than the hashing.  Here a chunk's columns stay Arrow arrays, and each
key's output is one block of 64-byte fields (lowercase hex digests; a field starting with a zero byte
is empty), which the C module writes as CSV lines without building rows (or, for a plan or an upload,
turns into :class:`HashedBatch` rows sharing one string per distinct value):

* EMAIL and PHONE: the C module strips and joins the ASCII values straight from the array's buffers
  (``ascii_lines``), checks the e-mails (``email_suspects``, the byte regex's answer) or the phone regex
  runs on the joined buffer, and hashes every line into the block (``sha256_hex_block``).  Values the
  fast checks do not accept (not ASCII, unusual shapes, junk) take the per-value path, as in
  :func:`fbsync.identity.batch.hash_column`.
* The other hashed keys (names, cities, ZIPs, countries, dates…): Arrow's ``dictionary_encode`` finds
  the distinct values; each is normalized and hashed once, through the same memo as ``hash_batch``, and
  each row's field is an index into theirs.

Results are exactly ``hash_batch``'s (tested).  Only for keys whose sent values are SHA-256 hex
(:func:`usable`), and only with the C module built: otherwise callers use ``hash_batch`` and the engine.
This lives with the readers, not in :mod:`fbsync.identity` (standard library and phonenumbers only),
because it works on pyarrow arrays; the rules it applies stay there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..identity import phone
from ..identity._hotpath import gc_paused
from ..identity._text import EMPTY, MAX_TEXT
from ..identity.batch import HashedBatch, hash_batch, hash_column, memo_for, schema_of, tally, unusable_rows
from ..identity.geo import default_region
from ..identity.hashing import c_function
from ..identity.keys import DISTINCT
from ..identity.lines import judge
from ..identity.normalize import UNHASHED_KEYS

WIDTH = 64  # bytes per field: a SHA-256 digest in hex
#: A key's output: one field per row, or the distinct fields and each row's index (int32) into them.
Column = bytes | bytearray | tuple[bytes, Any]
_ZERO = bytes(WIDTH)
_C = {
    name: c_function(name)
    for name in ("ascii_lines", "sha256_hex_block", "email_suspects", "csv_rows", "line_numbers", "field_rows")
}


def usable(keys: Sequence[str]) -> bool:
    """Whether ``keys`` can be hashed here: the C module is built and every key's sent value is hashed."""
    return all(_C.values()) and bool(keys) and not set(keys) & set(UNHASHED_KEYS)


@dataclass
class Block:
    """One chunk hashed column-wise: a :data:`Column` of ``input_rows`` fields per key of ``schema``, ``keep``
    (one byte per row, 0 for a row with no usable key; None when every row is kept), and the same
    counters as :class:`HashedBatch`."""

    schema: tuple[str, ...]
    input_rows: int
    fields: list[Column] = field(default_factory=list)
    keep: bytearray | None = None
    counters: HashedBatch = field(default_factory=lambda: HashedBatch(schema=()))

    @property
    def dropped_rows(self) -> int:
        return 0 if self.keep is None else self.keep.count(0)

    @property
    def written_rows(self) -> int:
        return self.input_rows - self.dropped_rows

    def csv(self) -> bytes:
        """The kept rows as CSV lines (no header), in input order."""
        return bytes(_C["csv_rows"](self.fields, self.keep))

    def batch(self) -> HashedBatch:
        """The same chunk as :func:`fbsync.identity.hash_batch` returns it: rows of str, ``kept_index``."""
        out = HashedBatch(schema=self.schema, input_rows=self.input_rows, dropped_rows=self.dropped_rows)
        out.empty, out.invalid, out.examples = self.counters.empty, self.counters.invalid, self.counters.examples
        out.rows = _C["field_rows"](self.fields, self.keep)
        keep = self.keep
        out.kept_index = list(range(self.input_rows)) if keep is None else [i for i, k in enumerate(keep) if k]
        return out

    def patterns(self) -> Counter[tuple[bool, ...]]:
        """Which keys each kept row carries (its field not empty), as booleans in schema order, counted: the
        match-rate insight's patterns (:func:`fbsync.stage.patterns_of_rows` for rows of str)."""
        import numpy as np

        if not self.input_rows or not self.schema:
            return Counter()
        code = np.zeros(self.input_rows, dtype=np.int64)
        for bit, column in enumerate(self.fields):
            if isinstance(column, tuple):
                distinct, indices = column
                present = (np.frombuffer(distinct, np.uint8)[::WIDTH] != 0)[np.frombuffer(indices, np.int32)]
            else:
                present = np.frombuffer(column, np.uint8)[::WIDTH] != 0
            code |= present.astype(np.int64) << bit
        if self.keep is not None:
            code = code[np.frombuffer(self.keep, np.uint8) != 0]
        width = len(self.schema)
        if width > 16:  # too many patterns to count in an array: count the codes present
            values, counts = np.unique(code, return_counts=True)
        else:
            counts = np.bincount(code, minlength=1)
            values = np.flatnonzero(counts)
            counts = counts[values]
        return Counter(
            {tuple(bool(int(v) >> b & 1) for b in range(width)): int(n) for v, n in zip(values, counts) if v}
        )


def _cells(array: Any, rows: list[int]) -> tuple[dict[int, str], dict[int, str]]:
    """The values of a few rows (``""`` for null) and the same stripped, for the per-value path."""
    import numpy as np
    import pyarrow as pa

    # the indices as Arrow buffers: pa.array() would import pandas (most of a second) through pyarrow's shim
    picked = pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(np.array(rows, dtype=np.int64))])
    texts = dict(zip(rows, array.take(picked).to_pylist())) if rows else {}
    texts = {i: "" if v is None else v for i, v in texts.items()}
    return texts, {i: v.strip() for i, v in texts.items()}


class _Some:
    """An array's values one at a time, for the few rows ``tally`` masks as examples."""

    def __init__(self, array: Any) -> None:
        self._array = array

    def __getitem__(self, index: int) -> Any:
        return self._array[index].as_py()


class _Fields:
    """Writes one row's field of a block: ``""`` (empty) or a 64-character hex digest."""

    def __init__(self, block: bytearray) -> None:
        self.block = block

    def __setitem__(self, index: int, value: str) -> None:
        data = value.encode("ascii") if value else _ZERO
        if len(data) != WIDTH:
            raise ValueError(f"a sent value is not a SHA-256 digest ({len(data)} characters)")
        self.block[index * WIDTH : (index + 1) * WIDTH] = data


def _strings(values: Any) -> Any:
    """An Arrow string array of ``values`` (an Arrow array or chunked array, or a list), or None when they
    are not all text (the per-value path reads them)."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        try:
            values = pa.array(values, type=pa.string())
        except (pa.ArrowException, TypeError, ValueError):
            return None
    if pa.types.is_large_string(values.type):
        try:
            values = values.cast(pa.string())
        except pa.ArrowException:  # over 2 GiB of text in one chunk
            return None
    return values if pa.types.is_string(values.type) else None


def _lines(array: Any, lower: bool) -> tuple[bytes, list[int]]:
    validity, offsets, data = array.buffers()
    return _C["ascii_lines"](offsets, data or b"", validity, array.offset, len(array), lower, MAX_TEXT)


def _fast(key: str, array: Any, region: str | None) -> tuple[bytearray, dict[int, str]] | None:
    """EMAIL or PHONE through the buffers, or None when the key has no fast path here."""
    spec = phone.fast_spec(region) if key == "PHONE" else None
    if key != "EMAIL" and spec is None:
        return None
    buffer, flagged = _lines(array, lower=key == "EMAIL")
    lines, block = _C["line_numbers"], _C["sha256_hex_block"]
    if spec is None:
        compact, suspects = buffer, _C["email_suspects"](buffer)
        hashed = block(buffer, zero_empty=True)
    else:
        compact, leftover = phone.fast_phone_lines(buffer, spec)
        suspects = lines(leftover, False)
        hashed = block(compact, spec.code, spec.length, zero_empty=True)  # E.164: code + national digits
    blank = set(lines(buffer, True))  # null, blank, or flagged (judged one at a time)
    suspects.extend(flagged)
    if compact is not buffer:  # lines only of separators are suspects too
        suspects.extend(sorted(set(lines(compact, True)) - blank))
    out = _Fields(bytearray(hashed))
    bad = dict.fromkeys(sorted(blank.difference(flagged)), EMPTY)
    texts, stripped = _cells(array, suspects)
    bad.update(judge(key, texts, stripped, out, suspects, region))
    return out.block, bad


def _filled(indices: Any, null: int) -> Any:
    """An Arrow int32 array's values as a numpy array, ``null`` where the array is null: read off its buffers
    (``fill_null`` and ``to_numpy`` would import pandas, most of a second, through pyarrow's shim)."""
    import numpy as np

    validity, data = indices.buffers()
    start, n = indices.offset, len(indices)
    out = np.frombuffer(data, dtype=np.int32, count=n, offset=4 * start).copy() if n else np.empty(0, np.int32)
    if validity is not None and indices.null_count:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[start : start + n]
        out[valid == 0] = null
    return out


def _distinct(key: str, array: Any, region: str | None) -> tuple[Column, dict[int, str]]:
    """A key with few distinct values: each normalized and hashed once; the column is their fields and
    each row's index into them."""
    import numpy as np
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(array)
    uniques = encoded.dictionary.to_pylist()
    sent, reasons = memo_for(key, region, uniques)
    out = _Fields(bytearray(WIDTH * (len(uniques) + 1)))  # the last field: null
    for i, text in enumerate(uniques):
        out[i] = sent[text]
    indices = _filled(encoded.indices, len(uniques))
    why = [reasons.get(text, "") for text in uniques] + [EMPTY]
    rows = np.flatnonzero(np.array([bool(w) for w in why])[indices])
    return (bytes(out.block), indices), {int(i): why[indices[i]] for i in rows}


def _per_value(key: str, values: list[object], region: str | None) -> tuple[bytearray, dict[int, str]]:
    out, bad = hash_column(key, values, region)
    fields = _Fields(bytearray(WIDTH * len(out)))
    for i, value in enumerate(out):
        if value:
            fields[i] = value
    return fields.block, bad


def hash_arrow(columns: Mapping[str, Any], region: str | None) -> Block:
    """Hash a chunk's key columns (Arrow arrays, chunked arrays or lists, all of one length) into a
    :class:`Block`; the same values, drops and counters as ``hash_batch`` (``region``: the default
    country's, :func:`fbsync.identity.geo.default_region`)."""
    schema = schema_of(columns)
    if not usable(schema):
        raise ValueError(f"hash_arrow hashes keys sent as SHA-256 digests with the C module; not {schema}")
    sizes = {len(values) for values in columns.values()}
    if len(sizes) != 1:
        raise ValueError("all key columns must have the same length")
    result = Block(schema=schema, input_rows=sizes.pop())
    if not result.input_rows:
        result.fields = [b"" for _ in schema]
        return result
    bads = []
    with gc_paused():
        for key in schema:
            array = _strings(columns[key])
            done = None
            if array is not None:
                done = _fast(key, array, region) if key in DISTINCT else _distinct(key, array, region)
            values: Any = _Some(array) if array is not None else columns[key]
            if done is None:
                raw = array if array is not None else values
                values = raw.to_pylist() if hasattr(raw, "to_pylist") else list(raw)  # Arrow → Python values
                done = _per_value(key, values, region)
            block, bad = done
            result.fields.append(block)
            tally(result.counters, key, values, bad)
            bads.append(bad)
        dropped = unusable_rows(bads)
    if dropped:
        result.keep = bytearray(b"\x01") * result.input_rows
        for index in dropped:
            result.keep[index] = 0
    return result


def as_lists(columns: Mapping[str, Any]) -> dict[str, Any]:
    """``columns`` with any pyarrow array turned into a list of Python values."""
    return {k: v.to_pylist() if hasattr(v, "to_pylist") else v for k, v in columns.items()}


#: Rows in a chunk of Python values from which :func:`arrow_text` turns its text into Arrow arrays: the first
#: ``pa.array()`` of a process imports pandas (pyarrow's shim, most of a second), which only a large
#: segment earns back.
ARROW_FROM = 5_000


def arrow_text(columns: Mapping[str, Any]) -> dict[str, Any]:
    """``columns`` with each list of text (``str`` or None) as an Arrow string array, so that a cursor's chunk
    (SQLite, MariaDB) is hashed column-wise too; other columns (numbers…) stay lists, for the per-value path.
    Chunks under :data:`ARROW_FROM` rows are left as they are."""
    import pyarrow as pa

    if not usable(tuple(columns)) or max((len(v) for v in columns.values()), default=0) < ARROW_FROM:
        return dict(columns)
    out: dict[str, Any] = {}
    for key, values in columns.items():
        if isinstance(values, list):
            try:
                values = pa.array(values, type=pa.string())
            except (pa.ArrowException, TypeError, ValueError):
                pass  # not all text
        out[key] = values
    return out


def hash_block(columns: Mapping[str, Any], default_country: str | None) -> Block | None:
    """A chunk hashed column-wise when some of its columns are pyarrow arrays (a COPY read) and the keys are
    :func:`usable`; None otherwise (then ``hash_batch`` with Python values is the faster path)."""
    import pyarrow as pa

    arrow = [v for v in columns.values() if isinstance(v, pa.Array | pa.ChunkedArray)]
    if arrow and usable(tuple(columns)):
        return hash_arrow(columns, default_region(default_country))
    return None


def hash_members(columns: Mapping[str, Any], default_country: str | None) -> HashedBatch:
    """:func:`fbsync.identity.hash_batch`'s result for a chunk whose columns may be pyarrow arrays (a COPY
    read): column-wise through :func:`hash_block` when it can, else through ``hash_batch``."""
    block = hash_block(columns, default_country)
    return block.batch() if block is not None else hash_batch(as_lists(columns), default_country)
