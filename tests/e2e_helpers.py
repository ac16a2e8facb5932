"""Helpers for end-to-end tests: run fbsync against a live sandbox and read what the sandbox holds."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from fbsync import identity
from fbsync.cli import app
from fbsync.read import is_consent

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "e2e-token-0123456789"
#: The demo CRM's "everyone" audience: the query and key mapping the crash and resilience tests sync.
EVERYONE_QUERY = "SELECT email, phone, first_name, last_name, consent FROM customers"
EVERYONE_KEYS = {"EMAIL": "email", "PHONE": "phone", "FN": "first_name", "LN": "last_name"}


def everyone_yaml(account: str, mode: str, width: int = 1, api: str = "") -> str:
    """One audience of every consenting customer (``mode``), with ``width`` member batches in flight at most."""
    return f"""
version: 1
ad_account_id: {account}
crm: {{url: "sqlite:///demo/crm.db"}}
defaults: {{default_country: FR, consent: consent, mode: {mode}}}
api: {{max_uploads_in_flight: {width}{api}}}
audiences:
  - name: everyone
    query: "{EVERYONE_QUERY}"
    keys: {EVERYONE_KEYS}
"""


#: A two-audience file on the demo CRM (vip, everyone); ``{extra}`` takes top-level blocks (alerts: …).
TWO_AUDIENCES = """\
version: 1
ad_account_id: act_1234567890
crm: {{url: "sqlite:///demo/crm.db"}}
defaults: {{default_country: FR, consent: consent, max_shrink: 0.5}}
{extra}audiences:
  - name: vip
    query: "SELECT email, phone, consent FROM customers WHERE is_vip = 1"
    keys: {{EMAIL: email, PHONE: phone}}
  - name: everyone
    query: "SELECT email, phone, first_name, last_name, consent FROM customers"
    keys: {{EMAIL: email, PHONE: phone, FN: first_name, LN: last_name}}
"""


def admin(url: str, path: str, method: str = "GET") -> Any:
    req = urllib.request.Request(url + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


def configure(url: str, **knobs: Any) -> Any:
    """Set sandbox knobs (``POST /__sandbox/config``), e.g. Meta's unpublished minimum size after a removal."""
    req = urllib.request.Request(
        url + "/__sandbox/config",
        method="POST",
        data=json.dumps(knobs).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


@dataclass
class Workdir:
    path: Path
    sandbox_url: str

    @property
    def crm(self) -> Path:
        return self.path / "demo" / "crm.db"

    @property
    def state(self) -> Path:
        return self.path / ".fbsync"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "FB_ACCESS_TOKEN": TOKEN,
            "FBSYNC_GRAPH_URL": self.sandbox_url,
            "FBSYNC_STATE_DIR": str(self.state),
            **extra,
        }

    def run(self, *args: str, **env: str) -> Any:
        result = CliRunner().invoke(
            app, [*args, "-c", str(self.path / "audiences.yaml")], env=self.env(**env), catch_exceptions=False
        )
        return result

    def change_crm(self, sql: str) -> None:
        """Run one statement on the workdir's CRM (a churn, a consent change) and commit it."""
        con = sqlite3.connect(self.crm)
        try:
            con.execute(sql)
            con.commit()
        finally:
            con.close()

    def audiences(self) -> dict[str, dict[str, Any]]:
        """Sandbox audiences by name."""
        return {a["name"]: a for a in admin(self.sandbox_url, "/__sandbox/audiences")["data"]}

    def graph(self, meta_id: str, fields: str) -> dict[str, Any]:
        """What Meta's Graph API answers for one object (``GET /{id}?fields=…``)."""
        url = f"{self.sandbox_url}/v26.0/{meta_id}?fields={fields}&access_token={TOKEN}"
        with urllib.request.urlopen(url, timeout=10) as r:
            return dict(json.loads(r.read()))

    def members(self, name: str) -> set[tuple[str, ...]]:
        aud = self.audiences()[name]
        data = admin(self.sandbox_url, f"/__sandbox/audiences/{aud['id']}/members")
        return {tuple(r) for r in data["rows"]}

    def requests(self) -> dict[str, Any]:
        return admin(self.sandbox_url, "/__sandbox/requests")

    def writes(self) -> int:
        """Graph calls that change something (POST/DELETE) so far."""
        return sum(n for k, n in self.requests()["by_endpoint"].items() if not k.startswith("GET"))


def make_workdir(tmp: Path, crm: Path, sandbox_url: str, yaml_text: str | None = None) -> Workdir:
    (tmp / "demo").mkdir(parents=True, exist_ok=True)
    shutil.copy(crm, tmp / "demo" / "crm.db")
    (tmp / "audiences.yaml").write_text(
        yaml_text or (ROOT / "audiences.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return Workdir(tmp, sandbox_url)


def expected_rows(
    crm: Path, query: str, keys: dict[str, str], consent: str | None = "consent", country: str | None = "FR"
) -> set[tuple[str, ...]]:
    """What an audience must hold: consenting rows of the query, hashed by the identity engine."""
    con = sqlite3.connect(crm)
    con.row_factory = sqlite3.Row
    rows = [r for r in con.execute(query) if consent is None or is_consent(r[consent])]
    con.close()
    batch = identity.hash_batch({k: [r[c] for r in rows] for k, c in keys.items()}, country)
    return set(batch.rows)


class HoldWrite:
    """Sandbox policy: the Nth write (POST or DELETE) blocks until ``release`` (at most 60 s), while the test
    kills or interrupts the client; Meta then applies it. ``reached`` is set when that write arrives."""

    def __init__(self, at: int) -> None:
        self.at, self.writes = at, 0
        self.reached, self.release = threading.Event(), threading.Event()

    def intercept(self, app: Any, req: Any) -> None:
        if req.method in ("POST", "DELETE"):
            self.writes += 1
            if self.writes == self.at:
                self.reached.set()
                self.release.wait(60)


def spy_on_arrays(monkeypatch: Any) -> list[bool]:
    """Watch ``columnar.hash_block`` (every chunk a read or an upload hashes goes through it): one entry per
    chunk, True when every column came as an Arrow array (the column-wise path), False when as lists."""
    import pyarrow as pa

    from fbsync.sources import columnar

    seen: list[bool] = []
    original = columnar.hash_block

    def spy(columns: dict[str, Any], country: str | None) -> Any:
        seen.append(all(isinstance(v, pa.Array) for v in columns.values()))
        return original(columns, country)

    monkeypatch.setattr(columnar, "hash_block", spy)
    return seen
