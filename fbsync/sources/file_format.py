"""What a customer file is and how its rows are read (for :mod:`.files`): Parquet or text, its
encoding, delimiter and header, its rows in chunks with the malformed ones counted, and the sentences
that describe a file without ever echoing a value of it.

A text file must not be empty or binary; its encoding is UTF-8 (BOM or not), UTF-16 with a BOM, or else
Windows-1252 when its bytes are not UTF-8 (Excel's French "CSV", said in a log line); its delimiter is
sniffed among ``,`` ``;`` tab ``|``.  A first line that looks like data (an e-mail address, a phone
number…) is described, never echoed; column names echoed are masked if they look like values.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import identity
from ..errors import ConfigError
from ..identity.mask import visible
from . import arrow_csv

log = logging.getLogger(__name__)

SAMPLE = 64 * 1024  # bytes looked at to tell the kind of file and sniff its delimiter
DELIMITERS = (",", ";", "\t", "|")  # sniffed, in order of preference on a tie
PARQUET_SUFFIXES = (".parquet", ".pq")
MAX_LINES_SHOWN = 3  # line numbers of malformed rows in the report

_DELIMITER_WORDS = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|", "auto": ""}
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16", "cp1252": "Windows-1252 (cp1252)"}
_ENCODINGS_HINT = "--encoding (utf-8, cp1252, latin-1 or utf-16)"
_OPTIONS_HINT = f"give --delimiter (',' ';' 'tab' or '|') and {_ENCODINGS_HINT}"


@dataclass
class FileReport:
    """How :func:`read_columns` read a file: its format, its data rows and the malformed ones it skipped."""

    read_as: str = ""  # e.g. "CSV (';'-separated, Windows-1252 (cp1252))"
    rows: int = 0  # data rows, malformed ones included
    malformed: int = 0  # rows skipped: more or fewer fields than the header
    malformed_lines: list[int] = field(default_factory=list)  # the first MAX_LINES_SHOWN
    fields: int = 0  # the header's

    def notes(self) -> list[str]:
        """A sentence for a run report when rows were skipped."""
        if not self.malformed:
            return []
        n, lines = self.malformed, ", ".join(map(str, self.malformed_lines))
        more = ", …" if n > len(self.malformed_lines) else ""
        s = "s" if n != 1 else ""
        fields = f"{self.fields} field{'s' if self.fields != 1 else ''}"
        return [f"{n:,} row{s} skipped as malformed (line{s} {lines}{more}): not the header's {fields}"]


# ---------------------------------------------------------------------------- what the file is
@dataclass(frozen=True)
class Format:
    kind: str  # "csv" or "parquet"
    header: tuple[str, ...]
    encoding: str = ""
    delimiter: str = ""
    delimiter_given: bool = False

    def describe(self) -> str:
        if self.kind == "parquet":
            return "Parquet"
        sep = "tab" if self.delimiter == "\t" else repr(self.delimiter)
        return f"CSV ({sep}-separated, {_ENCODING_NAMES.get(self.encoding, self.encoding)})"


def inspect_file(path: Path, delimiter: str | None, encoding: str | None) -> Format:
    """What the file is, its encoding, delimiter and header (cached: upload asks twice)."""
    delimiter, encoding = _delimiter_option(delimiter), _encoding_option(encoding)
    if not path.exists():
        raise ConfigError(f"{path}: no such file.")
    if path.is_dir():
        raise ConfigError(f"{path}: it is a folder; give a CSV, TSV or Parquet file.")
    try:
        st = path.stat()
        with path.open("rb") as f:
            head = f.read(SAMPLE)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc}); check its permissions.") from None
    key = (str(path), st.st_size, st.st_mtime_ns, hashlib.sha256(head).digest(), delimiter, encoding)
    fmt = _SEEN.get(key)  # keyed by a digest of the first bytes: no customer row is kept in memory
    if fmt is None:
        fmt = _inspect(path, st.st_size, head, delimiter, encoding)
        while len(_SEEN) >= 8:
            _SEEN.pop(next(iter(_SEEN)))
        _SEEN[key] = fmt
    return fmt


_SEEN: dict[tuple[Any, ...], Format] = {}


def _inspect(path: Path, size: int, head: bytes, delimiter: str | None, enc: str | None) -> Format:
    if not head:
        raise ConfigError(f"{path}: the file is empty (0 bytes); give a CSV with a header line such as email,phone.")
    if head.startswith(b"PAR1"):
        return _parquet_format(path)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        raise ConfigError(f"{path}: not a Parquet file (it does not start with PAR1); give a Parquet, CSV or TSV file.")
    for magic, what in _SIGNATURES:
        if head.startswith(magic):
            excel = "Excel" in what
            fix = "in Excel, save it as «CSV UTF-8» and give that file" if excel else "give a CSV, TSV or Parquet file"
            raise ConfigError(f"{path}: it is {what}, not a CSV; {fix}.")
    encoding, guessed = _choose_encoding(path, head, enc)
    truncated = size > len(head)
    text = codecs.getincrementaldecoder(encoding)("replace").decode(head, final=not truncated)
    text = (text[: text.rfind("\n") + 1] if truncated else text).lstrip("\ufeff")
    sep = delimiter or _sniff_delimiter(text, path.suffix.lower(), truncated)
    records = _records(text, sep, truncated)
    if not records:
        why = "only blank lines, or a line longer than 64 KB, at its start" if truncated else "only blank lines"
        raise ConfigError(f"{path}: no header line ({why}); give a CSV with a header line such as email,phone.")
    fmt = Format("csv", tuple(records[0]), encoding, sep, delimiter is not None)
    bad = sum(not _fits(r, len(fmt.header)) for r in records[1:])
    if bad * 2 > len(records) - 1:
        raise _mostly_malformed(path, fmt, bad, len(records) - 1)
    if guessed:
        log.warning(
            "%s is not UTF-8: read it as Windows-1252 (cp1252, Excel's usual encoding); if accents look wrong, "
            "give --encoding (for example latin-1 or utf-16)",
            path.name,
        )
    log.info("%s: read as %s", path.name, fmt.describe())
    return fmt


def _parquet_format(path: Path) -> Format:
    import pyarrow.parquet as pq

    try:
        return Format("parquet", tuple(map(str, pq.ParquetFile(path).schema_arrow.names)))
    except Exception as exc:
        raise ConfigError(
            f"{path}: not a readable Parquet file ({type(exc).__name__}); give a Parquet or CSV file."
        ) from None


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive or an Excel workbook (.xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"%PDF", "a PDF"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_NOT_CONTROL = bytes(b for b in range(256) if b >= 0x20 or b in b"\t\n\r\x0c")  # delete these: controls left
_BINARY = (
    "it is not a text file (it holds binary data); give a CSV, TSV or Parquet file, or the encoding of this "
    "text with --encoding (for example utf-16)"
)


def _choose_encoding(path: Path, head: bytes, encoding: str | None) -> tuple[str, bool]:
    """The codec to read the file with, and whether it is a guess (cp1252) to say in the log.  The whole
    file is checked once, so a bad byte far down is refused before any row is read."""
    controls = len(head.translate(None, _NOT_CONTROL))  # > 1 % C0 controls (NUL…): binary; a NUL in a value is not
    binary = controls > 2 and controls * 100 > len(head) and not (encoding or "").startswith(("utf-16", "utf-32"))
    bom = next((enc for mark, enc in _BOMS if head.startswith(mark)), None)
    if binary and bom is None:
        raise ConfigError(f"{path}: {_BINARY}.")
    given = encoding or bom
    if given is not None:
        bad = _first_undecodable(path, given)
        if bad is not None:
            name = _ENCODING_NAMES.get(given, given)
            raise ConfigError(
                f"{path}: line {bad[0]} is not {name} text; give the file's encoding with {_ENCODINGS_HINT}."
            )
        return given, False
    bad = _first_undecodable(path, "utf-8")
    if bad is None:
        return "utf-8-sig", False
    if bad[1]:
        raise ConfigError(
            f"{path}: line {bad[0]} is not UTF-8 although the text before it is (a mix of encodings); re-save the "
            "file as UTF-8, or give --encoding cp1252 to read all of it as Windows-1252."
        )
    if _first_undecodable(path, "cp1252") is None:
        return "cp1252", True
    raise ConfigError(f"{path}: it is neither UTF-8 nor Windows-1252 text; give its encoding with {_ENCODINGS_HINT}.")


def _first_undecodable(path: Path, encoding: str) -> tuple[int, bool] | None:
    """None when the whole file decodes; else the line of the first bad byte and whether non-ASCII
    text decoded before it (then the file mixes encodings)."""
    if encoding in ("utf-8", "utf-8-sig") and _utf8(path):
        return None
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line, non_ascii = 1, False
    with path.open("rb") as f:
        while True:
            block = f.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                before = block[: max(0, exc.start)]
                return line + before.count(b"\n"), non_ascii or not before.isascii()
            if not block:
                return None
            line += block.count(b"\n")
            non_ascii = non_ascii or not block.isascii()


def _utf8(path: Path) -> bool:
    """Whether the whole file is UTF-8, by Arrow's validator (5x faster than decoding a block); a block ends
    after its last newline, never inside a character.  False (or a line over 64 MB) sends the caller to its
    exact decoder, which finds the line."""
    import struct

    import pyarrow as pa

    rest = b""
    with path.open("rb") as f:
        while True:
            block = f.read(8 << 20)
            data = rest + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if cut == 0 and len(data) > 64 << 20:
                return False
            offsets = pa.py_buffer(struct.pack("<ii", 0, cut))
            try:
                pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
            except pa.ArrowException:
                return False
            rest = data[cut:]
            if not block:
                return True


def _delimiter_option(value: str | None) -> str | None:
    if value is None:
        return None
    word = _DELIMITER_WORDS.get(value.strip().lower(), value) if value.strip() else value
    if word and (len(word) != 1 or word in '"\r\n' or word.isalnum()):
        raise ConfigError(f"--delimiter {visible(value)!r}: give one character: ',' ';' '|' or 'tab'.")
    return word or None


def _encoding_option(value: str | None) -> str | None:
    if value is None or value.strip().lower() in ("", "auto"):
        return None
    try:
        info: codecs.CodecInfo | None = codecs.lookup(value.strip())
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise ConfigError(f"--encoding {visible(value)!r}: unknown encoding; use utf-8, cp1252, latin-1 or utf-16.")
    return "utf-8-sig" if info.name == "utf-8" else info.name


# ---------------------------------------------------------------------------- delimiter and rows
def _records(text: str, sep: str, truncated: bool, limit: int = 1000) -> list[list[str]]:
    """The first non-blank records of ``text`` split on ``sep`` (the last one dropped if cut)."""
    out: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep):
            if row:
                out.append(row)
                if len(out) > limit:
                    return out[:limit]
    except csv.Error:
        pass
    return out[:-1] if truncated and len(out) > 1 else out


def _fits(row: Sequence[str], n: int) -> bool:
    """The header's number of fields (extra fields that are all empty, as Excel may add, are accepted)."""
    return len(row) == n or (len(row) > n and not "".join(row[n:]).strip())


