"""Customer files, through ``fbsync hash`` as a user runs it: one reading path (also upload's and the
suppression files'), one sentence and exit 2 for a file it cannot use, never a traceback, never a value of
the file in a message; French Excel files (``;``, cp1252) just work; the output is written atomically."""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import random
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fbsync import identity
from fbsync.cli import app
from fbsync.errors import ConfigError
from fbsync.identity.mask import mask, visible
from fbsync.outfile import open_out
from fbsync.sources.files import FileReport, hash_file, header_mapping, read_columns
from fbsync.state.crypto import RowCipher
from fbsync.suppression import Suppression, _add_file

runner = CliRunner()
SHA = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731


def hash_cli(path: Path, *args: str) -> Any:
    """``fbsync hash PATH ARGS``: never a traceback, whatever the file."""
    r = runner.invoke(app, ["hash", str(path), *args])
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert "Traceback" not in r.output, r.output
    return r


def refused(r: Any, *words: str) -> None:
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("✗ ") and r.stderr.count("\n") == 1, r.stderr  # one sentence
    for w in words:
        assert w in r.stderr, r.stderr


def rows_of(out: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))


def error_of(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ConfigError) as info:
        result = fn(*args, **kwargs)
        if hasattr(result, "__next__"):
            list(result)
    return str(info.value)


# ---------------------------------------------------------------------------- files it cannot use
RNG = random.Random(7)
UNUSABLE = {
    "empty": (b"", "the file is empty (0 bytes)"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + RNG.randbytes(500), "it is a PNG image, not a CSV"),
    "random bytes": (RNG.randbytes(4000), "it is not a text file (it holds binary data)"),
    "xlsx": (b"PK\x03\x04\x14\x00\x06\x00" + RNG.randbytes(200), "save it as «CSV UTF-8»"),
    "neither utf-8 nor cp1252": (b"email\na\x81b@x.fr\n", "neither UTF-8 nor Windows-1252"),
    "mixed encodings": ("email\nhélène@x.fr\n".encode() + "andré@x.fr\n".encode("cp1252"), "a mix of encodings"),
    "only blank lines": (b"\n\r\n\n", "no header line"),
}


@pytest.mark.parametrize("name", list(UNUSABLE))
def test_a_file_hash_cannot_read_is_one_sentence(tmp_path: Path, name: str) -> None:
    data, words = UNUSABLE[name]
    path = tmp_path / "clients.csv"
    path.write_bytes(data)
    r = hash_cli(path, "--map", "EMAIL=email")
    refused(r, words, str(path))
    assert r.stdout == ""  # not even Meta's header line
    assert "hélène" not in r.output and "andr" not in r.output


def test_a_folder_or_a_missing_file(tmp_path: Path) -> None:
    refused(hash_cli(tmp_path, "--map", "EMAIL=email"), "it is a folder")
    refused(hash_cli(tmp_path / "nope.csv", "--map", "EMAIL=email"), "no such file")


def test_a_parquet_name_on_a_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clients.parquet"
    path.write_text("email\na@b.fr\n")
    refused(hash_cli(path, "--map", "EMAIL=email"), "not a Parquet file")


# ---------------------------------------------------------------------------- Excel's files just work
PEOPLE = [("Hélène.Dupré@exemple.fr", "06 12 34 56 78", "Hélène"), ("marc@exemple.fr", "07 00 00 00 01", "Marc")]


def expected(people: list[tuple[str, str, str]]) -> list[list[str]]:
    b = identity.hash_batch(
        {"EMAIL": [p[0] for p in people], "PHONE": [p[1] for p in people], "FN": [p[2] for p in people]}, "FR"
    )
    return [[k.lower() for k in b.schema], *map(list, b.rows)]


