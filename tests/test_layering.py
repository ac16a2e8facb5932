"""The architecture, checked: which module may import what (DEVELOPERS.md, "Layout").

Every import of every module of ``fbsync`` is read from its source (function-level imports
included, relative ones resolved), then held against the layers:

* the pure core (planning, identity, results) imports no IO library and nothing of fbsync's edges;
* only ``meta/`` talks HTTP to Meta (the sandbox is Meta's stand-in, a server, and stands apart);
* only ``state/`` opens the state store's tables; only ``state/`` and ``sources/`` use SQLAlchemy;
* renderers read results and records and import no step of a run;
* nothing imports the command line (only ``__main__``), and nothing of the product imports ``dev/``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "fbsync"


def modules() -> dict[str, set[str]]:
    """Module name -> every module it imports (``from a import b`` counts as a and a.b)."""
    out: dict[str, set[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        name = ".".join(parts)
        package = parts if is_pkg else parts[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                found.add(mod)
                found |= {f"{mod}.{a.name}" for a in node.names}
        out[name] = found
    return out


MODULES = modules()


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports_of(*prefixes: str) -> Iterator[tuple[str, str]]:
    for mod, found in MODULES.items():
        if under(mod, *prefixes):
            for imp in found:
                yield mod, imp


IO_LIBRARIES = (
    "sqlalchemy",
    "sqlite3",
    "psycopg",
    "pymysql",
    "requests",
    "urllib3",
    "urllib",
    "http",
    "socket",
    "facebook_business",
    "pandas",
    "pyarrow",
    "typer",
    "rich",
    "apscheduler",
    "yaml",
    "dotenv",
    "subprocess",
    "tempfile",
    "fcntl",
    "shutil",
)
EDGES = (
    "fbsync.state",
    "fbsync.meta",
    "fbsync.sources",
    "fbsync.sandbox",
    "fbsync.dev",
    "fbsync.cli",
    "fbsync.orchestrator",
    "fbsync.apply",
    "fbsync.runlog",
    "fbsync.read",
    "fbsync.render",
    "fbsync.settings",
    "fbsync.config",
)


def test_the_scan_sees_the_package() -> None:
    assert {
        "fbsync.planning",
        "fbsync.identity.batch",
        "fbsync.meta.client",
        "fbsync.state.store",
        "fbsync.orchestrator",
        "fbsync.render.html",
    } <= set(MODULES)
    assert "fbsync.state.store" in MODULES["fbsync.apply"]  # relative imports are resolved
    assert "sqlalchemy" in MODULES["fbsync.state.store"]


@pytest.mark.parametrize(
    "core",
    [
        "fbsync.planning",
        "fbsync.identity",
        "fbsync.results",
        "fbsync.util",
        "fbsync.errors",
        "fbsync.quality",
        "fbsync.customers",
        "fbsync.values",
        "fbsync.integrity",
    ],
)
def test_the_pure_core_imports_no_io(core: str) -> None:
    bad = sorted((m, i) for m, i in imports_of(core) if under(i, *IO_LIBRARIES, *EDGES))
    assert not bad, bad


def test_planning_imports_only_the_standard_library() -> None:
    assert {i.split(".")[0] for i in MODULES["fbsync.planning"]} <= {"__future__", "dataclasses", "typing"}


def test_only_meta_talks_http() -> None:
    """Meta lives behind fbsync.meta; the one other HTTP edge is the alerts' delivery (webhook, Apprise)."""
    http = ("requests", "urllib3", "facebook_business", "http.client", "urllib.request", "apprise")
    bad = sorted(
        (m, i)
        for m, i in imports_of("fbsync")
        if under(i, *http) and not under(m, "fbsync.meta", "fbsync.sandbox", "fbsync.dev", "fbsync.alerts.deliver")
    )
    assert not bad, bad


def test_only_state_and_sources_use_sqlalchemy() -> None:
    bad = sorted(
        (m, i)
        for m, i in imports_of("fbsync")
        if under(i, "sqlalchemy", "sqlite3", "psycopg", "pymysql")
        and not under(m, "fbsync.state", "fbsync.sources", "fbsync.dev", "fbsync.sandbox")
    )
    assert not bad, bad


def test_only_state_touches_the_store_tables() -> None:
    """Outside state/, the store is reached through StateStore's methods (``pending`` names its replace table)."""
    allowed = {"fbsync.state.store", "fbsync.state.store.StateStore", "fbsync.state.store.pending"}
    bad = sorted(
        (m, i)
        for m, i in imports_of("fbsync")
        if under(i, "fbsync.state.store") and i not in allowed and not under(m, "fbsync.state")
    )
    assert not bad, bad


def test_renderers_import_no_step_of_a_run() -> None:
    steps = (
        "fbsync.orchestrator",
        "fbsync.apply",
        "fbsync.runlog",
        "fbsync.read",
        "fbsync.upload",
        "fbsync.erasure",
        "fbsync.api",
        "fbsync.audiences",
        "fbsync.lookalikes",
        "fbsync.adsets",
        "fbsync.scheduler",
        "fbsync.meta",
        "fbsync.sources",
        "fbsync.cli",
        "fbsync.state.store",
    )
    bad = sorted((m, i) for m, i in imports_of("fbsync.render") if under(i, *steps))
    assert not bad, bad


def test_nothing_imports_the_command_line_or_dev_tools() -> None:
    cli = sorted(
        m
        for m, i in imports_of("fbsync")
        if under(i, "fbsync.cli") and not under(m, "fbsync.cli") and m != "fbsync.__main__"
    )
    dev = sorted(
        (m, i) for m, i in imports_of("fbsync") if under(i, "fbsync.dev") and not under(m, "fbsync.dev", "fbsync.bench")
    )
    assert not cli and not dev, (cli, dev)


def test_the_run_steps_have_one_home_each() -> None:
    """Sending members is the applier's alone; run bookkeeping the run log's; creation audiences.py's."""
    senders = sorted(m for m, i in imports_of("fbsync") if i == "fbsync.meta.session.Session")
    assert senders == ["fbsync.apply", "fbsync.meta.client"], senders  # the client for its one-batch retries
    bookkeepers = sorted(m for m, found in MODULES.items() if any(i.endswith(".RunLog") for i in found))
    assert bookkeepers == ["fbsync.erasure", "fbsync.orchestrator", "fbsync.upload"], bookkeepers


def test_no_module_grows_past_500_lines() -> None:
    sizes = {
        p.relative_to(PKG.parent).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in PKG.rglob("*.py")
    }
    assert not {p: n for p, n in sizes.items() if n > 500}, sorted(sizes.items(), key=lambda x: -x[1])[:5]