def _sniff_delimiter(text: str, suffix: str, truncated: bool) -> str:
    """The candidate giving the most rows with the header's fields; one splitting the header beats one that
    does not (a single-column file takes the delimiter its values do not hold)."""
    order = ("\t", ",", ";", "|") if suffix in (".tsv", ".tab") else DELIMITERS
    scores = {}
    for rank, sep in enumerate(order):
        records = _records(text, sep, truncated, limit=200)
        if records:
            n, data = len(records[0]), records[1:]
            share = sum(_fits(r, n) for r in data) / len(data) if data else 1.0
            scores[sep] = (n >= 2, share, n, -rank)
    return max(scores, key=scores.__getitem__) if scores else order[0]


def csv_chunks(
    path: Path, fmt: Format, index: Mapping[str, int], chunk: int, report: FileReport, arrays: bool = False
) -> Iterator[dict[str, Any]]:
    """Chunks of the ``index`` columns (name -> position) of a text file; rows that do not have the header's
    fields are counted in ``report``, not yielded; blank lines are skipped.

    A clean file is read by pyarrow in large blocks (:mod:`.arrow_csv`); from the first thing it cannot
    read exactly as the csv module would, the csv module goes on where it stopped.  With ``arrays``, pyarrow's
    chunks are string arrays (the csv module's are lists all the same)."""
    done = 0
    if arrow_csv.usable(path, fmt.encoding):
        try:
            for part in arrow_csv.chunks(path, fmt.encoding, fmt.delimiter, len(fmt.header), index, chunk, arrays):
                rows = len(next(iter(part.values())))
                report.rows += rows
                done += rows
                yield part
            return
        except arrow_csv.Fallback as stop:
            log.debug("%s: read on with the csv module after %d rows (%s)", path.name, stop.rows, stop)
    yield from _csv_module_chunks(path, fmt, index, chunk, report, skip=done)


