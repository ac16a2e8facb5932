"""Customer files in and out: CSV/TSV/Parquet read in chunks, Meta customer-file CSV written.

``fbsync hash FILE``, ``fbsync upload`` and the suppression files all read through :func:`read_columns`
(and :func:`header_mapping`): a file is understood, or refused with one sentence, the same way everywhere
(:mod:`.file_format` tells what the file is).  A text file's encoding (UTF-8, UTF-16 with a BOM, else
Windows-1252) and delimiter (``,`` ``;`` tab ``|``) are sniffed; ``encoding=``/``delimiter=`` override them.
Column names match exactly, else ignoring case and surrounding spaces (a name matching several columns is
refused).  Rows with more or fewer fields than the header are skipped and counted (:class:`FileReport`); a
file where most rows are is refused.  Only the mapped columns are kept; messages never hold a file's value.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from .. import identity
from ..errors import ConfigError
from ..identity.geo import default_region
from ..outfile import BlockWriter, Output
from . import columnar
from .file_format import (
    FileReport,
    csv_chunks,
    data_kinds,
    find_column,
    header_words,
    inspect_file,
    no_column,
    parquet_chunks,
    show,
)

CHUNK = 25_000


# ---------------------------------------------------------------------------- public API
def parse_map(items: list[str] | None) -> dict[str, str]:
    """``["EMAIL=email", "PHONE=tel"]`` → ``{"EMAIL": "email", "PHONE": "tel"}``, keys checked."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, col = item.partition("=")
        key = key.strip().upper()
        if not sep or not col.strip():
            raise ConfigError(f"--map {item!r} is not KEY=column; write for example --map EMAIL=email.")
        if key not in identity.KEYS:
            raise ConfigError(f"--map {item!r}: {key} is not a Meta key; use one of {', '.join(identity.KEYS)}.")
        out[key] = col.strip()
    if not out:
        raise ConfigError("No --map given; say which column holds which key, e.g. --map EMAIL=email --map PHONE=phone.")
    return out


def header_mapping(
    path: Path, *, delimiter: str | None = None, encoding: str | None = None, via_map: bool = True
) -> dict[str, str]:
    """Columns named after Meta keys (any case and surrounding spaces: email, PHONE, fn…) map to those keys.
    ``via_map=False`` words the fixes for a file given without ``--map`` (a suppression file)."""
    fmt = inspect_file(Path(path), delimiter, encoding)
    out: dict[str, str] = {}
    for name in fmt.header:
        key = name.strip().upper()
        if key in identity.KEYS and key in out:
            fix = f"say which one to use with --map {key}=column" if via_map else "keep only one of them"
            raise ConfigError(f"{path}: the columns {show(out[key])} and {show(name)} are both {key}; {fix}.")
        if key in identity.KEYS:
            out[key] = name
    if out:
        return out
    data = data_kinds(fmt.header)
    if data:
        fix = "add a header line such as email,phone" + (", or give --map" if via_map else "")
        raise ConfigError(f"{path}: its first line does not look like column names (it holds {data}); {fix}.")
    fix = "say which column holds which key with --map KEY=column" if via_map else "name them after Meta keys"
    raise ConfigError(f"{path}: no column is named after a Meta key (email, phone, fn, …); {header_words(fmt)}; {fix}.")


def read_columns(
    path: Path,
    columns: Sequence[str],
    chunk: int = CHUNK,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
    report: FileReport | None = None,
    arrays: bool = False,
) -> Iterator[dict[str, Any]]:
    """``{column: values}`` chunks of a CSV, TSV or Parquet file: only ``columns``, keyed as asked.

    Checked when called, before any row is read: a bad file, delimiter or encoding, a missing or ambiguous
    column is a :class:`ConfigError`.  ``delimiter``/``encoding`` override the sniffing (``None``: sniff).
    Malformed rows are skipped, counted in ``report`` and logged; if most rows are, the last chunk raises.
    With ``arrays``, values come as pyarrow arrays where pyarrow reads the file (lists elsewhere).
    """
    path = Path(path)
    fmt = inspect_file(path, delimiter, encoding)
    report = report if report is not None else FileReport()
    report.read_as, report.fields = fmt.describe(), len(fmt.header)
    where = {c: find_column(path, fmt.header, c) for c in columns}
    missing = [c for c, i in where.items() if i is None]
    if missing:
        raise no_column(path, fmt, missing)
    index = {c: i for c, i in where.items() if i is not None}
    if fmt.kind == "parquet":
        return parquet_chunks(path, {c: fmt.header[i] for c, i in index.items()}, chunk, report, arrays)
    return csv_chunks(path, fmt, index, chunk, report, arrays)


