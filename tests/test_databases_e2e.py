"""The same end-to-end sync with the CRM on PostgreSQL and on MariaDB, and the state store on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from e2e_helpers import ROOT, Workdir, expected_rows, make_workdir

from fbsync.dev.demo import churn
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e
CFG = yaml.safe_load((ROOT / "audiences.yaml").read_text(encoding="utf-8"))
AUD = {a["name"]: a for a in CFG["audiences"]}
COLUMNS = (
    "id INTEGER PRIMARY KEY, email VARCHAR(200), phone VARCHAR(60), first_name VARCHAR(100), "
    "last_name VARCHAR(100), city VARCHAR(100), zip VARCHAR(20), country VARCHAR(40), birth_date DATE, "
    "gender VARCHAR(20), is_vip SMALLINT, last_order_days INTEGER, consent BOOLEAN, updated_at VARCHAR(40)"
)


def copy_crm(sqlite_path: Path, url: str) -> None:
    """The demo CRM's customers into a real server, with real types (DATE, BOOLEAN, utf8mb4)."""
    src = sqlite3.connect(sqlite_path)
    rows = src.execute(
        "SELECT id, email, phone, first_name, last_name, city, zip, country, birth_date, gender, "
        "is_vip, last_order_days, consent, updated_at FROM customers"
    ).fetchall()
    src.close()
    eng = sa.create_engine(url)
    cols = COLUMNS + (") CHARACTER SET utf8mb4" if eng.dialect.name in ("mysql", "mariadb") else ")")
    with eng.begin() as c:
        c.exec_driver_sql("DROP TABLE IF EXISTS customers")
        c.exec_driver_sql(f"CREATE TABLE customers ({cols}")
        c.execute(
            sa.text(
                "INSERT INTO customers VALUES (:id, :email, :phone, :fn, :ln, :city, :zip, :country, "
                ":bd, :gen, :vip, :lod, :consent, :upd)"
            ),
            [
                dict(
                    id=r[0],
                    email=r[1],
                    phone=r[2],
                    fn=r[3],
                    ln=r[4],
                    city=r[5],
                    zip=r[6],
                    country=r[7],
                    bd=r[8] or None,
                    gen=r[9],
                    vip=r[10],
                    lod=r[11],
                    consent=bool(r[12]),
                    upd=r[13],
                )
                for r in rows
            ],
        )
    eng.dispose()


def check_sync(wd: Workdir, env: dict[str, str]) -> None:
    r = wd.run("sync", "--json", **env)
    assert r.exit_code == 0, r.output
    for a in json.loads(r.stdout)["audiences"]:
        want = expected_rows(wd.crm, AUD[a["name"]]["query"], AUD[a["name"]]["keys"])
        assert wd.members(AUD[a["name"]].get("display_name", a["name"])) == want, a["name"]


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_sync_from_a_crm_server(server: str, tmp_path: Path, demo_crm: Path, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if server == "postgresql" else "mysql_url")
    with running_sandbox() as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        copy_crm(wd.crm, url)
        check_sync(wd, {"FBSYNC_CRM_URL": url})
        churn(wd.crm, seed=9)  # the SQLite copy is the oracle; the server gets the same change
        copy_crm(wd.crm, url)
        check_sync(wd, {"FBSYNC_CRM_URL": url})


def test_state_store_on_postgresql_end_to_end(pg_url: str, tmp_path: Path, demo_crm: Path) -> None:
    eng = sa.create_engine(pg_url)
    with eng.begin() as c:
        for t in ("run_audiences", "runs", "ledger_pending", "ledger", "audiences", "suppressed", "schema_version"):
            c.exec_driver_sql(f"DROP TABLE IF EXISTS {t} CASCADE")
    eng.dispose()
    env = {"FBSYNC_STATE_URL": pg_url, "FBSYNC_STATE_KEY": "a-long-enough-state-key-for-tests"}
    with running_sandbox() as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        check_sync(wd, env)
        churn(wd.crm, seed=13)
        check_sync(wd, env)
        runs = json.loads(wd.run("history", "--json", **env).stdout)
        assert [r["status"] for r in runs] == ["ok", "ok"]
        assert not (wd.state / "state.db").exists()


def test_hash_in_database_gives_the_same_audiences(pg_url: str, tmp_path: Path, demo_crm: Path) -> None:
    """With hash_in_database the sync is the same, member for member; plan says what ran where."""
    with running_sandbox() as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        text = (wd.path / "audiences.yaml").read_text(encoding="utf-8")
        (wd.path / "audiences.yaml").write_text(
            text.replace("  max_shrink: 0.5\n", "  max_shrink: 0.5\n  hash_in_database: true\n")
        )
        copy_crm(wd.crm, pg_url)
        check_sync(wd, {"FBSYNC_CRM_URL": pg_url})
        churn(wd.crm, seed=4)
        copy_crm(wd.crm, pg_url)
        r = wd.run("plan", FBSYNC_CRM_URL=pg_url)
        assert r.exit_code == 0, r.output
        assert "hashed in PostgreSQL" in r.stdout and "PHONE in Python" in r.stdout
        check_sync(wd, {"FBSYNC_CRM_URL": pg_url})


def test_hash_in_database_on_sqlite_is_a_config_error(tmp_path: Path, demo_crm: Path) -> None:
    with running_sandbox() as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        text = (wd.path / "audiences.yaml").read_text(encoding="utf-8")
        (wd.path / "audiences.yaml").write_text(
            text.replace("  max_shrink: 0.5\n", "  max_shrink: 0.5\n  hash_in_database: true\n")
        )
        r = wd.run("sync")
        assert r.exit_code == 2 and "only available for PostgreSQL" in r.stderr
        assert wd.requests()["total"] == 0


def test_a_segment_of_identifiers_only_is_hashed_column_wise(
    pg_url: str, tmp_path: Path, demo_crm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No consent, value or attribute column: COPY's text stays Arrow arrays up to the hashing, and the
    audiences hold exactly what the identity engine gives row by row."""
    from e2e_helpers import TWO_AUDIENCES, spy_on_arrays

    text = TWO_AUDIENCES.format(extra="").replace("consent: consent", "consent: null")
    seen = spy_on_arrays(monkeypatch)
    with running_sandbox() as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url, text)
        copy_crm(wd.crm, pg_url)
        r = wd.run("sync", "--json", FBSYNC_CRM_URL=pg_url)
        assert r.exit_code == 0, r.output
        for a in yaml.safe_load(text)["audiences"]:
            assert wd.members(a["name"]) == expected_rows(wd.crm, a["query"], a["keys"], consent=None), a["name"]
    assert seen and all(seen)