def _csv_module_chunks(
    path: Path, fmt: Format, index: Mapping[str, int], chunk: int, report: FileReport, skip: int = 0
) -> Iterator[dict[str, list[Any]]]:
    """The csv module's reading, after the first ``skip`` data rows (already read by the fast reader)."""
    n, names, get = len(fmt.header), list(index), operator.itemgetter(*index.values())
    pick: Callable[[list[str]], tuple[str, ...]] = (lambda row: (get(row),)) if len(index) == 1 else get
    rows: list[tuple[str, ...]] = []
    reader: Any = None
    try:
        with path.open("r", encoding=fmt.encoding, errors="strict", newline="") as f:
            reader = csv.reader(f, delimiter=fmt.delimiter)
            next((row for row in reader if row), None)  # the header
            for _ in range(skip):
                next((row for row in reader if row), None)
            for row in reader:
                if len(row) == n or (row and _fits(row, n)):
                    rows.append(pick(row))
                    if len(rows) >= chunk:
                        report.rows += len(rows)
                        yield {c: list(v) for c, v in zip(names, zip(*rows))}
                        rows = []
                elif row:
                    report.rows += 1
                    report.malformed += 1
                    if len(report.malformed_lines) < MAX_LINES_SHOWN:  # the line the row starts on
                        report.malformed_lines.append(reader.line_num - sum(v.count("\n") for v in row))
            report.rows += len(rows)
    except UnicodeDecodeError:
        name = _ENCODING_NAMES.get(fmt.encoding, fmt.encoding)
        raise ConfigError(
            f"{path}: after line {reader.line_num if reader else 0} it is not {name} text; give its encoding with "
            f"{_ENCODINGS_HINT}."
        ) from None
    except csv.Error as exc:
        what = 'holds a field longer than 128 KB (an unclosed " quote?)' if "field limit" in str(exc) else "is not CSV"
        line = reader.line_num if reader else 1
        raise ConfigError(f"{path}: line {line} {what}; fix the file, or {_OPTIONS_HINT}.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc}).") from None
    if report.malformed * 2 > report.rows:
        raise _mostly_malformed(path, fmt, report.malformed, report.rows)
    if rows:
        yield {c: list(v) for c, v in zip(names, zip(*rows))}
    for note in report.notes():
        log.warning("%s: %s", path.name, note)


