"""Hostile input and faults, through the CLI as a user runs it: one sentence and the documented exit code,
never a traceback, a leak, a lying history, a hang, or a deletion fbsync must not make.

Each test is one class of the defects found by trying fbsync as a hostile tester would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from e2e_helpers import TOKEN, HoldWrite, Workdir, admin, make_workdir
from typer.testing import CliRunner

from fbsync.cli import app, handled
from fbsync.sandbox import running_sandbox
from fbsync.state.store import StateStore

pytestmark = pytest.mark.e2e
EXIT_CODES = {0, 1, 2, 3, 130}


def no_traceback(r: Any) -> None:
    assert "Traceback" not in r.output and "Error:" not in r.output.replace("✗", ""), r.output


@pytest.fixture
def sb() -> Iterator[Any]:
    with running_sandbox() as s:
        yield s


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path, sb: Any) -> Workdir:
    return make_workdir(tmp_path, demo_crm, sb.url)


def edit(wd: Workdir, change: Any) -> None:
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
    change(cfg)
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))


def history(wd: Workdir) -> list[dict[str, Any]]:
    return json.loads(wd.run("history", "--json").stdout)


# ------------------------------------------------------------------ one sentence, never a traceback
def test_an_unexpected_error_is_one_sentence_exit_1_and_its_traceback_goes_to_the_log_only(tmp_path: Path) -> None:
    import logging

    log_file = tmp_path / "fbsync.log"
    handler = logging.FileHandler(log_file)
    root = logging.getLogger()
    before = list(root.handlers)  # earlier commands' console handlers write to streams CliRunner has closed
    for h in before:
        root.removeHandler(h)
    root.addHandler(handler)
    demo = typer.Typer()

    @demo.command()
    @handled
    def boom(as_json: bool = False) -> None:
        {}["missing"]  # a bug: KeyError

    try:
        r = CliRunner().invoke(demo, [])
        assert r.exit_code == 1 and "unexpected error (KeyError)" in r.output and "fbsync.log" in r.output
        no_traceback(r)
        r = CliRunner().invoke(demo, ["--as-json"])
        assert r.exit_code == 1 and json.loads(r.stdout)["error"]["exit_code"] == 1
    finally:
        root.removeHandler(handler)
        handler.close()
        for h in before:
            root.addHandler(h)
    assert "Traceback" in log_file.read_text() and "KeyError" in log_file.read_text()


def test_a_run_that_crashes_is_recorded_as_failed(wd: Workdir) -> None:
    """A bug anywhere in a run (here a progress callback that raises) leaves the truth in the history."""
    import fbsync
    from fbsync.config import load_config
    from fbsync.settings import Settings

    loaded = load_config(wd.path / "audiences.yaml", env={})
    settings = Settings.from_env(loaded.path, environ=wd.env())

    def broken(*_: Any) -> None:
        raise RuntimeError("a bug in a progress bar")

    with pytest.raises(RuntimeError):
        fbsync.sync(loaded, ["vip"], settings=settings, progress=broken)
    (run,) = history(wd)
    assert run["status"] == "failed" and run["finished_at"]


@pytest.mark.parametrize("case", ["file", "under_a_file"])
def test_a_state_folder_that_cannot_be_used_is_one_sentence(wd: Workdir, case: str) -> None:
    blocker = wd.path / "blocker"
    blocker.write_text("not a folder")
    state = blocker if case == "file" else blocker / "state"
    for args in (["validate"], ["sync", "vip"], ["status"], ["history"]):
        r = wd.run(*args, FBSYNC_STATE_DIR=str(state))
        assert r.exit_code == 2, r.output
        assert "FBSYNC_STATE_DIR" in r.stderr and str(blocker) in r.stderr
        no_traceback(r)


@pytest.mark.parametrize("target", ["dir", "under_a_file"])
def test_report_onto_a_directory_or_an_impossible_folder(wd: Workdir, target: str) -> None:
    assert wd.run("sync", "vip").exit_code == 0
    (wd.path / "afile").write_text("x")
    out = wd.path if target == "dir" else wd.path / "afile" / "report.html"
    r = wd.run("report", "-o", str(out))
    assert r.exit_code == 2, r.output
    assert "cannot write" in r.stderr and "-o" in r.stderr
    no_traceback(r)


def test_sandbox_on_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = CliRunner().invoke(app, ["sandbox", "--port", str(port)])
    assert r.exit_code == 2 and f"Port {port}" in r.output and "--port" in r.output
    no_traceback(r)


def test_a_query_that_writes_is_refused_as_read_only(wd: Workdir) -> None:
    edit(wd, lambda c: c["audiences"][0].update(query="DELETE FROM customers"))
    r = wd.run("validate")
    assert r.exit_code == 2 and "read-only" in r.stderr and "SELECT" in r.stderr
    con = sqlite3.connect(wd.crm)
    assert con.execute("SELECT count(*) FROM customers").fetchone()[0] > 0  # and the database refused it
    con.close()


def test_status_with_a_refused_token_exits_3(tmp_path: Path, demo_crm: Path) -> None:
    with running_sandbox(access_token=TOKEN) as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        assert wd.run("sync", "vip").exit_code == 0
        r = wd.run("status", FB_ACCESS_TOKEN="an-expired-token-000000")
    assert r.exit_code == 3, r.output
    no_traceback(r)


# ------------------------------------------------------------------ no leak
def test_doctor_redacts_a_token_in_the_graph_url_and_names_the_network_problem(tmp_path: Path) -> None:
    secret = "EAAsecretvalue1234567890"
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://fbsync:{secret}@127.0.0.1:{port}/?access_token={secret}"
    (tmp_path / "audiences.yaml").write_text(
        "version: 1\nad_account_id: act_1\napi: {max_attempts: 1}\naudiences:\n"
        "  - {name: a, query: 'SELECT 1 AS email', keys: {EMAIL: email}}\n"
    )
    env = {"FB_ACCESS_TOKEN": secret, "FBSYNC_GRAPH_URL": url, "FBSYNC_STATE_DIR": str(tmp_path / "st")}
    for extra in ([], ["--json"]):
        r = CliRunner().invoke(app, ["doctor", "-c", str(tmp_path / "audiences.yaml"), *extra], env=env)
        assert r.exit_code == 3, r.output
        assert secret not in r.output and secret not in (tmp_path / "st" / "fbsync.log").read_text()
        assert "network" in r.output and "create a new token" not in r.output


# ------------------------------------------------------------------ the history tells the truth
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_between_batches_exits_130_and_is_recorded_as_interrupted(
    tmp_path: Path, sb: Any, sig: int
) -> None:
    from fbsync.dev.demo import seed

    crm = tmp_path / "big.db"
    seed(crm, n=30_000, seed=3)
    wd = make_workdir(tmp_path / "w", crm, sb.url)
    hold = HoldWrite(at=2)  # the first /users batch after the creation
    sb.app.policies.append(hold)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbsync", "sync", "-c", str(wd.path / "audiences.yaml")],
        env={**os.environ, **wd.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert hold.reached.wait(120), proc.communicate(timeout=5)
        proc.send_signal(sig)
        time.sleep(0.3)
    finally:
        hold.release.set()
    out, err = proc.communicate(timeout=120)
    sb.app.policies.remove(hold)
    assert proc.returncode == 130, (out + err).decode()
    assert b"Traceback" not in err and b"received" in err
    (run,) = history(wd)
    assert run["status"] == "interrupted"
    assert any(a["status"] == "interrupted" for a in run["audiences"])
    r = wd.run("sync")  # the next run sends the rest
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------ bounded time
class Stuck:
    """A server that accepts connections and never answers (a stuck proxy)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list[socket.socket] = []
        self.accepts = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepts += 1
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


