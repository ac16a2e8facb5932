"""Data-quality gates end to end on the demo CRM against the sandbox: each gate blocking and passing, a failed
gate refusing one audience while the others sync, --force, and the figures kept run after run."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Workdir, make_workdir

from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e

YAML = """\
version: 1
ad_account_id: act_1234567890
crm: {url: "sqlite:///demo/crm.db"}
defaults: {default_country: FR, consent: consent, max_shrink: 0.9}
audiences:
  - name: gated
    query: "SELECT email, phone, zip, country, birth_date, lifetime_value, consent FROM customers WHERE id % 3 = 0"
    keys: {EMAIL: email, PHONE: phone, ZIP: zip, COUNTRY: country, DOBY: birth_date}
    value: lifetime_value
    quality: QUALITY
  - name: vip
    query: "SELECT email, consent FROM customers WHERE is_vip = 1"
    keys: {EMAIL: email}
"""


@pytest.fixture(scope="module")
def sb() -> Iterator[Any]:
    with running_sandbox() as s:
        yield s


def workdir(tmp: Path, crm: Path, sb: Any, quality: str) -> Workdir:
    return make_workdir(tmp, crm, sb.url, YAML.replace("QUALITY", quality))


def gates(r: Any) -> dict[str, dict[str, Any]]:
    (a,) = [a for a in json.loads(r.stdout)["audiences"] if a["name"] == "gated"]
    return {g["name"]: g for g in a["quality"]}


@pytest.mark.parametrize(
    "gate, failing, passing",
    [
        ("min_rows", "{min_rows: 100000}", "{min_rows: 100}"),
        ("max_rows", "{max_rows: 100}", "{max_rows: 100000}"),
        ("max_null_share EMAIL", "{max_null_share: {EMAIL: 0.001}}", "{max_null_share: {EMAIL: 0.5}}"),
        ("max_invalid_share PHONE", "{max_invalid_share: {PHONE: 0.0001}}", "{max_invalid_share: {PHONE: 0.9}}"),
        ("max_duplicate_share", "{max_duplicate_share: 0}", "{max_duplicate_share: 0.5}"),
        ("max_drop_share", "{max_drop_share: 0.01}", "{max_drop_share: 0.9}"),
        (
            "consistency ZIP_COUNTRY",
            "{consistency: [ZIP_COUNTRY], max_inconsistent_share: 0}",
            "{consistency: [ZIP_COUNTRY], max_inconsistent_share: 0.9}",
        ),
        (
            "consistency DOB_AGE",
            "{consistency: [DOB_AGE], max_inconsistent_share: 0}",
            "{consistency: [DOB_AGE], max_inconsistent_share: 0.9}",
        ),
        (
            "outliers",
            "{outliers: {rule: zscore, threshold: 2, max_share: 0, block: true}}",
            "{outliers: {rule: zscore, threshold: 50, block: true}}",
        ),
    ],
)  # fmt: skip
def test_each_gate_blocks_and_passes(
    tmp_path: Path, demo_crm: Path, sb: Any, gate: str, failing: str, passing: str
) -> None:
    wd = workdir(tmp_path / "fail", demo_crm, sb, failing)
    r = wd.run("plan", "--json")
    assert r.exit_code == 1, r.output
    g = gates(r)[gate]
    assert g["status"] == "failed" and g["blocking"] and g["measured"] is not None, g
    (refused,) = [a for a in json.loads(r.stdout)["audiences"] if a["name"] == "gated"]
    assert refused["status"] == "refused" and f"[{gate}]" in refused["message"] and "--force" in refused["message"]
    wd = workdir(tmp_path / "pass", demo_crm, sb, passing)
    r = wd.run("plan", "--json")
    assert r.exit_code == 0, r.output
    assert gates(r)[gate]["status"] == "passed"


def test_a_failed_gate_refuses_one_audience_force_passes_and_history_keeps_the_figures(
    tmp_path: Path, demo_crm: Path, sb: Any
) -> None:
    wd = workdir(tmp_path, demo_crm, sb, "{max_null_share: {EMAIL: 0.5}, max_change_share: 0.05}")
    assert wd.run("sync").exit_code == 0
    con = sqlite3.connect(wd.crm)
    con.execute("UPDATE customers SET email = NULL WHERE id % 30 = 0")  # a tenth of gated loses its e-mail
    con.commit()
    con.close()
    r = wd.run("sync", "--json")
    assert r.exit_code == 1
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["gated"]["status"] == "refused" and rep["gated"]["added"] == rep["gated"]["removed"] == 0
    assert rep["vip"]["status"] == "ok"
    change = gates(r)["max_change_share"]
    assert change["status"] == "failed" and change["measured"] > 0.05
    text = wd.run("plan").stdout
    assert "Quality gates:" in text and "✗" in text and "✓" in text
    r = wd.run("sync", "gated", "--force", "--json")
    assert r.exit_code == 0, r.output
    history = json.loads(wd.run("history", "--json").stdout)
    figures = [
        json.loads(a["details"]).get("quality") for run in history for a in run["audiences"] if a["audience"] == "gated"
    ]
    assert len(figures) == 3 and all(figures)
    assert wd.run("report", "-o", str(tmp_path / "r.html")).exit_code == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Quality gates: measured in the last 3 runs" in page and "max_change_share" in page and "✗" in page