def parquet_chunks(
    path: Path, actual: Mapping[str, str], chunk: int, report: FileReport, arrays: bool = False
) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    wanted = list(dict.fromkeys(actual.values()))
    try:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=chunk, columns=wanted):
            report.rows += batch.num_rows
            values = {name: batch.column(name) if arrays else batch.column(name).to_pylist() for name in wanted}
            yield {c: values[name] for c, name in actual.items()}
    except (OSError, ValueError, ImportError) as exc:
        raise ConfigError(f"{path}: not a readable Parquet file ({type(exc).__name__}).") from None


# ---------------------------------------------------------------------------- columns and messages
def find_column(path: Path, header: Sequence[str], column: str) -> int | None:
    """The index of ``column``: its exact name, else ignoring surrounding spaces, else also case."""
    for level, norm in enumerate((lambda s: s, lambda s: s.strip(), lambda s: s.strip().casefold())):
        found = [i for i, name in enumerate(header) if norm(name) == norm(column)]
        if len(found) == 1:
            return found[0]
        if found:
            alike = f" when case and spaces are ignored ({', '.join(show(header[i]) for i in found)})" if level else ""
            raise ConfigError(
                f"{path}: {len(found)} columns are named {show(column)}{alike}; rename all but one, or give the "
                "exact name of one of them in --map."
            )
    return None


