"""fbsync upload: CSV and Parquet files into a new or a declared audience, add/remove/replace, dry run."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from e2e_helpers import Workdir, make_workdir
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbsync import identity
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path):  # type: ignore[no-untyped-def]
    with running_sandbox() as sb:
        yield make_workdir(tmp_path, demo_crm, sb.url)


def people(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Email": [f"client.{i}@exemple.fr" for i in range(start, start + n)],
            "tel": [
                f"06 {i // 10000 % 100:02d} {i // 100 % 100:02d} {i % 100:02d} 11" for i in range(start, start + n)
            ],
            "notes": ["never read"] * n,
        }
    )


def hashed(df: pd.DataFrame) -> set[tuple[str, ...]]:
    b = identity.hash_batch({"EMAIL": list(df["Email"]), "PHONE": list(df["tel"])}, "FR")
    return set(b.rows)


def up(wd: Workdir, path: Path, *args: str) -> dict:
    r = wd.run("upload", str(path), *args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["audiences"][0]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_upload_add_remove_replace_into_a_new_audience(wd: Workdir, tmp_path: Path, suffix: str) -> None:
    def write(df: pd.DataFrame, name: str) -> Path:
        p = tmp_path / f"{name}{suffix}"
        df.to_parquet(p) if suffix == ".parquet" else df.to_csv(p, index=False)
        return p

    first = people(12_000)
    maps = ["--map", "EMAIL=Email", "--map", "PHONE=tel"]
    rep = up(wd, write(first, "first"), "--audience", "salon_2026", *maps)
    assert rep["action"] == "created" and rep["added"] == 12_000
    assert wd.members("salon_2026") == hashed(first)
    more = people(3_000, start=11_000)  # 1,000 already there
    rep = up(wd, write(more, "more"), "--audience", "salon_2026", *maps)
    assert rep["added"] == 2_000 and wd.members("salon_2026") == hashed(first) | hashed(more)
    gone = people(500)
    rep = up(wd, write(gone, "gone"), "--audience", "salon_2026", "--mode", "remove", *maps)
    assert rep["removed"] == 500
    assert wd.members("salon_2026") == (hashed(first) | hashed(more)) - hashed(gone)
    final = people(100, start=50_000)
    # A replace that removes all 13,500 members passes the shrink guard only with --force (test below).
    rep = up(wd, write(final, "final"), "--audience", "salon_2026", "--mode", "replace", "--force", *maps)
    assert rep["replaced"] == 100 and wd.members("salon_2026") == hashed(final)
    history = json.loads(wd.run("history", "--json").stdout)
    assert [h["command"] for h in history] == ["upload"] * 4
    assert all(h["status"] == "ok" for h in history)


def test_upload_dry_run_and_meta_key_headers(wd: Workdir, tmp_path: Path) -> None:
    df = people(50).rename(columns={"Email": "email", "tel": "phone"})
    p = tmp_path / "f.csv"
    df.to_csv(p, index=False)
    r = wd.run("upload", str(p), "--audience", "vip", "--dry-run", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)["audiences"][0]
    assert rep["status"] == "planned" and rep["added"] == 50 and wd.writes() == 0
    r = wd.run("upload", str(p), "--audience", "vip")
    assert r.exit_code == 0 and "Upload run" in r.stdout
    assert wd.members("Clients VIP") == hashed(df.rename(columns={"email": "Email", "phone": "tel"}))


def test_upload_errors(wd: Workdir, tmp_path: Path) -> None:
    p = tmp_path / "f.csv"
    people(5).rename(columns={"Email": "courriel"}).to_csv(p, index=False)
    r = wd.run("upload", str(p), "--audience", "new_one")
    assert r.exit_code == 2 and "no column is named after a Meta key" in r.stderr
    r = wd.run("upload", str(p), "--audience", "new_one", "--map", "EMAIL=mail")
    assert r.exit_code == 2 and "no column 'mail'" in r.stderr
    r = wd.run("upload", str(p), "--audience", "new_one", "--map", "EMAIL=courriel", "--mode", "merge")
    assert r.exit_code == 2 and "add, remove or replace" in r.stderr
    assert wd.writes() == 0


def test_upload_replace_goes_through_the_shrink_guard(wd: Workdir, tmp_path: Path) -> None:
    """upload --mode replace is planned like sync: a big shrink or an empty file is refused unless --force."""
    maps = ["--map", "EMAIL=Email", "--map", "PHONE=tel"]
    first, small, empty = tmp_path / "first.csv", tmp_path / "small.csv", tmp_path / "empty.csv"
    people(1_000).to_csv(first, index=False)
    people(10, start=5_000).to_csv(small, index=False)
    people(0).to_csv(empty, index=False)
    up(wd, first, "--audience", "fair_2026", *maps)
    writes = wd.writes()
    for path in (small, empty):
        r = wd.run("upload", str(path), "--audience", "fair_2026", "--mode", "replace", *maps)
        assert r.exit_code == 1, r.output
        assert "--force" in r.stderr and wd.writes() == writes  # refused: nothing sent
    assert (
        "from 1,000 to 10 members"
        in wd.run("upload", str(small), "--audience", "fair_2026", "--mode", "replace", *maps).stderr
    )
    assert wd.members("fair_2026") == hashed(people(1_000))
    rep = up(wd, small, "--audience", "fair_2026", "--mode", "replace", "--force", *maps)
    assert rep["replaced"] == 10 and wd.members("fair_2026") == hashed(people(10, start=5_000))


# ---------------------------------------------------------------------------- files upload cannot use
# (hash reads through the same path: tests/test_files.py)
def refused(wd: Workdir, path: Path, words: str, *args: str) -> Any:
    r = wd.run("upload", str(path), "--audience", "new_one", *args)
    sentences = [line for line in r.stderr.splitlines() if line.startswith("✗ ")]
    assert r.exit_code == 2 and len(sentences) == 1 and words in sentences[0], r.output
    assert "Traceback" not in r.output, r.output
    return r


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", "the file is empty (0 bytes)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, "it is a PNG image, not a CSV"),
        (random.Random(3).randbytes(5000), "it is not a text file (it holds binary data)"),
        (b"email\nan\x81dre@exemple.fr\n", "neither UTF-8 nor Windows-1252"),
    ],
    ids=["empty", "png", "random bytes", "not text in any usual encoding"],
)
def test_upload_refuses_a_file_it_cannot_read_in_one_sentence(
    wd: Workdir, tmp_path: Path, data: bytes, words: str
) -> None:
    p = tmp_path / "f.csv"
    p.write_bytes(data)
    refused(wd, p, words)
    refused(wd, p, words, "--map", "EMAIL=email")
    assert wd.writes() == 0


def test_upload_never_echoes_a_header_less_file(wd: Workdir, tmp_path: Path) -> None:
    p = tmp_path / "f.csv"
    p.write_text("jean.dupont@exemple.fr,0612345678\nmarie.curie@exemple.fr,0698765432\n")
    r = refused(wd, p, "its first line does not look like column names (it holds an e-mail address and a phone number)")
    assert "add a header line such as email,phone, or give --map" in r.stderr
    r2 = refused(wd, p, "no column 'email': its first line does not look like column names", "--map", "EMAIL=email")
    log = (wd.state / "fbsync.log").read_text(encoding="utf-8") if (wd.state / "fbsync.log").exists() else ""
    for value in ("jean", "dupont", "0612345678", "612345678", "marie"):
        assert value not in r.output + r2.output + log
    assert wd.writes() == 0


emails = st.from_regex(r"[a-z][a-z0-9._-]{2,14}@[a-z]{2,10}\.(fr|com|net|org)", fullmatch=True)
phones = st.one_of(
    st.from_regex(r"(\+33 ?|0)[1-9]( ?[0-9]{2}){4}", fullmatch=True), st.integers(10**6, 10**12).map(str)
)


@given(
    rows=st.lists(st.tuples(emails, phones, st.booleans()), min_size=1, max_size=5),
    sep=st.sampled_from([",", ";", "\t", "|"]),
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_upload_of_a_header_less_file_never_shows_a_value(
    wd: Workdir, tmp_path: Path, rows: list[tuple[str, str, bool]], sep: str
) -> None:
    lines = [[e, p] if email_first else [p, e] for e, p, email_first in rows]
    path = tmp_path / "people.csv"
    path.write_text("".join(sep.join(cells) + "\n" for cells in lines))
    for args in ([], ["--map", "EMAIL=email", "--map", "PHONE=phone"]):
        r = refused(wd, path, "does not look like column names", *args)
        for cells in lines:
            for cell in cells:
                assert cell not in r.output, (cell, r.output)


def test_upload_reads_a_french_excel_csv(wd: Workdir, tmp_path: Path) -> None:
    """Excel in French saves ';'-separated Windows-1252: it just works, columns matched in any case."""
    df = people(40)
    p = tmp_path / "salon.csv"
    body = "".join(f"{e};{t};Hélène Dupré\r\n" for e, t in zip(df["Email"], df["tel"]))
    p.write_bytes(("Email;Téléphone;Nom\r\n" + body).encode("cp1252"))
    rep = up(wd, p, "--audience", "salon_fr", "--map", "EMAIL=EMAIL", "--map", "PHONE=téléphone")
    assert rep["added"] == 40 and wd.members("salon_fr") == hashed(df)
    q = tmp_path / "auto.csv"  # no --map: columns named after Meta keys, any case
    q.write_bytes(
        ("EMAIL;Phone\r\n" + "".join(f"{e};{t}\r\n" for e, t in zip(df["Email"], df["tel"]))).encode("cp1252")
    )
    assert up(wd, q, "--audience", "salon_fr_2")["added"] == 40


def test_upload_skips_and_reports_ragged_rows(wd: Workdir, tmp_path: Path) -> None:
    df = people(20)
    lines = [f"{e},{t},x" for e, t in zip(df["Email"], df["tel"])]
    lines[4] += ",an extra field"  # line 6 of the file
    lines[9] = lines[9].rsplit(",", 2)[0]  # line 11: a field short
    p = tmp_path / "f.csv"
    p.write_text("Email,tel,notes\n" + "\n".join(lines) + "\n")
    r = wd.run("upload", str(p), "--audience", "ragged", "--map", "EMAIL=Email", "--map", "PHONE=tel", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["audiences"][0]["added"] == 18
    assert "2 rows skipped as malformed (lines 6, 11): not the header's 3 fields" in r.stderr
    p.write_text("Email,tel\n" + "".join(f"{e};{t}\n" for e, t in zip(df["Email"], df["tel"])))
    refused(
        wd,
        p,
        "so the delimiter is probably wrong (or the first line is not the header); give --delimiter",
        "--map",
        "EMAIL=Email",
    )
    assert "client." not in r.stderr


def test_an_upload_hashes_the_file_column_wise(wd: Workdir, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upload reads identifiers only: the file's Arrow arrays go straight to the hashing, and the members
    are the identity engine's."""
    from e2e_helpers import spy_on_arrays

    seen = spy_on_arrays(monkeypatch)
    df = people(3_000)
    df.to_csv(tmp_path / "p.csv", index=False)
    rep = up(wd, tmp_path / "p.csv", "--audience", "arrow_2026", "--map", "EMAIL=Email", "--map", "PHONE=tel")
    assert rep["added"] == 3_000 and wd.members("arrow_2026") == hashed(df)
    assert seen and all(seen)
