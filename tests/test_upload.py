"""fbsync upload: CSV and Parquet files into a new or a declared audience, add/remove/replace, dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from e2e_helpers import Workdir, make_workdir

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