def test_a_stuck_graph_endpoint_costs_the_budget_once_not_once_per_audience(wd: Workdir) -> None:
    edit(wd, lambda c: c.update(api={"max_attempts": 6, "max_wait_per_call_seconds": 1, "max_backoff_seconds": 0.1}))
    stuck = Stuck()
    try:
        start = time.monotonic()
        r = wd.run("sync", FBSYNC_GRAPH_URL=stuck.url)
        took = time.monotonic() - start
    finally:
        stuck.close()
    assert r.exit_code == 1, r.output
    assert "stopped calling it for the rest of this run" in r.stderr
    assert took < 20, took  # 3 audiences: one call's budget, then every other call fails at once
    assert stuck.accepts <= 3, stuck.accepts
    no_traceback(r)


# ------------------------------------------------------------------ nothing deleted that fbsync must keep
def test_prune_never_deletes_an_audience_made_by_upload(wd: Workdir, tmp_path: Path) -> None:
    csv = tmp_path / "salon.csv"
    csv.write_text("email\n" + "".join(f"visiteur.{i}@exemple.fr\n" for i in range(50)), encoding="utf-8")
    assert wd.run("upload", str(csv), "--audience", "salon").exit_code == 0
    assert wd.run("sync").exit_code == 0
    r = wd.run("sync", "--prune", "--json")
    assert r.exit_code == 0, r.output
    assert {o["name"]: o["action"] for o in json.loads(r.stdout)["orphans"]} == {"salon": "kept (upload)"}
    assert "salon" in wd.audiences()
    # an audience an older fbsync made by upload (no note of who asked) is known from the history
    store = StateStore.open(wd.state)
    try:
        store.set_extra("salon", made_by=None)
    finally:
        store.close()
    assert {o["action"] for o in json.loads(wd.run("sync", "--prune", "--json").stdout)["orphans"]} == {"kept (upload)"}
    assert "salon" in wd.audiences()
    # while an audience the YAML declared, then dropped, is pruned
    edit(wd, lambda c: c.update(audiences=[a for a in c["audiences"] if a["name"] != "vip"]))
    pruned = json.loads(wd.run("sync", "--prune", "--json").stdout)["orphans"]
    assert {o["name"]: o["action"] for o in pruned} == {"salon": "kept (upload)", "vip": "pruned"}
    assert "Clients VIP" not in wd.audiences() and "salon" in wd.audiences()


