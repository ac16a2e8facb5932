"""One client factory: every command that talks to Meta follows the YAML's ``api:`` options.

Once the sandbox answers every call with a transient error, each command gives up after exactly
``api.max_attempts`` tries of its first call (the default would be 6): ``sync``, ``upload``,
``forget``, ``status`` and ``doctor`` alike.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_helpers import Workdir, make_workdir

from fbsync.sandbox import errors as graph_errors
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e


class Down:
    """Sandbox policy: once armed, every Graph call is a transient 500 (code 2)."""

    def __init__(self) -> None:
        self.armed, self.calls = False, 0

    def intercept(self, app: Any, req: Any) -> Any:
        if not self.armed:
            return None
        self.calls += 1
        return app.error_response(graph_errors.internal())


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path):  # type: ignore[no-untyped-def]
    with running_sandbox() as sb:
        w = make_workdir(tmp_path, demo_crm, sb.url)
        cfg = yaml.safe_load((w.path / "audiences.yaml").read_text(encoding="utf-8"))
        cfg["api"] = {"max_attempts": 2, "max_backoff_seconds": 0.01}
        (w.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
        w.app = sb.app  # type: ignore[attr-defined]
        yield w


@pytest.mark.parametrize("command", ["sync", "upload", "forget", "status", "doctor"])
def test_every_command_uses_the_api_options(wd: Workdir, tmp_path: Path, command: str) -> None:
    assert wd.run("sync", "vip").exit_code == 0  # something to forget and to show
    con = sqlite3.connect(wd.crm)
    (email,) = con.execute(
        "SELECT email FROM customers WHERE is_vip = 1 AND consent = 1 AND email LIKE '%@%.%' LIMIT 1"
    ).fetchone()
    con.close()
    csv = tmp_path / "f.csv"
    csv.write_text("email\nsomeone@exemple.fr\n", encoding="utf-8")
    args = {
        "sync": ["sync", "vip"],
        "upload": ["upload", str(csv), "--audience", "salon"],
        "forget": ["forget", "--email", email, "--yes"],
        "status": ["status"],
        "doctor": ["doctor"],
    }[command]
    down = Down()
    wd.app.policies.insert(0, down)  # type: ignore[attr-defined]
    down.armed = True
    r = wd.run(*args)
    assert down.calls == 2, (down.calls, r.output)  # api.max_attempts, not the default 6
    if command == "doctor":
        assert r.exit_code == 3
    elif command != "status":
        assert r.exit_code != 0
