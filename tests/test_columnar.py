"""The column-wise path (Arrow arrays in, 64-byte fields out) gives exactly hash_batch's results, and the C
module's new functions give their Python references' answers."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from identity.test_identity_properties import email_like, phone_like  # the identity tests' strategies

from fbsync.identity import KEYS, UNHASHED_KEYS, hash_batch
from fbsync.identity._text import MAX_TEXT
from fbsync.identity.geo import default_region
from fbsync.identity.hashing import c_function, python_hex_lines
from fbsync.identity.lines import blank_lines, leftover_lines
from fbsync.identity.person import EMAIL_FAST_LINE
from fbsync.sources import columnar

REQUIRE_FAST = os.environ.get("FBSYNC_REQUIRE_FASTHASH") == "1"
pytestmark = pytest.mark.skipif(
    not columnar.usable(["EMAIL"]) and not REQUIRE_FAST,
    reason="the optional C module is not built here (no compiler or OpenSSL headers)",
)
C = {
    name: c_function(name)
    for name in ("ascii_lines", "sha256_hex_block", "email_suspects", "csv_rows", "line_numbers", "field_rows")
}
HASHED = [k for k in KEYS if k not in UNHASHED_KEYS]
PY_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
THOROUGH = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_module_is_built_where_required() -> None:
    if REQUIRE_FAST:
        assert columnar.usable(HASHED)


def test_only_hashed_keys_go_column_wise() -> None:
    assert not columnar.usable(["EMAIL", "MADID"])
    assert not columnar.usable(["EXTERN_ID"])
    assert not columnar.usable([])
    with pytest.raises(ValueError, match="SHA-256"):
        columnar.hash_arrow({"MADID": ["x"]}, None)


# ---------------------------------------------------------------------------------------------- C functions
def _reference_lines(values: list[str | None], lower: bool) -> tuple[bytes, list[int]]:
    """What ascii_lines must give: lines.ascii_buffer's lines, with the rows it blanks for the per-value path."""
    lines, flagged = [], []
    for i, value in enumerate(values):
        stripped = (value or "").strip(PY_SPACE)
        plain = stripped.isascii() and len(stripped) <= MAX_TEXT and "\n" not in stripped
        if stripped and not plain:
            flagged.append(i)
        line = stripped if plain else ""
        lines.append(line.lower() if lower and line.isascii() else line)
    return "\n".join(lines).encode(), flagged


cells = st.one_of(
    st.none(),
    email_like(),
    phone_like(),
    st.text(alphabet=st.sampled_from(list(PY_SPACE + "aZ@.é\u00a0\u2003-+0")), max_size=8),
    st.text(max_size=6),
    st.just("x" * (MAX_TEXT + 1)),
    st.just(" " + "y" * MAX_TEXT + " "),
)


@THOROUGH
@given(st.lists(cells, max_size=30), st.integers(0, 3), st.booleans())
@example(["", None, " a@B.fr ", "é@x.fr", "a\nb", "\x1c A@B.COM\x1f", "\u00a0jean@x.fr"], 0, True)
def test_ascii_lines_is_the_stripped_ascii_buffer(values: list[str | None], cut: int, lower: bool) -> None:
    array = pa.array(["pad"] * cut + values, pa.string()).slice(cut)  # an offset into the buffers
    validity, offsets, data = array.buffers()
    got = C["ascii_lines"](offsets, data or b"", validity, array.offset, len(array), lower, MAX_TEXT)
    assert got == _reference_lines(values, lower)


def test_ascii_lines_refuses_buffers_that_do_not_fit() -> None:
    array = pa.array(["abc", "de"])
    _, offsets, data = array.buffers()
    with pytest.raises(ValueError):
        C["ascii_lines"](offsets, data, None, 0, 5, False, MAX_TEXT)  # more rows than offsets
    with pytest.raises(ValueError):
        C["ascii_lines"](offsets, b"ab", None, 0, 2, False, MAX_TEXT)  # offsets past the data


@THOROUGH
@given(st.lists(st.text(alphabet="abz09.@-_+!'`{}~#A \t\x00é", max_size=12), max_size=30))
@example(["a@b.fr", "x", "", "bad@x", "ok.ok@a-b.c_d.fr", "a@@b.fr", ".@a.b", "a@.b", "a@b.", "@a.b"])
def test_email_suspects_is_the_fast_regex(lines: list[str]) -> None:
    data = "\n".join(lines).encode()
    expected = leftover_lines(EMAIL_FAST_LINE.sub(b"", data), len(lines)) if lines else []
    assert C["email_suspects"](data) == expected