@pytest.mark.parametrize(
    "encoding, sep, said",
    [
        ("cp1252", ";", "cp1252"),  # Excel "CSV (séparateur: point-virgule)" in France
        ("utf-8-sig", ";", None),  # Excel "CSV UTF-8"
        ("utf-8", ",", None),
        ("utf-16", "\t", None),  # Excel "Texte Unicode"
        ("utf-8", "|", None),
        ("latin-1", ";", "cp1252"),  # latin-1 and cp1252 agree on French letters
    ],
)
def test_french_excel_files_just_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, encoding: str, sep: str, said: str | None
) -> None:
    caplog.set_level(logging.INFO, logger="fbsync")
    path, out = tmp_path / "clients.csv", tmp_path / "out.csv"
    text = "\r\n".join(sep.join(r) for r in [("Email", "Téléphone", "Prénom"), *PEOPLE]) + "\r\n"
    path.write_bytes(text.encode(encoding))
    args = ["--map", "EMAIL=email", "--map", "PHONE=téléphone", "--map", "FN=PRÉNOM", "--default-country", "FR"]
    r = hash_cli(path, *args, "-o", str(out))
    assert r.exit_code == 0, r.output
    assert rows_of(out) == expected(PEOPLE)
    assert "2 rows read, 2 written" in r.stderr
    warnings = [m.getMessage() for m in caplog.records if m.levelno >= logging.WARNING]
    if said:
        assert any("is not UTF-8: read it as Windows-1252" in w for w in warnings), warnings
    else:
        assert not warnings


def test_delimiter_and_encoding_can_be_given(tmp_path: Path) -> None:
    path = tmp_path / "clients.txt"
    path.write_bytes("email:prénom\nhélène@x.fr:Hélène\n".encode("latin-1"))
    out = io.StringIO()
    totals = hash_file(path, {"EMAIL": "email", "FN": "prénom"}, out, None, delimiter=":", encoding="latin-1")
    assert totals["rows_written"] == 1 and totals["read_as"] == "CSV (':'-separated, iso8859-1)"
    want = [identity.hash_one("EMAIL", "hélène@x.fr", None)[0], identity.hash_one("FN", "Hélène", None)[0]]
    assert out.getvalue().splitlines()[1] == ",".join(str(w) for w in want)
    for word, sep in (("semicolon", ";"), ("tab", "\t"), ("\\t", "\t"), ("pipe", "|"), (";", ";")):
        path.write_text(f"email{sep}x\na@b.fr{sep}1\n")
        assert list(read_columns(path, ["email"], delimiter=word)) == [{"email": ["a@b.fr"]}]
    assert "--delimiter 'ab': give one character" in error_of(read_columns, path, ["email"], delimiter="ab")
    assert "--encoding 'klingon': unknown encoding" in error_of(read_columns, path, ["email"], encoding="klingon")
    path.write_bytes("email\nhélène@x.fr\n".encode("cp1252"))
    msg = error_of(read_columns, path, ["email"], encoding="utf-8")
    assert "line 2 is not UTF-8 text; give the file's encoding with --encoding" in msg and "hélène" not in msg


