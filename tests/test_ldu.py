"""Limited Data Use: per audience or per row, sent as Meta's per-row fields, never lost."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import make_workdir

from fbsync.meta.client import _users_params
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e


class Payloads:
    """Sandbox policy: keep each /users payload's schema and first row (what Meta receives)."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[str], list[Any]]] = []

    def intercept(self, app: Any, req: Any) -> None:
        if req.segments[-1:] == ["users"] and req.method == "POST":
            p = req.params.get("payload")
            p = json.loads(p) if isinstance(p, str) else p
            self.seen.append((p["schema"], p["data"][0]))


def test_the_payload_carries_metas_types() -> None:
    out = _users_params(
        ("EMAIL", "DATA_PROCESSING_OPTIONS", "DATA_PROCESSING_OPTIONS_COUNTRY", "DATA_PROCESSING_OPTIONS_STATE"),
        [("h" * 64, "LDU", "1", "1000"), ("g" * 64, "", "0", "0")],
        {"session_id": 1, "batch_seq": 1, "last_batch_flag": True},
    )
    assert out["payload"]["data"] == [["h" * 64, ["LDU"], 1, 1000], ["g" * 64, [], 0, 0]]


YAML = """version: 1
ad_account_id: act_77
crm: {url: "sqlite:///demo/crm.db"}
defaults: {default_country: FR, consent: null}
audiences:
  - name: californians
    query: "SELECT email, ldu, ldu_country, ldu_state FROM people"
    keys: {EMAIL: email, DATA_PROCESSING_OPTIONS: ldu, DATA_PROCESSING_OPTIONS_COUNTRY: ldu_country,
           DATA_PROCESSING_OPTIONS_STATE: ldu_state}
  - name: everyone_ldu
    query: "SELECT email FROM people"
    keys: {EMAIL: email}
    data_processing_options: [LDU]
    data_processing_options_country: 1
    data_processing_options_state: 1000
"""


def test_ldu_per_row_and_per_audience_reaches_meta(tmp_path: Path, demo_crm: Path) -> None:
    with running_sandbox() as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url, YAML)
        con = sqlite3.connect(wd.crm)
        con.execute("CREATE TABLE people (email TEXT, ldu TEXT, ldu_country INTEGER, ldu_state INTEGER)")
        con.executemany(
            "INSERT INTO people VALUES (?, ?, ?, ?)",
            [(f"p{i}@exemple.fr", "LDU" if i % 2 else "", 1 if i % 2 else 0, 1000 if i % 2 else 0) for i in range(40)]
            + [("bad@exemple.fr", "maybe", 1, 1000)],
        )
        con.commit()
        con.close()
        seen = Payloads()
        sb.app.policies.append(seen)
        r = wd.run("sync", "--json")
        assert r.exit_code == 0, r.output
        rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
        assert rep["californians"]["added"] == 40  # the row Meta would refuse is dropped, with the reason
        assert rep["californians"]["drops"] == {"DATA_PROCESSING_OPTIONS": {"not LDU or empty": 1}}
        assert rep["everyone_ldu"]["added"] == 41
        schemas = {tuple(s) for s, _ in seen.seen}
        assert (
            "EMAIL",
            "DATA_PROCESSING_OPTIONS",
            "DATA_PROCESSING_OPTIONS_COUNTRY",
            "DATA_PROCESSING_OPTIONS_STATE",
        ) in schemas
        rows = [row for s, row in seen.seen if s[0] == "EMAIL"]
        assert all(isinstance(row[1], list) and isinstance(row[2], int) for row in rows)
        assert any(row[1:] == [["LDU"], 1, 1000] for row in rows)
        # turning LDU off for the audience re-sends its rows without the flag, with one replace (a diff would add
        # and then remove rows of the same people, and Meta would remove them)
        text = (wd.path / "audiences.yaml").read_text()
        (wd.path / "audiences.yaml").write_text(
            text.replace("data_processing_options: [LDU]", "data_processing_options: []")
        )
        seen.seen.clear()
        r = wd.run("sync", "everyone_ldu", "--json")
        assert r.exit_code == 0, r.output
        (a,) = json.loads(r.stdout)["audiences"]
        assert a["strategy"] == "replace" and a["replaced"] == 41 and a["removed"] == 0
        replaced = sb.app.request_count()["by_endpoint"]
        assert replaced.get("POST /usersreplace", 0) >= 1, replaced