# ------------------------------------------------------------------ what a user reads
def test_the_summary_says_the_members_changed(wd: Workdir) -> None:
    from fbsync.dev.demo import churn

    assert wd.run("sync").exit_code == 0
    churn(wd.crm, seed=4)
    r = wd.run("sync")
    assert r.exit_code == 0 and "members updated" in r.stdout
    rows = [line for line in r.stdout.splitlines() if "unchanged" in line]
    assert all("+0 −0" in line for line in rows), rows


def test_cli_conventions(wd: Workdir) -> None:
    from fbsync import __version__

    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"fbsync {__version__}"
    for args in (["-h"], ["sync", "-h"], ["upload", "--help"]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0 and "Usage:" in r.output and "<bool>" not in r.output
    assert "Examples" in CliRunner().invoke(app, ["sync", "-h"]).output
    assert "--install-completion" in CliRunner().invoke(app, ["-h"]).output
    r = wd.run("validate", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["valid"] is True
    r = wd.run("doctor", "--json")
    assert r.exit_code == 0 and all(c["ok"] for c in json.loads(r.stdout)["checks"] if c["blocking"])
    r = wd.run("sync", "nobody", "--json")
    err = json.loads(r.stdout)["error"]
    assert r.exit_code == 2 and err["exit_code"] == 2 and "nobody" in err["message"]


def test_every_exit_code_is_documented() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert f"**{code}**" in readme, code
    assert admin  # e2e_helpers' admin is what the sandbox tests read through
