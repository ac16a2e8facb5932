"""kill -9 at several points of a long run, then run again: exact membership, nothing lost, at most the
in-flight batch sent twice. A real subprocess against the live sandbox; no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fbsync.demo import seed
from fbsync.sandbox import running_sandbox

from e2e_helpers import EVERYONE_KEYS as KEYS, EVERYONE_QUERY as QUERY, Workdir, expected_rows, make_workdir

pytestmark = pytest.mark.e2e
YAML = f"""
version: 1
ad_account_id: act_777
crm: {{url: "sqlite:///demo/crm.db"}}
defaults: {{default_country: FR, consent: consent, mode: MODE}}
audiences:
  - name: everyone
    query: "{QUERY}"
    keys: {KEYS}
"""


class KillSwitch:
    """Sandbox policy: the Nth write blocks until the test has killed the client, then Meta applies it."""

    def __init__(self, at: int) -> None:
        self.at, self.writes = at, 0
        self.reached, self.release = threading.Event(), threading.Event()

    def intercept(self, app: Any, req: Any) -> None:
        if req.method in ("POST", "DELETE"):
            self.writes += 1
            if self.writes == self.at:
                self.reached.set()
                self.release.wait(60)
        return None


@pytest.fixture(scope="module")
def big_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bigcrm") / "crm.db"
    seed(path, n=60_000, seed=99)
    return path


@pytest.fixture
def sb() -> Iterator[Any]:
    with running_sandbox() as s:
        yield s


def start(wd: Workdir) -> subprocess.Popen[bytes]:
    env = {**os.environ, **wd.env()}
    return subprocess.Popen([sys.executable, "-m", "fbsync", "sync", "-c", str(wd.path / "audiences.yaml")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_at(sb: Any, wd: Workdir, at: int) -> None:
    switch = KillSwitch(at)
    sb.app.policies.append(switch)
    proc = start(wd)
    try:
        assert switch.reached.wait(120), proc.communicate(timeout=5)
        proc.kill()                                  # SIGKILL while Meta holds the request
        proc.wait(10)
    finally:
        switch.release.set()
        sb.app.policies.remove(switch)


def finish(wd: Workdir) -> None:
    proc = start(wd)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (out + err).decode()


def users_calls(wd: Workdir, edge: str) -> int:
    return sum(n for k, n in wd.requests()["by_endpoint"].items() if k.endswith(edge))


@pytest.mark.parametrize("kills", [[1], [2], [4], [2, 3, 3]])
def test_mirror_killed_then_rerun_converges(tmp_path: Path, big_crm: Path, sb: Any, kills: list[int]) -> None:
    wd = make_workdir(tmp_path, big_crm, sb.url, YAML.replace("MODE", "mirror"))
    want = expected_rows(wd.crm, QUERY, KEYS)
    batches = -(-len(want) // 10_000)
    assert batches >= 5
    for at in kills:
        kill_at(sb, wd, at)
    finish(wd)
    assert wd.members("everyone") == want
    sent = users_calls(wd, "/users") + users_calls(wd, "/usersreplace")
    assert sent <= batches + len(kills), sent      # at most the in-flight batch again, per kill


@pytest.mark.parametrize("at", [2, 4])
def test_replace_killed_mid_session_is_resumed_not_left_half_applied(tmp_path: Path, big_crm: Path, sb: Any,
                                                                       at: int) -> None:
    wd = make_workdir(tmp_path, big_crm, sb.url, YAML.replace("MODE", "replace"))
    finish(wd)                                       # create + first replace
    import sqlite3

    con = sqlite3.connect(wd.crm)
    con.execute("DELETE FROM customers WHERE id % 50 = 0")
    con.commit()
    con.close()
    want = expected_rows(wd.crm, QUERY, KEYS)
    before = users_calls(wd, "/usersreplace")
    kill_at(sb, wd, at)
    assert wd.members("everyone") != want            # Meta is mid-session: not yet the new list
    finish(wd)
    assert wd.members("everyone") == want
    batches = -(-len(want) // 10_000)
    assert users_calls(wd, "/usersreplace") - before <= batches + 1
