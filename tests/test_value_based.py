"""Value-based lists and lookalikes, end to end against the sandbox (which refuses what Meta refuses from its
own rules: a value-based add without LOOKALIKE_VALUE, a negative value, a replace that switches kind, a
lookalike spec that does not fit the seed, the value-based terms)."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import ROOT, Workdir, configure, make_workdir

from fbsync import identity
from fbsync.read import is_consent
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e

YAML = """\
version: 1
ad_account_id: act_1234567890
crm: {url: "sqlite:///demo/crm.db"}
defaults: {default_country: FR, consent: consent, max_shrink: 0.9}
audiences:
  - name: best
    display_name: "Meilleurs clients"
    query: "SELECT email, phone, lifetime_value, consent FROM customers WHERE id % 4 = 0"
    keys: {EMAIL: email, PHONE: phone}
    value: lifetime_value
TRANSFORM
  - name: lal_best
    lookalike: {source: best, countries: [FR], ratios: [0.01, 0.02]}
"""


@pytest.fixture
def sb() -> Iterator[Any]:
    with running_sandbox() as s:
        yield s


def workdir(tmp: Path, crm: Path, sb: Any, transform: str = "") -> Workdir:
    return make_workdir(tmp, crm, sb.url, YAML.replace("TRANSFORM\n", transform))


def expected(wd: Workdir, value: Any = float) -> set[tuple[str, ...]]:
    """The rows the list must hold: hashed identifiers, then the value as fbsync keeps it."""
    con = sqlite3.connect(wd.crm)
    rows = [
        r
        for r in con.execute("SELECT email, phone, lifetime_value, consent FROM customers WHERE id % 4 = 0")
        if is_consent(r[3])
    ]
    con.close()
    batch = identity.hash_batch({"EMAIL": [r[0] for r in rows], "PHONE": [r[1] for r in rows]}, "FR")
    best: dict[tuple[str, ...], float] = {}  # the same identifiers are one person: the highest value is kept
    for row, i in zip(batch.rows, batch.kept_index):
        best[row] = max(best.get(row, -1.0), _text(value(rows[i][2])))
    return {(*row, v) for row, v in best.items()}


def _text(v: float) -> float:
    """The value as Meta holds it (a number; fbsync keeps at most 4 decimals)."""
    return round(v, 4)


def members(wd: Workdir) -> set[tuple[Any, ...]]:
    return {(*r[:-1], float(r[-1])) for r in wd.members("Meilleurs clients")}


def test_a_value_based_list_and_its_lookalike(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    on_meta = wd.audiences()
    best = on_meta["Meilleurs clients"]
    assert wd.graph(best["id"], "is_value_based")["is_value_based"] and rep["best"]["action"] == "created"
    assert members(wd) == expected(wd)
    lals = [wd.graph(a["id"], "lookalike_spec") for n, a in on_meta.items() if n.startswith("lal_best")]
    assert len(lals) == 2 and all(a["lookalike_spec"]["type"] == "custom_ratio" for a in lals), lals
    # a changed value is a real change: the row is removed and sent again, no duplicate left
    con = sqlite3.connect(wd.crm)
    ids = [i for (i,) in con.execute("SELECT id FROM customers WHERE id % 4 = 0 LIMIT 5")]
    con.execute(f"UPDATE customers SET lifetime_value = lifetime_value + 1000 WHERE id IN ({','.join(map(str, ids))})")
    con.commit()
    con.close()
    plan = json.loads(wd.run("plan", "best", "--json").stdout)["audiences"][0]
    r = wd.run("sync", "best", "--json")
    (a,) = json.loads(r.stdout)["audiences"]
    assert members(wd) == expected(wd)
    changed = a["removed"]
    assert 0 < changed <= 5 and a["added"] - a["resent"] == changed  # old value out, new value in
    assert (plan["added"], plan["removed"]) == (a["added"], a["removed"])


def test_value_transform_clips_to_percentiles_then_logs(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb, "    value_transform: {clip: [p05, p95], log: true}\n")
    r = wd.run("plan", "best")
    assert r.exit_code == 0 and "clipped to [" in r.stdout and "then ln(1 + value)" in r.stdout, r.stdout
    assert wd.run("sync", "best").exit_code == 0
    values = sorted(float(r[-1]) for r in members(wd))
    raw = sorted(float(v[-1]) for v in expected(wd))
    import numpy as np

    lo, hi = np.percentile(raw, 5), np.percentile(raw, 95)
    assert math.isclose(values[0], math.log1p(lo), abs_tol=1e-3) and math.isclose(
        values[-1], math.log1p(hi), abs_tol=1e-3
    )


@pytest.mark.parametrize(
    "update, words",
    [
        ("lifetime_value = -5", "is negative"),
        ("lifetime_value = NULL", "holds nothing"),
        ("lifetime_value = 'beaucoup'", "is not a number"),
    ],
)
def test_values_meta_would_refuse_refuse_the_audience(
    tmp_path: Path, demo_crm: Path, sb: Any, update: str, words: str
) -> None:
    wd = make_workdir(
        tmp_path,
        demo_crm,
        sb.url,
        YAML.replace("TRANSFORM\n", "").split("  - name: lal_best")[0]
        + '  - name: vip\n    query: "SELECT email, consent FROM customers WHERE is_vip = 1"\n'
        + "    keys: {EMAIL: email}\n",
    )
    con = sqlite3.connect(wd.crm)
    con.execute(f"UPDATE customers SET {update} WHERE id IN (SELECT id FROM customers WHERE id % 4 = 0 "
                "AND consent = 1 AND email LIKE '%@%.%' LIMIT 3)")  # fmt: skip
    con.commit()
    con.close()
    v = wd.run("validate")
    assert v.exit_code == 2 and "3 rows where it " + words in v.stderr and "COALESCE" in v.stderr, v.output
    r = wd.run("sync", "--json")
    assert r.exit_code == 1
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["best"]["status"] == "refused" and words in rep["best"]["message"]
    assert rep["vip"]["status"] == "ok"  # the others still sync
    assert "Meilleurs clients" not in wd.audiences()  # nothing sent for it


def test_changing_value_recreates_the_list_and_its_lookalikes(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    plain = YAML.replace("    value: lifetime_value\n", "").replace("TRANSFORM\n", "")
    wd = make_workdir(tmp_path, demo_crm, sb.url, plain)
    assert wd.run("sync").exit_code == 0
    old = wd.audiences()["Meilleurs clients"]
    assert not wd.graph(old["id"], "is_value_based").get("is_value_based")
    (wd.path / "audiences.yaml").write_text(YAML.replace("TRANSFORM\n", ""), encoding="utf-8")
    plan = json.loads(wd.run("plan", "--json").stdout)["audiences"]
    best = next(a for a in plan if a["name"] == "best")
    assert best["action"] == "create" and any("re-created as a value-based list" in n for n in best["notes"])
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    on_meta = wd.audiences()
    new = on_meta["Meilleurs clients"]
    assert wd.graph(new["id"], "is_value_based")["is_value_based"] and new["id"] != old["id"]
    retired = [a for n, a in on_meta.items() if n.startswith("Meilleurs clients (replaced")]
    assert [a["id"] for a in retired] == [old["id"]]
    orphans = json.loads(r.stdout)["orphans"]
    assert {o["meta_id"] for o in orphans} >= {old["id"]}  # listed; --prune deletes it (lookalikes first)
    lals = [
        wd.graph(a["id"], "lookalike_spec")
        for n, a in on_meta.items()
        if n.startswith("lal_best") and "(replaced" not in n
    ]
    assert len(lals) == 2 and all(a["lookalike_spec"]["origin"][0]["id"] == new["id"] for a in lals), lals
    r = wd.run("sync", "--prune", "--json")
    assert r.exit_code == 0, r.output
    assert old["id"] not in {a["id"] for a in wd.audiences().values()}


def test_value_based_terms_not_accepted_stop_with_the_link(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    configure(sb.url, value_based_tos=False)
    wd = workdir(tmp_path, demo_crm, sb)
    r = wd.run("sync")
    assert r.exit_code == 3 and "value-based audience terms" in r.stderr and "value_based/tos.php" in r.stderr
    d = wd.run("doctor")
    assert "value-based terms: not accepted" in d.stdout


def test_the_readme_worked_example(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    """examples/best-customers.yaml: a value-based 1 % lookalike of the best customers, behind quality gates."""
    wd = make_workdir(tmp_path, demo_crm, sb.url)
    text = (ROOT / "examples" / "best-customers.yaml").read_text(encoding="utf-8")
    (wd.path / "examples").mkdir()
    (wd.path / "examples" / "best-customers.yaml").write_text(text, encoding="utf-8")
    cfg = str(wd.path / "examples" / "best-customers.yaml")
    from typer.testing import CliRunner

    from fbsync.cli import app

    r = CliRunner().invoke(app, ["sync", "-c", cfg, "--json"], env=wd.env(), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    gates = {g["name"]: g for g in rep["best_customers"]["quality"]}
    assert gates["min_rows"]["status"] == "passed" and gates["consistency ZIP_COUNTRY"]["status"] == "passed"
    assert gates["max_change_share"]["status"] == "not applicable"  # a first sync
    assert gates["outliers"]["status"] in ("passed", "warning")
    assert rep["lal_best_customers"]["action"] == "created"
    on_meta = wd.audiences()
    assert wd.graph(on_meta["Meilleurs clients (valeur)"]["id"], "is_value_based")["is_value_based"]
    r = CliRunner().invoke(app, ["sync", "-c", cfg], env=wd.env(), catch_exceptions=False)
    assert r.exit_code == 0 and "Quality gates:" in r.stdout and "✓" in r.stdout