def hash_file(
    path: Path,
    mapping: Mapping[str, str],
    out: TextIO,
    default_country: str | None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Write Meta's customer-file CSV (lowercase Meta key names as headers) and return the counts:
    ``rows_read`` (every data row), ``rows_written``, ``rows_dropped``, ``rows_malformed`` and
    ``malformed_lines`` (skipped: not the header's fields), ``read_as``, ``invalid``, ``empty``.
    When ``out`` comes from :func:`open_out` and this fails, what was written is discarded."""
    try:
        return _hash_file(Path(path), mapping, out, default_country, delimiter, encoding)
    except BaseException as exc:
        if isinstance(out, Output):
            out.discard()
        if isinstance(exc, OSError):  # reading errors are ConfigErrors already: this is the output
            raise ConfigError(f"cannot write the output ({exc.strerror or exc}); free some space or give -o.") from None
        raise


def hash_values(key: str, values: list[str], default_country: str | None) -> Iterator[dict[str, Any]]:
    """The contract's JSON lines for ``fbsync hash --key KEY VALUE…``."""
    key = key.upper()
    if key not in identity.KEYS:
        raise ConfigError(f"--key {key}: not a Meta key; use one of {', '.join(identity.KEYS)}.")
    for i, v in enumerate(values):
        norm, reason = identity.normalize(key, v, default_country)
        if norm is None:
            yield {"input_index": i, "dropped": reason}
            continue
        sent, _ = identity.hash_one(key, v, default_country)
        yield {"input_index": i, "normalized": norm, "sha256": None if key in identity.UNHASHED_KEYS else sent}


def _hash_file(
    path: Path, mapping: Mapping[str, str], out: TextIO, country: str | None, sep: str | None, enc: str | None
) -> dict[str, Any]:
    report = FileReport()
    fast = columnar.usable(tuple(mapping))
    chunks = read_columns(
        path, list(dict.fromkeys(mapping.values())), CHUNK, delimiter=sep, encoding=enc, report=report, arrays=fast
    )
    writer = csv.writer(out, lineterminator="\n")
    totals: dict[str, Any] = {"rows_read": 0, "rows_written": 0, "rows_dropped": 0, "invalid": {}, "empty": {}}
    wrote_header = False
    keyed = ({k: chunk[c] for k, c in mapping.items()} for chunk in chunks)
    if fast:
        wrote_header = _hash_blocks(keyed, country, out, totals)
    else:
        with identity.Engine(workers=_workers(path)) as engine:  # reading, hashing and writing overlap
            for batch in engine.imap(keyed, country):
                if not wrote_header:
                    writer.writerow([k.lower() for k in batch.schema])
                    wrote_header = True
                _write_rows(out, writer, batch)
                _count(totals, len(batch.rows), batch.dropped_rows, batch)
    if not wrote_header:  # no rows: Meta's header all the same
        writer.writerow([k.lower() for k in identity.hash_batch({k: [] for k in mapping}, country).schema])
    totals.update(rows_read=report.rows, rows_malformed=report.malformed, read_as=report.read_as)
    totals["malformed_lines"] = list(report.malformed_lines)
    return totals


def _count(totals: dict[str, Any], written: int, dropped: int, counters: identity.HashedBatch) -> None:
    totals["rows_written"] += written
    totals["rows_dropped"] += dropped
    for (key, reason), n in counters.invalid.items():
        totals["invalid"][f"{key}: {reason}"] = totals["invalid"].get(f"{key}: {reason}", 0) + n
    for key, n in counters.empty.items():
        totals["empty"][key] = totals["empty"].get(key, 0) + n


def _hash_blocks(chunks: Iterator[dict[str, Any]], country: str | None, out: TextIO, totals: dict[str, Any]) -> bool:
    """Hash Arrow chunks column-wise (:mod:`fbsync.identity.columnar`) on every core, in threads (the C module
    and Arrow release the GIL for most of the work), and write their CSV lines in order from another thread,
    so the disk works meanwhile; returns whether a header was written."""
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    region = default_region(country)
    workers = os.cpu_count() or 1

    def work(chunk: dict[str, Any]) -> tuple[columnar.Block, bytes]:
        block = columnar.hash_arrow(chunk, region)
        return block, block.csv()

    wrote_header = False
    pending: deque[Future[tuple[columnar.Block, bytes]]] = deque()
    with BlockWriter(out) as write, ThreadPoolExecutor(workers, thread_name_prefix="fbsync-hash") as pool:

        def take() -> None:
            nonlocal wrote_header
            block, data = pending.popleft().result()
            if not wrote_header:
                out.write(",".join(k.lower() for k in block.schema) + "\n")
                out.flush()
                wrote_header = True
            write(data)
            _count(totals, block.written_rows, block.dropped_rows, block.counters)

        try:
            for chunk in chunks:
                pending.append(pool.submit(work, chunk))
                if len(pending) > workers:
                    take()
            while pending:
                take()
        finally:
            for job in pending:
                job.cancel()
    return wrote_header


#: Files from this size on are hashed on every core (smaller ones do not pay for starting the workers).
PARALLEL_FROM_BYTES = 8 << 20


def _workers(path: Path) -> int:
    try:
        big = path.stat().st_size >= PARALLEL_FROM_BYTES
    except OSError:
        big = False
    return (os.cpu_count() or 1) if big else 1


def _write_rows(out: TextIO, writer: Any, batch: identity.HashedBatch) -> None:
    """Rows of hashed keys only (SHA-256 hex or empty: never a comma, a quote or a newline) are joined
    directly and written as ASCII bytes in small blocks (one big string per batch cost 4x more, in page
    faults); the csv module writes the others, quoting MADID and EXTERN_ID values as needed."""
    if not batch.rows:
        return
    if not UNQUOTED.issuperset(batch.schema):
        writer.writerows(batch.rows)
        return
    rows, raw = batch.rows, getattr(out, "buffer", None)
    if raw is not None:
        out.flush()  # the header went through the text layer
    for i in range(0, len(rows), WRITE_ROWS):
        block = "\n".join(map(",".join, rows[i : i + WRITE_ROWS])) + "\n"
        if raw is not None:
            raw.write(block.encode("ascii"))
        else:
            out.write(block)


#: Rows per write of a hashed file.
WRITE_ROWS = 2_000


#: Keys whose sent values are SHA-256 hex (or empty): never a comma, a quote or a newline.
UNQUOTED = frozenset(identity.KEYS) - frozenset(identity.UNHASHED_KEYS)
