"""Customer files in and out: CSV/TSV/Parquet read in chunks with pandas, Meta customer-file CSV written.

Used by ``fbsync hash FILE`` (and the one-off upload).  Only the mapped columns are
read; nothing else of the file is kept.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TextIO

from .. import identity
from ..errors import ConfigError

CHUNK = 100_000


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


def header_mapping(path: Path) -> dict[str, str]:
    """Columns named after Meta keys (any case: email, PHONE, fn…) map to those keys."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file.")
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        header = list(pq.ParquetFile(path).schema_arrow.names)
    else:
        import pandas as pd

        sep = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
        header = [str(h) for h in pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig").columns]
    out = {h.strip().upper(): h for h in header if h.strip().upper() in identity.KEYS}
    if not out:
        raise ConfigError(
            f"{path}: no column is named after a Meta key (email, phone, fn, …); say which column "
            "holds which key with --map KEY=column."
        )
    return out


def read_columns(path: Path, columns: list[str], chunk: int = CHUNK) -> Iterator[dict[str, list[Any]]]:
    """Yield ``{column: values}`` chunks of a CSV, TSV or Parquet file, reading only ``columns``."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        yield from _parquet(path, columns, chunk)
        return
    import pandas as pd

    sep = "\t" if suffix in (".tsv", ".tab") else ","
    try:
        header = list(pd.read_csv(path, sep=sep, nrows=0, encoding="utf-8-sig").columns)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ConfigError(
            f"{path}: cannot read it as {'TSV' if sep == chr(9) else 'CSV'} ({type(exc).__name__}); "
            "give a UTF-8 CSV, TSV or Parquet file."
        ) from None
    _check(path, header, columns)
    reader = pd.read_csv(
        path, sep=sep, usecols=columns, dtype=str, keep_default_na=False, chunksize=chunk, encoding="utf-8-sig"
    )
    for df in reader:
        yield {c: df[c].tolist() for c in columns}


def _parquet(path: Path, columns: list[str], chunk: int) -> Iterator[dict[str, list[Any]]]:
    import pyarrow.parquet as pq

    try:
        f = pq.ParquetFile(path)
    except Exception as exc:
        raise ConfigError(f"{path}: not a readable Parquet file ({type(exc).__name__}).") from None
    _check(path, f.schema_arrow.names, columns)
    for batch in f.iter_batches(batch_size=chunk, columns=columns):
        yield {c: batch.column(c).to_pylist() for c in columns}


def _check(path: Path, header: list[str], columns: list[str]) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ConfigError(
            f"{path}: no column {', '.join(map(repr, missing))}; the file has "
            f"{', '.join(map(str, header)) or 'no header'}; fix --map."
        )


def hash_file(path: Path, mapping: Mapping[str, str], out: TextIO, default_country: str | None) -> dict[str, Any]:
    """Write Meta's customer-file CSV (lowercase Meta key names as headers) and return the counts."""
    columns = list(dict.fromkeys(mapping.values()))
    writer = csv.writer(out, lineterminator="\n")
    totals: dict[str, Any] = {"rows_read": 0, "rows_written": 0, "rows_dropped": 0, "invalid": {}, "empty": {}}
    wrote_header = False
    for chunk in read_columns(path, columns):
        batch = identity.hash_batch({k: chunk[c] for k, c in mapping.items()}, default_country)
        if not wrote_header:
            writer.writerow([k.lower() for k in batch.schema])
            wrote_header = True
        writer.writerows(batch.rows)
        totals["rows_read"] += len(next(iter(chunk.values()), []))
        totals["rows_written"] += len(batch.rows)
        totals["rows_dropped"] += batch.dropped_rows
        for (key, reason), n in batch.invalid.items():
            totals["invalid"][f"{key}: {reason}"] = totals["invalid"].get(f"{key}: {reason}", 0) + n
        for key, n in batch.empty.items():
            totals["empty"][key] = totals["empty"].get(key, 0) + n
    return totals


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


def open_out(path: Path | None) -> TextIO:
    if path is None:
        return io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
    return path.open("w", encoding="utf-8", newline="")
