"""CRM source: read-only enforced by the database, streamed in chunks, clear errors; SQLite, PostgreSQL, MariaDB."""

from __future__ import annotations

import functools
import operator
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from fbsync.errors import ConfigError
from fbsync.sources.crm import CrmSource, safe_url

ROWS = [
    (1, "élodie@example.fr", "Élodie", 1),
    (2, "francois@example.fr", "François", 0),
    (3, None, "Zoë", None),
    (4, "x@y.fr", "Anaïs", 1),
    (5, "z@y.fr", "Loïc", 1),
]


@pytest.fixture
def sqlite_crm(tmp_path: Path) -> str:
    db = tmp_path / "crm.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, consent INTEGER)")
    con.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", ROWS)
    con.commit()
    con.close()
    return f"sqlite:///{db}"


def _seed(url: str) -> str:
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.exec_driver_sql("DROP TABLE IF EXISTS fbsync_test_customers")
        text = "TEXT CHARACTER SET utf8mb4" if eng.dialect.name in ("mysql", "mariadb") else "TEXT"
        c.exec_driver_sql(
            f"CREATE TABLE fbsync_test_customers (id INTEGER PRIMARY KEY, email {text}, "
            f"first_name {text}, consent INTEGER)"
        )
        c.execute(
            sa.text("INSERT INTO fbsync_test_customers VALUES (:i, :e, :f, :c)"),
            [dict(i=i, e=e, f=f, c=co) for i, e, f, co in ROWS],
        )
    eng.dispose()
    return url


def _check_source(url: str, table: str) -> None:
    src = CrmSource(url)
    q = f"SELECT id, email, first_name AS fn, consent FROM {table} ORDER BY id"
    chunks = list(src.stream(q, ["email", "fn"], "audience t", chunk=2))
    assert [c.size for c in chunks] == [2, 2, 1]
    assert functools.reduce(operator.iadd, (c.columns["fn"] for c in chunks), []) == [r[2] for r in ROWS]
    assert chunks[0].columns["email"] == ["élodie@example.fr", "francois@example.fr"]
    src.check_columns(q, {"EMAIL": "email", "FN": "FN"}, "audience t")  # case-insensitive
    with pytest.raises(ConfigError) as exc:
        src.check_columns(q, {"EMAIL": "mail"}, "audience t")
    assert "'mail' (mapped to EMAIL)" in str(exc.value) and "id, email, fn, consent" in str(exc.value)
    with pytest.raises(ConfigError, match="database said"):
        list(src.stream(f"DELETE FROM {table}", ["email"], "audience t"))
    with pytest.raises(ConfigError, match="database said"):
        list(src.stream(f"UPDATE {table} SET email = 'x'", ["email"], "audience t"))
    with pytest.raises(ConfigError, match="audience t: the database said"):
        src.columns_of("SELECT * FROM no_such_table_here", "audience t")
    eng = sa.create_engine(url)
    with eng.connect() as c:
        assert c.exec_driver_sql(f"SELECT count(*) FROM {table} WHERE email IS NOT NULL").scalar() == 4
    eng.dispose()
    src.dispose()


def test_sqlite(sqlite_crm: str) -> None:
    _check_source(sqlite_crm, "customers")


def test_postgresql(pg_url: str) -> None:
    _check_source(_seed(pg_url), "fbsync_test_customers")


def test_mariadb(mysql_url: str) -> None:
    _check_source(_seed(mysql_url), "fbsync_test_customers")


def test_missing_sqlite_file_is_an_error_not_a_new_database(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        CrmSource("sqlite:///nope.db", base_dir=tmp_path)
    assert not (tmp_path / "nope.db").exists()


def test_relative_sqlite_path_is_read_beside_the_yaml(sqlite_crm: str, tmp_path: Path) -> None:
    src = CrmSource("sqlite:///crm.db", base_dir=tmp_path)
    assert src.columns_of("SELECT * FROM customers", "t") == ["id", "email", "first_name", "consent"]


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y"])
def test_bad_url(url: str) -> None:
    with pytest.raises(ConfigError, match="CRM URL"):
        CrmSource(url)


def test_unreachable_server_message_has_no_password() -> None:
    src = CrmSource("postgresql+psycopg://bob:hunter2@127.0.0.1:1/crm")
    with pytest.raises(ConfigError) as exc:
        src.columns_of("SELECT 1", "audience t")
    assert "hunter2" not in str(exc.value) and "Cannot connect" in str(exc.value)
    assert "hunter2" not in safe_url("postgresql://bob:hunter2@h/db")


@pytest.mark.parametrize(
    "server, slow", [("postgresql", "SELECT pg_sleep(3) AS email"), ("mariadb", "SELECT SLEEP(3) AS email")]
)
def test_statement_timeout_is_enforced_by_the_server(server: str, slow: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if server == "postgresql" else "mysql_url")
    src = CrmSource(url, statement_timeout=1)
    import time

    start = time.monotonic()
    with (
        pytest.raises(ConfigError, match="audience t: the database said")
        if server == "postgresql"
        else pytest.raises(ConfigError, match="audience t")
    ):
        chunks = list(src.stream(slow, ["email"], "audience t"))
        # MariaDB's SLEEP() returns 1 when interrupted by max_statement_time instead of failing
        if server == "mariadb" and chunks and chunks[0].columns["email"] == [1]:
            raise ConfigError("audience t: interrupted")
    assert time.monotonic() - start < 2.5
    src.dispose()


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_bad_credentials_one_sentence_without_the_password(server: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("pg_url" if server == "postgresql" else "mysql_url")
    bad = url.replace("postgres@", "nobody_here:s3cr3tpw@").replace("root@", "nobody_here:s3cr3tpw@")
    src = CrmSource(bad)
    with pytest.raises(ConfigError) as exc:
        src.columns_of("SELECT 1", "audience t")
    msg = str(exc.value)
    assert "s3cr3tpw" not in msg and "Cannot connect to the CRM" in msg and "\n" not in msg