def no_column(path: Path, fmt: Format, missing: list[str]) -> ConfigError:
    what = ("no column " if len(missing) == 1 else "no columns ") + ", ".join(repr(visible(m)) for m in missing)
    data = data_kinds(fmt.header)
    if data:
        return ConfigError(
            f"{path}: {what}: its first line does not look like column names (it holds {data}); add a header "
            "line such as email,phone, or give --map with the file's column names."
        )
    one = len(fmt.header) == 1 and fmt.kind == "csv" and not fmt.delimiter_given
    more = ", or give --delimiter if its columns are separated by another character" if one else ""
    return ConfigError(f"{path}: {what}; {header_words(fmt)}; fix --map{more}.")


def _mostly_malformed(path: Path, fmt: Format, bad: int, rows: int) -> ConfigError:
    n = len(fmt.header)
    return ConfigError(
        f"{path}: most rows ({bad:,} of {rows:,}) do not have the header's {n} field{'s' if n != 1 else ''} "
        f"when read as {fmt.describe()}, so the delimiter is probably wrong (or the first line is not the header); "
        f"{_OPTIONS_HINT}, or fix the file."
    )


def header_words(fmt: Format) -> str:
    """``the file has the columns a, b (read as …)``: names shown through :func:`show`."""
    names = ", ".join(show(h) for h in fmt.header[:12]) + (f", … ({len(fmt.header)})" if len(fmt.header) > 12 else "")
    return f"the file has {'the columns' if len(fmt.header) > 1 else 'one column,'} {names} (read as {fmt.describe()})"


_EMAIL = re.compile(r"\S@\S")
_HASH = re.compile(r"[0-9a-fA-F]{32,}")
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T]\S*)?")
_NUMBER = re.compile(r"[+(]?\d[\d\s().,\-/]*")
_KIND_KEY = {"an e-mail address": "EMAIL", "a phone number": "PHONE", "a number": "PHONE"}


def _data_kind(cell: str) -> str | None:
    """What a header cell holds when it looks like a value rather than a column name, else None."""
    text, digits = cell.strip(), sum(c.isdigit() for c in cell)
    if _EMAIL.search(text):
        return "an e-mail address"
    if _HASH.fullmatch(text):
        return "a hash"
    if _DATE.fullmatch(text):
        return "a date"
    if _NUMBER.fullmatch(text) or digits >= 6:
        return "a phone number" if digits >= 6 else "a number"
    return "a long value" if len(text) > 64 else None


def data_kinds(header: Sequence[str]) -> str:
    """``"an e-mail address and a phone number"`` when the first line holds values, else ``""``."""
    kinds = list(dict.fromkeys(k for k in map(_data_kind, header) if k))
    return " and ".join([", ".join(kinds[:-1]), kinds[-1]] if len(kinds) > 1 else kinds)


def show(cell: str) -> str:
    """A column name for a message: masked if it looks like a value, control characters made visible,
    shortened, quoted when empty or with surrounding spaces."""
    kind = _data_kind(cell)
    if kind is not None:
        return identity.mask(_KIND_KEY.get(kind, "FN"), cell)
    text = visible(cell)
    text = text[:40] + "…" if len(text) > 40 else text
    return repr(text) if not text or text != text.strip() else text