def test_a_wrong_delimiter_is_named_with_the_options(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("email,phone\n" + "".join(f"c{i}@x.fr;06 12 34 56 {i:02d}\n" for i in range(20)))
    r = hash_cli(path, "--map", "EMAIL=email")
    refused(r, "most rows (20 of 20) do not have the header's 2 fields", "--delimiter", "--encoding")
    assert "@x.fr" not in r.output


# ---------------------------------------------------------------------------- no value in a message
def test_a_header_less_file_is_never_echoed(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("jean.dupont@exemple.fr,0612345678\nmarie.curie@exemple.fr,0698765432\n")
    r = hash_cli(path, "--map", "EMAIL=email")
    refused(r, "no column 'email': its first line does not look like column names", "an e-mail address")
    assert "add a header line such as email,phone" in r.stderr
    for value in ("jean", "dupont", "0612345678", "612345678", "marie"):
        assert value not in r.output
    msg = error_of(header_mapping, path)  # upload without --map
    assert msg.endswith(
        "(it holds an e-mail address and a phone number); add a header line such as email,phone, or give --map."
    )
    assert "jean" not in msg and "0612345678" not in msg


def test_echoed_column_names_are_masked_and_visible(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("courriel,Nom\x1b[31m, pad \na@b.fr,x,y\n")
    msg = error_of(read_columns, path, ["email"])
    assert (
        "the file has the columns courriel, Nom\\x1b[31m, ' pad ' (read as CSV (','-separated, UTF-8)); fix --map."
        in msg
    )
    assert "\x1b" not in msg
    path.write_text("mail\na@b.fr\n")  # one column: maybe another delimiter
    assert "one column, mail (read as" in error_of(read_columns, path, ["email"])
    assert "or give --delimiter" in error_of(read_columns, path, ["email"])


emails = st.from_regex(r"[a-z][a-z0-9._-]{2,14}@[a-z]{2,10}\.(fr|com|net|org)", fullmatch=True)
phones = st.one_of(
    st.from_regex(r"(\+33 ?|0)[1-9]( ?[0-9]{2}){4}", fullmatch=True),
    st.integers(10**6, 10**12).map(str),
)


@st.composite
def header_less(draw: Any) -> tuple[str, list[str]]:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    drawn = draw(st.lists(st.tuples(emails, phones, st.booleans()), min_size=1, max_size=6))
    rows = [[e, p] if email_first else [p, e] for e, p, email_first in drawn]
    cells = [c for row in rows for c in row]
    return "".join(sep.join(row) + "\n" for row in rows), cells


@given(case=header_less())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_value_of_a_header_less_file_is_ever_in_a_message(tmp_path: Path, case: tuple[str, list[str]]) -> None:
    text, cells = case
    path = tmp_path / "clients.csv"
    path.write_text(text)
    messages = [
        error_of(header_mapping, path),
        error_of(read_columns, path, ["email"]),
        error_of(read_columns, path, ["email", "PHONE"]),
    ]
    r = hash_cli(path, "--map", "EMAIL=email", "--map", "PHONE=phone")
    assert r.exit_code == 2, r.output
    for text_out in (*messages, r.output):
        for cell in cells:
            assert cell not in text_out and cell.strip() not in text_out, (cell, text_out)
    assert all("does not look like column names" in m for m in messages)


# ---------------------------------------------------------------------------- column names
def test_column_names_ignore_case_and_spaces_like_upload(tmp_path: Path) -> None:
    path, out = tmp_path / "clients.csv", tmp_path / "out.csv"
    path.write_text(" Email ;TEL\nmary@example.com;+33 6 12 34 56 78\n")
    r = hash_cli(path, "--map", "EMAIL=EMAIL", "--map", "PHONE=tel", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert rows_of(out)[1] == [SHA("mary@example.com"), SHA("33612345678")]
    assert header_mapping(path) == {"EMAIL": " Email "}  # upload's default: columns named after Meta keys


def test_an_exact_name_wins_and_an_ambiguous_one_is_refused(tmp_path: Path) -> None:
    path, out = tmp_path / "clients.csv", tmp_path / "out.csv"
    path.write_text("email,Email\nfirst@x.fr,second@x.fr\n")
    assert hash_cli(path, "--map", "EMAIL=Email", "-o", str(out)).exit_code == 0
    assert rows_of(out)[1] == [SHA("second@x.fr")]
    path.write_text("Email,EMAIL\nfirst@x.fr,second@x.fr\n")
    refused(
        hash_cli(path, "--map", "EMAIL=email"),
        "2 columns are named email when case and spaces are ignored (Email, EMAIL); rename all but one",
    )
    path.write_text("email,email\nfirst@x.fr,second@x.fr\n")
    refused(hash_cli(path, "--map", "EMAIL=email"), "2 columns are named email; rename all but one")
    path.write_text("Email,EMAIL\nfirst@x.fr,second@x.fr\n")
    assert "the columns Email and EMAIL are both EMAIL" in error_of(header_mapping, path)


def test_parquet_columns_match_the_same_way(tmp_path: Path) -> None:
    path, out = tmp_path / "clients.parquet", tmp_path / "out.csv"
    pd.DataFrame({"Email": ["mary@example.com"], "x": [1]}).to_parquet(path)
    r = hash_cli(path, "--map", "EMAIL=email", "-o", str(out))
    assert r.exit_code == 0 and rows_of(out)[1] == [SHA("mary@example.com")]
    refused(
        hash_cli(path, "--map", "EMAIL=mail"), "no column 'mail'; the file has the columns Email, x (read as Parquet)"
    )


# ---------------------------------------------------------------------------- ragged rows
def test_ragged_rows_are_skipped_and_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="fbsync")
    path, out = tmp_path / "clients.csv", tmp_path / "out.csv"
    good = [f"c{i}@x.fr,06 12 34 56 {i:02d}" for i in range(10)]
    lines = ["email,phone", *good[:3], "bad@x.fr,06 00 00 00 00,extra", *good[3:6], "short@x.fr", *good[6:]]
    lines += ["trailing@x.fr,06 11 11 11 11,,", ""]  # empty extra fields (Excel) are fine
    path.write_text("\n".join(lines))
    r = hash_cli(path, "--map", "EMAIL=email", "--map", "PHONE=phone", "--default-country", "FR", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert len(rows_of(out)) == 1 + 11 and "13 rows read, 11 written" in r.stderr
    assert "clients.csv: 2 rows skipped as malformed (lines 5, 9): not the header's 2 fields" in caplog.text
    assert "bad@x.fr" not in caplog.text + r.output and "short" not in caplog.text + r.output
    totals = hash_file(path, {"EMAIL": "email"}, io.StringIO(), None)
    assert (totals["rows_read"], totals["rows_malformed"], totals["malformed_lines"]) == (13, 2, [5, 9])
    report = FileReport()
    path.write_text("email,name\n" + "a@b.fr,A\n" * 6 + "x\n" * 5)
    assert sum(len(c["email"]) for c in read_columns(path, ["email"], report=report)) == 6
    assert report.notes() == ["5 rows skipped as malformed (lines 8, 9, 10, …): not the header's 2 fields"]


def test_a_file_mostly_ragged_after_the_first_64_kb_is_refused_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fbsync.sources.files.CHUNK", 1_000)  # chunks are written before the refusal
    path, out = tmp_path / "clients.csv", tmp_path / "out.csv"
    out.write_text("the previous output\n")
    good = "".join(f"client.{i}@exemple.fr,06 12 34 {i % 100:02d} 00\n" for i in range(3_000))  # > 64 KB
    path.write_text("email,phone\n" + good + "a,b,c\n" * 4_000)
    r = hash_cli(path, "--map", "EMAIL=email", "-o", str(out))
    refused(r, "most rows (4,000 of 7,000)")
    assert out.read_text() == "the previous output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.csv", "out.csv"]  # no temporary file left


# ---------------------------------------------------------------------------- the output
def test_output_onto_a_folder_or_into_a_missing_one(tmp_path: Path) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("email\na@b.fr\n")
    refused(hash_cli(path, "--map", "EMAIL=email", "-o", str(tmp_path)), f"cannot write {tmp_path}: it is a directory")
    missing = tmp_path / "nope" / "out.csv"
    refused(
        hash_cli(path, "--map", "EMAIL=email", "-o", str(missing)),
        f"cannot write {missing}: the folder does not exist or is not writable",
    )
    assert not missing.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in read-only folders")
def test_output_into_a_read_only_folder(tmp_path: Path) -> None:
    path, folder = tmp_path / "clients.csv", tmp_path / "ro"
    path.write_text("email\na@b.fr\n")
    folder.mkdir(mode=0o500)
    refused(hash_cli(path, "--map", "EMAIL=email", "-o", str(folder / "out.csv")), "is not writable")


def test_output_is_replaced_atomically_keeping_its_permissions(tmp_path: Path) -> None:
    path, out = tmp_path / "clients.csv", tmp_path / "out.csv"
    path.write_text("email\na@b.fr\n")
    out.write_text("old\n")
    out.chmod(0o640)
    assert hash_cli(path, "--map", "EMAIL=email", "-o", str(out)).exit_code == 0
    assert rows_of(out) == [["email"], [SHA("a@b.fr")]] and out.stat().st_mode & 0o777 == 0o640
    new = tmp_path / "new.csv"
    with pytest.raises(RuntimeError), open_out(new) as stream:
        stream.write("partial\n")
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clients.csv", "out.csv"]
    with open_out(new) as stream:
        stream.write("done\n")
    assert new.read_text() == "done\n"
    assert hash_cli(path, "--map", "EMAIL=email", "-o", os.devnull).exit_code == 0


def test_a_header_only_file_gives_metas_header(tmp_path: Path) -> None:
    path, out = tmp_path / "clients.csv", tmp_path / "out.csv"
    path.write_text("email;phone\n")
    r = hash_cli(path, "--map", "PHONE=phone", "--map", "EMAIL=email", "-o", str(out))
    assert r.exit_code == 0 and rows_of(out) == [["email", "phone"]]


# ---------------------------------------------------------------------------- suppression files
def test_suppression_files_read_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "optout.csv"
    path.write_bytes("Email;Nom\nhélène@exemple.fr;Dupré\n".encode("cp1252"))
    s = Suppression(RowCipher(b"k" * 32))
    _add_file(s, path, None)
    assert s.sources == {"optout.csv": 1}
    path.write_text("jean.dupont@exemple.fr,0612345678\n")
    msg = error_of(_add_file, s, path, None)
    assert msg.startswith(f"suppression file {path}: its first line does not look like column names")
    assert msg.endswith("add a header line such as email,phone.") and "jean" not in msg
    path.write_text("courriel\nx@y.fr\n")
    assert "no column is named after a Meta key" in error_of(_add_file, s, path, None)
    assert "name them after Meta keys" in error_of(_add_file, s, path, None)


# ---------------------------------------------------------------------------- masks
def test_masks_show_control_characters_visibly() -> None:
    assert mask("EMAIL", "\x00jean@exemple.fr") == "\\x00***@e***.fr"
    assert mask("PHONE", "06\x0012345678") == "06\\x00******78"
    assert mask("FN", "\x1b[31mZoé") == "\\x1b[******"
    assert mask("FN", "\u202eabc") == "\\u202ea**"
    assert visible("ok\tthen\r\n") == "ok\\tthen\\r\\n" and visible("Zoé") == "Zoé"
    batch = identity.hash_batch({"EMAIL": ["nul\x00@x", "bell\x07"], "PHONE": ["\x00\x00 12", "1"]})
    examples = [m for ms in batch.examples.values() for m in ms]
    assert examples and all(m.isprintable() for m in examples), examples


@given(key=st.sampled_from(identity.KEYS), value=st.text(min_size=1))
def test_a_mask_never_holds_a_control_character(key: str, value: str) -> None:
    hidden = {"Cc", "Cf", "Zl", "Zp", "Cs"}
    assert not any(unicodedata.category(c) in hidden for c in mask(key, value)), mask(key, value)


# ---------------------------------------------------------------------------- fuzz
@st.composite
def csv_files(draw: Any) -> tuple[bytes, list[str]]:
    """Random CSV-ish bytes: e-mails among random text, a random delimiter, header, encoding and damage."""
    people = draw(st.lists(emails, max_size=8))
    sep = draw(st.sampled_from([",", ";", "\t", "|", " ", ":"]))
    cells = people + draw(st.lists(st.text(max_size=10), max_size=8))
    cells = draw(st.permutations(cells)) if cells else cells
    width = draw(st.integers(1, 4))
    rows = [cells[i : i + width] for i in range(0, len(cells), width)]
    header = draw(st.sampled_from([None, ["email"], [" EMAIL "], ["mail", "x"], ["email", "phone", "fn"]]))
    if draw(st.booleans()):
        rows = [[f'"{c}"' if draw(st.booleans()) else c for c in r] for r in rows]
    text = draw(st.sampled_from(["\n", "\r\n", "\r"])).join(sep.join(r) for r in ([header] if header else []) + rows)
    data = text.encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"])), "replace")
    damage = draw(st.sampled_from(["none", "insert", "truncate", "binary"]))
    if damage == "insert":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=16)) + data[at:]
    elif damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif damage == "binary":
        data = draw(st.binary(max_size=300))
    return data, people


@given(case=csv_files())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzz_hash_never_crashes_nor_leaks(tmp_path: Path, case: tuple[bytes, list[str]]) -> None:
    data, people = case
    path = tmp_path / "fuzz.csv"
    path.write_bytes(data)
    r = hash_cli(path, "--map", "EMAIL=email")
    assert r.exit_code in (0, 2), r.output
    try:
        lib = str(hash_file(path, {"EMAIL": "email"}, io.StringIO(), None))
    except ConfigError as exc:
        lib = str(exc)
    for email in people:
        assert email not in r.stderr and email not in lib, (email, r.stderr, lib)