@given(st.lists(st.sampled_from(["", "a", "bc", "\x00"]), min_size=1, max_size=30))
def test_line_numbers_are_the_empty_and_non_empty_lines(lines: list[str]) -> None:
    data = "\n".join(lines).encode()
    assert C["line_numbers"](data, True) == blank_lines(data) == [i for i, x in enumerate(lines) if not x]
    assert C["line_numbers"](data, False) == [i for i, x in enumerate(lines) if x]


@given(st.lists(st.binary(max_size=80).map(lambda b: b.replace(b"\n", b"")), max_size=20), st.binary(max_size=4))
def test_hex_block_is_hex_lines_in_one_buffer(lines: list[bytes], prefix: bytes) -> None:
    data = b"\n".join(lines)
    hexes = python_hex_lines(data, prefix, 3)
    assert C["sha256_hex_block"](data, prefix, 3) == "".join(hexes).encode()
    zeroed = C["sha256_hex_block"](data, prefix, 3, zero_empty=True)
    for i, line in enumerate(data.split(b"\n")):
        assert zeroed[64 * i : 64 * i + 64] == (bytes(64) if not line else hexes[i].encode())


def test_csv_rows_writes_fields_and_indexed_fields_and_leaves_out_rows() -> None:
    a, b = (hashlib.sha256(x).hexdigest().encode() for x in (b"a", b"b"))
    plain = a + bytes(64) + b
    indexed = (b + a, pa.array([1, 0, 1], pa.int32()).buffers()[1])
    assert C["csv_rows"]([plain, indexed], None).split(b"\n") == [a + b"," + a, b"," + b, b + b"," + a, b""]
    assert C["csv_rows"]([plain, indexed], b"\x01\x00\x01") == a + b"," + a + b"\n" + b + b"," + a + b"\n"
    assert C["csv_rows"]([], None) == b""


@pytest.mark.parametrize(
    "columns",
    [
        [b"x" * 63],  # not whole fields
        [b"x" * 64, b"x" * 128],  # not the same rows
        [(b"x" * 64, pa.array([0, 1], pa.int32()).buffers()[1])],  # an index past the fields
        [(b"x" * 64, pa.array([-1], pa.int32()).buffers()[1])],
    ],
)
def test_csv_rows_refuses_columns_that_do_not_fit(columns: list[object]) -> None:
    with pytest.raises(ValueError):
        C["csv_rows"](columns, None)
    with pytest.raises(ValueError):
        C["field_rows"](columns, None)
    with pytest.raises(ValueError):
        C["csv_rows"]([b"x" * 64], b"\x01\x01")  # keep: one byte per row


# ---------------------------------------------------------------------------------------------- hash_arrow
def _same_as_hash_batch(columns: dict[str, list[object]], country: str | None, offset: int = 0) -> None:
    arrays = {k: pa.array([None] * offset + v, pa.string()).slice(offset) for k, v in columns.items()}
    block = columnar.hash_arrow(arrays, default_region(country))
    batch = hash_batch(columns, country)
    assert block.schema == batch.schema
    assert block.csv() == "".join(",".join(row) + "\n" for row in batch.rows).encode()
    assert block.dropped_rows == batch.dropped_rows
    assert block.written_rows == len(batch.rows)
    assert block.counters.empty == batch.empty
    assert block.counters.invalid == batch.invalid
    assert block.counters.examples == batch.examples
    rows = block.batch()
    assert (rows.rows, rows.kept_index, rows.dropped_rows, rows.input_rows) == (
        batch.rows,
        batch.kept_index,
        batch.dropped_rows,
        batch.input_rows,
    )
    assert (rows.empty, rows.invalid, rows.examples, rows.schema) == (
        batch.empty,
        batch.invalid,
        batch.examples,
        batch.schema,
    )


texts = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["Élodie", " jean ", "PARIS", "75001", "fr", "f"]))
CELLS = {"EMAIL": st.one_of(email_like(), texts), "PHONE": st.one_of(phone_like(), texts)}


@st.composite
def text_columns(draw: st.DrawFn) -> dict[str, list[object]]:
    keys = draw(st.lists(st.sampled_from(HASHED), min_size=1, max_size=5, unique=True))
    size = draw(st.integers(1, 30))
    return {k: draw(st.lists(CELLS.get(k, texts), min_size=size, max_size=size)) for k in keys}


@THOROUGH
@given(text_columns(), st.sampled_from([None, "FR", "US", "BE", "RE"]), st.integers(0, 2))
def test_hash_arrow_is_hash_batch(columns: dict[str, list[object]], country: str | None, offset: int) -> None:
    _same_as_hash_batch(columns, country, offset)


