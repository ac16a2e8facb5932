"""No output path carries a secret or a customer identifier, whatever fails (a property test over the
commands' error paths).

Hypothesis picks a command and a fault; every command runs as a user runs it, with a token, an app secret
and a state key set, against a CRM of known people. Then the terminal (stdout and stderr), the log file,
the run history and the HTML report are searched for each secret and each person's e-mail and phone.
"""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from fbsync.cli import app
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e
TOKEN = "EAAtokenSECRET0123456789abcdef"
APP_SECRET = "appSECRET0123456789abcdef"
STATE_KEY = "stateKEY-SECRET-0123456789abcdef"
SECRETS = (TOKEN, APP_SECRET, STATE_KEY)
PEOPLE = [(f"client.{i}.dupont@exemple.fr", f"06 12 34 {i // 10 % 10}{i % 10} 78") for i in range(120)]
YAML = """version: 1
ad_account_id: act_4242
crm: {url: "sqlite:///crm.db"}
defaults: {default_country: FR, consent: null}
audiences:
  - name: vip
    display_name: "Clients VIP"
    query: "SELECT email, phone FROM customers"
    keys: {EMAIL: email, PHONE: phone}
  - name: lal_vip
    lookalike: {source: vip, countries: [FR], ratios: [0.01]}
"""
COMMANDS = {
    "validate": ["validate"],
    "plan": ["plan", "--json"],
    "sync": ["sync", "-v"],
    "status": ["status", "--json"],
    "history": ["history", "--json"],
    "doctor": ["doctor"],
    "report": ["report", "-o", "{dir}/report.html"],
    "upload": ["upload", "{dir}/people.csv", "--audience", "salon"],
    "upload_no_header": ["upload", "{dir}/noheader.csv", "--audience", "salon"],
    "hash_no_header": ["hash", "{dir}/noheader.csv", "--map", "EMAIL=email"],
    "forget": ["forget", "--email", PEOPLE[3][0], "--yes"],
    "purge": ["purge", "vip", "--yes"],
}
FAULTS = ["none", "wrong_token", "graph_down", "broken_yaml", "meta_errors"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    with running_sandbox(access_token=TOKEN, app_secret=APP_SECRET) as sb:
        yield sb


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workdir(tmp: Path) -> None:
    con = sqlite3.connect(tmp / "crm.db")
    con.execute("CREATE TABLE IF NOT EXISTS customers (email TEXT, phone TEXT)")
    con.execute("DELETE FROM customers")
    con.executemany("INSERT INTO customers VALUES (?, ?)", PEOPLE)
    con.commit()
    con.close()
    (tmp / "people.csv").write_text("email,phone\n" + "".join(f"{e},{p}\n" for e, p in PEOPLE[:40]))
    (tmp / "noheader.csv").write_text("".join(f"{e},{p}\n" for e, p in PEOPLE[40:60]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(sorted(COMMANDS)), fault=st.sampled_from(FAULTS), synced=st.booleans())
def test_no_secret_and_no_identifier_leaves_through_any_output(
    tmp_path_factory: pytest.TempPathFactory, sandbox: Any, command: str, fault: str, synced: bool
) -> None:
    tmp = tmp_path_factory.mktemp("leak")
    workdir(tmp)
    yaml_text = (
        YAML if fault != "broken_yaml" else YAML.replace("ad_account_id: act_4242", f"ad_account_id: {PEOPLE[0][0]}")
    )
    cfg = tmp / "audiences.yaml"
    cfg.write_text(yaml_text, encoding="utf-8")
    env = {
        "FB_ACCESS_TOKEN": TOKEN,
        "FB_APP_SECRET": APP_SECRET,
        "FBSYNC_STATE_KEY": STATE_KEY,
        "FBSYNC_STATE_DIR": str(tmp / ".fbsync"),
        "FBSYNC_GRAPH_URL": sandbox.url,
    }
    outputs = []
    if synced and fault != "broken_yaml":
        outputs.append(CliRunner().invoke(app, ["sync", "-c", str(cfg)], env=env).output)
    if fault == "wrong_token":
        env["FB_ACCESS_TOKEN"] = TOKEN[:-4] + "XXXX"
    elif fault == "graph_down":
        env["FBSYNC_GRAPH_URL"] = f"http://user:{TOKEN}@127.0.0.1:{closed_port()}/?access_token={TOKEN}"
        cfg.write_text(yaml_text + "api: {max_attempts: 1, max_wait_per_call_seconds: 2}\n", encoding="utf-8")
    elif fault == "meta_errors":
        from fbsync.sandbox import Faults

        sandbox.app.faults = Faults(seed=1, error_rate=1.0)
    try:
        args = [a.replace("{dir}", str(tmp)) for a in COMMANDS[command]]
        r = CliRunner().invoke(app, [*args, "-c", str(cfg)], env={**env, "FB_ACCESS_TOKEN": env["FB_ACCESS_TOKEN"]})
    finally:
        sandbox.app.faults = None
    assert r.exit_code in {0, 1, 2, 3, 130}, r.output
    assert "Traceback" not in r.output, r.output
    outputs.append(r.output)
    log = tmp / ".fbsync" / "fbsync.log"
    if log.exists():
        outputs.append(log.read_text(encoding="utf-8"))
    hist = CliRunner().invoke(app, ["history", "--json", "-c", str(cfg)], env=env)
    if hist.exit_code == 0:
        outputs.append(json.dumps(json.loads(hist.stdout)))
    if (tmp / "report.html").exists():
        outputs.append((tmp / "report.html").read_text(encoding="utf-8"))
    text = "\n".join(outputs)
    for secret in SECRETS:
        assert secret not in text, (command, fault, secret)
    for email, phone in PEOPLE:
        assert email not in text and phone not in text, (command, fault, email)
