"""The fast text-file reader (pyarrow, large blocks) reads exactly what the csv module reads: the same
values, counts, malformed rows and line numbers, the same sentences, whatever the file holds, because
it hands over to the csv module at the first thing it cannot read the same way."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbsync.errors import ConfigError
from fbsync.sources import arrow_csv
from fbsync.sources.files import FileReport, read_columns


def read(
    path: Path, columns: list[str], *, fast: bool, chunk: int = 7, **kw: Any
) -> tuple[dict[str, list[Any]], FileReport]:
    report = FileReport()
    saved = arrow_csv.usable
    try:
        if not fast:
            arrow_csv.usable = lambda *_: False  # type: ignore[assignment]
        out: dict[str, list[Any]] = {c: [] for c in columns}
        for part in read_columns(path, columns, chunk, report=report, **kw):
            for c in columns:
                out[c] += part[c]
    finally:
        arrow_csv.usable = saved  # type: ignore[assignment]
    return out, report


def same(path: Path, columns: list[str], **kw: Any) -> dict[str, list[Any]]:
    fast, r1 = read(path, columns, fast=True, **kw)
    slow, r2 = read(path, columns, fast=False, **kw)
    assert fast == slow
    assert (r1.rows, r1.malformed, r1.malformed_lines, r1.read_as) == (
        r2.rows,
        r2.malformed,
        r2.malformed_lines,
        r2.read_as,
    )
    return fast


def test_a_clean_file_is_read_by_the_fast_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "clients.csv"
    p.write_text("Email;Tel;Ville\n" + "".join(f"a{i}@x.fr;06 {i:08d};Évry\n" for i in range(50)), encoding="utf-8")
    slow_used: list[int] = []
    from fbsync.sources import file_format

    original = file_format._csv_module_chunks

    def spy(*args: Any, **kw: Any) -> Any:
        slow_used.append(kw.get("skip", 0))
        return original(*args, **kw)

    monkeypatch.setattr(file_format, "_csv_module_chunks", spy)
    got = same(p, ["Email", "Ville"])
    assert got["Ville"] == ["Évry"] * 50 and got["Email"][49] == "a49@x.fr"
    assert slow_used == [0]  # only the forced slow read of `same`: the fast one needed no help


def test_a_malformed_row_hands_over_with_exact_counts_and_lines(tmp_path: Path) -> None:
    p = tmp_path / "clients.csv"
    lines = [f"a{i}@x.fr,06{i:08d}" for i in range(40)]
    lines[25] = "broken,row,with,too,many"
    lines[31] = "lonely"
    p.write_text("email,phone\n" + "\n".join(lines) + "\n", encoding="utf-8")
    got = same(p, ["email", "phone"])
    assert len(got["email"]) == 38
    _, report = read(p, ["email"], fast=True)
    assert (report.rows, report.malformed, report.malformed_lines) == (40, 2, [27, 33])


def test_excel_trailing_delimiters_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    p = tmp_path / "clients.csv"
    p.write_text(
        'email,name\r\na@x.fr,"Jean\r\nPierre"\r\n\r\nb@x.fr,Zoé,,\r\nc@x.fr,"Dupont, fils"\r\n', encoding="utf-8"
    )
    got = same(p, ["email", "name"])
    assert got == {"email": ["a@x.fr", "b@x.fr", "c@x.fr"], "name": ["Jean\r\nPierre", "Zoé", "Dupont, fils"]}


@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252", "utf-16"])
def test_encodings(tmp_path: Path, encoding: str) -> None:
    p = tmp_path / "clients.csv"
    p.write_text("email;ville\n" + "".join(f"e{i}@x.fr;Besançon-{i}\n" for i in range(30)), encoding=encoding)
    got = same(p, ["email", "ville"])
    assert got["ville"][29] == "Besançon-29"


def test_a_bad_byte_late_in_the_file_is_the_csv_modules_sentence(tmp_path: Path) -> None:
    p = tmp_path / "clients.csv"
    body = "".join(f"a{i}@x.fr,x\n" for i in range(20_000)).encode() + b"z@x.fr,\xff\xfe\n"
    p.write_bytes(b"email,v\n" + body)
    with pytest.raises(ConfigError) as fast:
        read(p, ["email"], fast=True, encoding="utf-8")
    with pytest.raises(ConfigError) as slow:
        read(p, ["email"], fast=False, encoding="utf-8")
    assert str(fast.value) == str(slow.value) and "not UTF-8 text" in str(fast.value)


def test_a_header_after_blank_lines_is_read_by_the_csv_module(tmp_path: Path) -> None:
    p = tmp_path / "clients.csv"
    p.write_text("\n\nemail\na@x.fr\n", encoding="utf-8")
    assert not arrow_csv.usable(p, "utf-8")
    assert same(p, ["email"]) == {"email": ["a@x.fr"]}


cell = st.text(alphabet=st.sampled_from(list('ab,;"\n\r é\t')), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=4), max_size=12), sep=st.sampled_from([",", ";", "\t"]))
def test_any_file_reads_the_same_both_ways(tmp_path: Path, rows: list[list[str]], sep: str) -> None:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, lineterminator=random.choice(["\n", "\r\n"]))
    w.writerow(["k1", "k2", "k3"])
    w.writerows(rows)
    p = tmp_path / f"f{random.random()}.csv"
    p.write_text(buf.getvalue(), encoding="utf-8")
    try:
        fast = read(p, ["k1", "k3"], fast=True, delimiter=sep)
    except ConfigError as exc:
        with pytest.raises(ConfigError) as slow:
            read(p, ["k1", "k3"], fast=False, delimiter=sep)
        assert str(slow.value) == str(exc)
        return
    slow = read(p, ["k1", "k3"], fast=False, delimiter=sep)
    assert fast[0] == slow[0]
    assert (fast[1].rows, fast[1].malformed, fast[1].malformed_lines) == (
        slow[1].rows,
        slow[1].malformed,
        slow[1].malformed_lines,
    )