def test_hash_arrow_on_the_hostile_values() -> None:
    hostile = [
        " Jean.Dupont@Orange.FR ", "JEAN@ORANGE.FR", "pas un email", "", None, "\u00a0a@b.fr", "é@x.fr",
        "a\nb@x.fr", "x" * 2000, "0612345678", "+33 6 12 34 56 78", "06-12-34-56-78", "--", "n/a",
        "a" * 64, "A" * 64, "\x00", "\u200ba@b.fr", "=cmd|' /C calc'!A0", "'; DROP TABLE x; --",
    ]  # fmt: skip
    for country in (None, "FR", "US"):
        _same_as_hash_batch({k: list(hostile) for k in ("EMAIL", "PHONE", "FN", "LN", "CT", "ZIP", "COUNTRY")}, country)
        _same_as_hash_batch({"EMAIL": list(hostile), "DOBY": list(hostile), "GEN": list(hostile)}, country)


def test_hash_arrow_takes_lists_chunked_arrays_and_no_rows() -> None:
    emails = ["a@b.fr", None, "x"]
    region = default_region("FR")
    expected = columnar.hash_arrow({"EMAIL": pa.array(emails)}, region).csv()
    assert columnar.hash_arrow({"EMAIL": emails}, region).csv() == expected
    assert columnar.hash_arrow({"EMAIL": pa.chunked_array([emails[:1], emails[1:]])}, region).csv() == expected
    assert columnar.hash_arrow({"EMAIL": pa.array(emails, pa.large_string())}, region).csv() == expected
    empty = columnar.hash_arrow({"EMAIL": pa.array([], pa.string()), "FN": []}, region)
    assert (empty.csv(), empty.input_rows, empty.dropped_rows) == (b"", 0, 0)
    with pytest.raises(ValueError, match="same length"):
        columnar.hash_arrow({"EMAIL": ["a@b.fr"], "FN": []}, region)


def test_values_that_are_not_text_take_the_per_value_path() -> None:
    columns: dict[str, list[object]] = {"DOBY": [1985, None, "1990"], "ZIP": [75001, 13.0, "75002"]}
    block = columnar.hash_arrow(columns, None)
    assert block.csv() == "".join(",".join(r) + "\n" for r in hash_batch(columns).rows).encode()


def test_a_row_with_no_usable_key_is_left_out() -> None:
    block = columnar.hash_arrow({"EMAIL": ["a@b.fr", "nope", None], "FN": ["Jean", None, ""]}, None)
    assert block.dropped_rows == 2 and block.written_rows == 1
    assert re.fullmatch(rb"[0-9a-f]{64},[0-9a-f]{64}\n", block.csv())


def test_a_reader_that_needs_python_values_gets_lists(tmp_path: Path) -> None:
    """Arrow arrays reach only the hashing: with a consent column (read value by value) they become lists."""
    from fbsync.read import Reader, Spec
    from fbsync.sources.crm import Chunk
    from fbsync.state.crypto import EphemeralCipher
    from fbsync.state.staging import Staging

    chunk = Chunk({"email": pa.array(["a@b.fr", "c@d.fr", None]), "ok": pa.array(["yes", "no", "yes"])}, 3)
    for consent, kept in ((None, 2), ("ok", 1)):
        reader = Reader(None, None, EphemeralCipher(), None, tmp_path)  # type: ignore[arg-type]
        stg = Staging(tmp_path)
        try:
            result = reader.chunks(Spec("a", {"EMAIL": "email"}, consent=consent, country="FR"), [chunk], stg)
        finally:
            stg.close()
        assert (result.rows_read, result.rows_desired) == (3, kept)


@given(
    st.lists(
        st.tuples(email_like(), phone_like(), st.sampled_from(["Jean", " Élodie ", "", None, "x\ny", "José"])),
        min_size=1,
        max_size=40,
    )
)
@THOROUGH
@example([("a@b.fr", "+33 6 12 34 56 78", "Jean")] * 3 + [(None, None, None), ("nope", "12", "")])
def test_a_plan_read_seals_the_fields_into_what_the_row_path_stages(people: list[tuple]) -> None:
    """A chunk that needs nothing but hashing is sealed straight from its fields (no tuple per row); the
    staged rows, the counters and the match-rate patterns are those of the row path for the same values."""
    import tempfile

    from fbsync.read import Reader, Spec
    from fbsync.sources.crm import Chunk
    from fbsync.state.crypto import EphemeralCipher
    from fbsync.state.staging import Staging

    names = ("email", "phone", "first")
    columns = {n: [p[i] for p in people] for i, n in enumerate(names)}
    spec = Spec("a", {"EMAIL": "email", "PHONE": "phone", "FN": "first"}, country="FR")
    cipher = EphemeralCipher()
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for chunk_columns in ({n: pa.array(v, pa.string()) for n, v in columns.items()}, columns):
            reader = Reader(None, None, cipher, None, Path(tmp))  # type: ignore[arg-type]
            with Staging(Path(tmp)) as stg:
                result = reader.chunks(spec, [Chunk(chunk_columns, len(people))], stg)
                staged = sorted(cipher.decrypt(row) for batch in stg.iter_desired(7) for _, row in batch)
                fps = [fp for batch in stg.iter_desired(7) for fp, _ in batch]
            found.append((result, staged, fps))
    (sealed, sealed_rows, sealed_fps), (by_rows, rows, row_fps) = found
    assert sealed == by_rows and sealed_rows == rows and sealed_fps == row_fps


