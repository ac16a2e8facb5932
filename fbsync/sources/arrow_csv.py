"""The fast way through a clean text file: pyarrow's multi-threaded CSV reader, in blocks.

:func:`fbsync.sources.file_format.csv_chunks` reads through here first.  Only what the reader can do
exactly as the csv module would is done here: rows with the header's number of fields, in an encoding
Python knows, the header on the file's first line.  Anything else (a row with more or fewer fields, a
byte that is not of the encoding, …) raises :class:`Fallback` with the number of rows already handed
over, and the csv module reads the rest, skipping those rows, with its exact counts, line numbers and
sentences.  Memory stays flat: pyarrow reads about 32 blocks (``BLOCK`` bytes each) ahead of what is
consumed, whatever the source, so the block is small; values come one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

BLOCK = 1 << 20  # bytes parsed at once; pyarrow reads about 32 blocks ahead of the consumer, so this bounds memory


class Fallback(Exception):
    """The fast reader stops here: ``rows`` rows were handed over; the csv module reads the rest."""

    def __init__(self, rows: int, why: str) -> None:
        super().__init__(why)
        self.rows = rows


def usable(path: Path, encoding: str) -> bool:
    """Whether the fast reader applies: pyarrow is there and the header is the file's first line."""
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return False
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        head = head.removeprefix(bom)
    head = head.lstrip(b"\x00")  # the second byte of a UTF-16 character
    return bool(head) and head[:1] not in (b"\r", b"\n")


def chunks(
    path: Path, encoding: str, delimiter: str, fields: int, index: Mapping[str, int], chunk: int, arrays: bool = False
) -> Iterator[dict[str, Any]]:
    """``{column: values}`` chunks of at most ``chunk`` rows of the ``index`` columns (name → position):
    lists, or pyarrow string arrays when ``arrays``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"f{i}" for i in range(fields)]
    wanted = {column: names[i] for column, i in index.items()}
    read = pacsv.ReadOptions(
        column_names=names,
        skip_rows=1,  # the header
        block_size=BLOCK,
        encoding="utf8" if encoding.replace("_", "-").lower() in ("utf-8", "utf-8-sig", "utf8") else encoding,
    )
    parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)  # a quoted value may hold a newline
    convert = pacsv.ConvertOptions(
        include_columns=sorted(set(wanted.values())),
        column_types={n: pa.string() for n in set(wanted.values())},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    done = 0
    try:
        # A Python file, not the path: given a path, pyarrow reads ahead as far as it can (most of a
        # 235 MB file held in memory while the rows are hashed); through a file object, a block or two.
        with path.open("rb") as source:
            reader = pacsv.open_csv(source, read_options=read, parse_options=parse, convert_options=convert)
            for batch in reader:
                for start in range(0, batch.num_rows, chunk):
                    piece = batch.slice(start, chunk)  # no copy: the Python lists are made once, per chunk
                    values = {n: piece.column(piece.schema.get_field_index(n)) for n in set(wanted.values())}
                    if not arrays:
                        values = {n: v.to_pylist() for n, v in values.items()}
                    yield {c: values[n] for c, n in wanted.items()}
                    done += piece.num_rows
    except (pa.ArrowException, UnicodeError, OSError, ValueError) as exc:
        raise Fallback(done, f"{type(exc).__name__}: {exc}") from None
