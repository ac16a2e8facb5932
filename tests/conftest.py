"""Shared fixtures: real databases on this machine, a sandbox, a demo CRM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("FBSYNC_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("FBSYNC_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4")


def _db_or_skip(url: str, what: str) -> str:
    try:
        eng = sa.create_engine(url)
        with eng.connect() as c:
            c.exec_driver_sql("SELECT 1")
        eng.dispose()
    except Exception as exc:
        msg = f"{what} is not reachable ({type(exc).__name__})"
        if os.environ.get("FBSYNC_REQUIRE_DB_TESTS") == "1":
            pytest.fail(msg + " and FBSYNC_REQUIRE_DB_TESTS=1: start it (see DEVELOPERS.md)")
        pytest.skip(msg)
    return url


@pytest.fixture(scope="session")
def pg_url() -> str:
    return _db_or_skip(PG_URL, "PostgreSQL at 127.0.0.1:5432")


@pytest.fixture(scope="session")
def mysql_url() -> str:
    return _db_or_skip(MYSQL_URL, "MariaDB at 127.0.0.1:3306")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Commands install logging handlers on the current stderr; take them down after each test."""
    import logging

    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for h in list(root.handlers):
        if h not in before:
            root.removeHandler(h)
            h.close()
    for h in before:
        if h not in root.handlers:
            root.addHandler(h)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real Meta settings."""
    for k in (
        "FB_ACCESS_TOKEN",
        "FB_APP_SECRET",
        "FB_APP_ID",
        "FB_AD_ACCOUNT_ID",
        "FBSYNC_GRAPH_URL",
        "FBSYNC_API_VERSION",
        "FBSYNC_CRM_URL",
        "FBSYNC_STATE_DIR",
        "FBSYNC_STATE_URL",
        "FBSYNC_STATE_KEY",
    ):
        monkeypatch.delenv(k, raising=False)


@pytest.fixture(scope="session")
def demo_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo CRM (20,000 customers, seed 42), made once per test session; copy it before changing it."""
    from fbsync.dev.demo import seed

    path = tmp_path_factory.mktemp("crm") / "crm.db"
    seed(path, n=20_000, seed=42)
    return path


@pytest.fixture(scope="session")
def big_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CRM of 60,000 demo customers (seed 99: six batches of members or more), made once per session;
    copy it before changing it."""
    from fbsync.dev.demo import seed

    path = tmp_path_factory.mktemp("bigcrm") / "crm.db"
    seed(path, n=60_000, seed=99)
    return path


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    """A local Marketing API sandbox for the test module (a module may define its own ``sb``)."""
    from fbsync.sandbox import running_sandbox

    with running_sandbox() as s:
        yield s