def test_a_plan_read_of_arrow_chunks_seals_them_without_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrow chunks needing only hashing never become HashedBatch rows; lists, or a suppression list, do."""
    from fbsync.identity.batch import HashedBatch
    from fbsync.read import Reader, Spec
    from fbsync.sources.crm import Chunk
    from fbsync.state.crypto import EphemeralCipher
    from fbsync.state.staging import Staging
    from fbsync.suppression import Suppression

    calls: list[int] = []
    original = columnar.Block.batch

    def spy(self: columnar.Block) -> HashedBatch:
        calls.append(self.input_rows)
        return original(self)

    monkeypatch.setattr(columnar.Block, "batch", spy)
    cipher = EphemeralCipher()
    spec = Spec("a", {"EMAIL": "email"}, country="FR")
    chunk = Chunk({"email": pa.array(["a@b.fr", "c@d.fr"])}, 2)
    blocked = Suppression(cipher)
    blocked.add_rows(("EMAIL",), [(hashlib.sha256(b"c@d.fr").hexdigest(),)], "test")
    for suppression, batches in ((None, 0), (blocked, 1)):
        reader = Reader(None, None, cipher, suppression, tmp_path)  # type: ignore[arg-type]
        with Staging(tmp_path) as stg:
            result = reader.chunks(spec, [chunk], stg)
        assert len(calls) == batches
        assert result.rows_desired == 2 - batches  # the suppressed person is left out


def test_dictionary_indices_are_read_off_their_buffers_nulls_and_slices_included() -> None:
    import pyarrow.compute as pc

    values = pa.array(["a", None, "b", "a", None, "c", "b"] * 3)
    for start, length in ((0, 21), (1, 9), (5, 3), (20, 1), (7, 0)):
        encoded = pc.dictionary_encode(values.slice(start, length))
        expected = [len(encoded.dictionary) if i is None else i for i in encoded.indices.to_pylist()]
        assert columnar._filled(encoded.indices, len(encoded.dictionary)).tolist() == expected


def test_hashing_arrow_columns_does_not_import_pandas() -> None:
    """pyarrow imports pandas (most of a second) the first time pa.array() or fill_null() runs; the
    column-wise path avoids both, so a plan or a file hash does not pay for it."""
    import subprocess
    import sys

    code = (
        "import io, sys, pyarrow.csv as c\n"
        "from fbsync.sources import columnar\n"
        "data = 'e,p,f\\na@b.fr,06 12 34 56 78,Jean\\nnope,+262 692 12 34 56,\\n,x,Zoé\\n'.encode()\n"
        "t = c.read_csv(io.BytesIO(data), convert_options=c.ConvertOptions(strings_can_be_null=True))\n"
        "columnar.hash_block({'EMAIL': t.column(0), 'PHONE': t.column(1), 'FN': t.column(2)}, 'FR').batch()\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_cursors_text_becomes_arrow_arrays_and_hashes_as_the_lists_do(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite and MariaDB give lists: their text is hashed column-wise too (numbers stay lists, small
    chunks are left alone), with hash_batch's results."""
    columns = {
        "EMAIL": ["a@b.fr", None, "bad", " C@D.FR "] * 3,
        "ZIP": [75001, None, "75002", 13001] * 3,  # not all text: stays a list
        "FN": ["Zoé", "", None, "Jean"] * 3,
    }
    assert columnar.arrow_text(columns) == columns  # 12 rows: under ARROW_FROM
    monkeypatch.setattr(columnar, "ARROW_FROM", 10)
    converted = columnar.arrow_text(columns)
    assert isinstance(converted["EMAIL"], pa.Array) and isinstance(converted["FN"], pa.Array)
    assert converted["ZIP"] is columns["ZIP"]
    block = columnar.hash_block(converted, "FR")
    assert block is not None
    fast, slow = block.batch(), hash_batch(columns, "FR")
    assert (fast.rows, fast.kept_index, fast.empty, fast.invalid, fast.examples) == (
        slow.rows, slow.kept_index, slow.empty, slow.invalid, slow.examples
    )  # fmt: skip
    assert columnar.arrow_text({"MADID": ["x"] * 20}) == {"MADID": ["x"] * 20}  # not hashed: never converted
