"""Several ad accounts: one audience synced to a list of accounts from one CRM read; state, ledger,
lookalikes, status, doctor, forget and metrics per (account, audience); one failing account never stops
the others (exit 1), all of them failing is exit 3; the pure rules of :mod:`fbsync.accounts`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Workdir, admin, configure, make_workdir

from fbsync import accounts
from fbsync.config import parse_config
from fbsync.errors import ConfigError
from fbsync.state.store import StateStore

HOME, B, C = "act_1000", "act_2000", "act_3000"
YAML = f"""\
version: 1
ad_account_id: {HOME}
crm: {{url: "sqlite:///demo/crm.db"}}
defaults: {{default_country: FR, consent: consent, max_shrink: 0.5}}
audiences:
  - name: vip
    query: "SELECT email, phone, consent FROM customers WHERE is_vip = 1"
    keys: {{EMAIL: email, PHONE: phone}}
    ad_account_id: [{HOME}, {B}, {C}]
  - name: everyone
    query: "SELECT email, phone, first_name, last_name, consent FROM customers"
    keys: {{EMAIL: email, PHONE: phone, FN: first_name, LN: last_name}}
  - name: vip_lookalike
    lookalike: {{source: vip, countries: [FR], ratios: [0.01]}}
"""


# -- pure ----------------------------------------------------------------------------------------------


def cfg(text: str = YAML) -> Any:
    return parse_config(text)


def test_accounts_of_an_audience_its_own_then_defaults_then_the_file() -> None:
    c = cfg()
    vip, everyone, lal = c.audiences
    assert accounts.accounts_of(c, vip, HOME) == (HOME, B, C)
    assert accounts.accounts_of(c, everyone, HOME) == (HOME,)
    assert accounts.accounts_of(c, lal, HOME) == (HOME, B, C)  # a lookalike goes where its source goes
    assert accounts.accounts_of(c, everyone, "act_9") == ("act_9",)  # FB_AD_ACCOUNT_ID overrides the file's
    d = cfg(YAML.replace("defaults: {", f"defaults: {{ad_account_id: {B}, "))
    assert accounts.accounts_of(d, d.audiences[1], HOME) == (B,)


def test_slots_keep_the_home_accounts_state_where_it_was() -> None:
    assert accounts.slot("vip", HOME, HOME) == "vip"
    assert accounts.slot("vip", B, HOME) == "vip@act_2000"
    assert accounts.split("vip@act_2000") == ("vip", B) and accounts.split("vip") == ("vip", None)
    assert accounts.label("vip@act_2000") == "vip (act_2000)"
    c = cfg()
    assert [(u.name, u.account, u.slot) for u in accounts.units(c, c.audiences, HOME)] == [
        ("vip", HOME, "vip"),
        ("vip", B, "vip@act_2000"),
        ("vip", C, "vip@act_3000"),
        ("everyone", HOME, "everyone"),
        ("vip_lookalike", HOME, "vip_lookalike"),
        ("vip_lookalike", B, "vip_lookalike@act_2000"),
        ("vip_lookalike", C, "vip_lookalike@act_3000"),
    ]
    assert accounts.all_accounts(c, HOME) == [HOME, B, C]


def test_bad_account_lists_are_refused_with_the_fix() -> None:
    for bad, says in (
        ("[]", "non-empty list"),
        ("[act_1, act_1]", "listed twice"),
        ("[act_1, '12']", "must look like act_"),
    ):
        with pytest.raises(ConfigError, match=says):
            cfg(YAML.replace(f"[{HOME}, {B}, {C}]", bad))
    stray = cfg(YAML.replace("ratios: [0.01]}", "ratios: [0.01]}\n    ad_account_id: [act_4000]"))
    with pytest.raises(ConfigError, match="where its source 'vip' is not synced; add act_4000 to vip"):
        accounts.units(stray, stray.audiences, HOME)


# -- end to end against the sandbox ---------------------------------------------------------------------


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path, sb: Any) -> Iterator[Workdir]:
    admin(sb.url, "/__sandbox/reset", "POST")
    configure(sb.url, min_audience_size_after_removal=None, custom_audience_tos=True, accounts_without_tos=[])
    yield make_workdir(tmp_path, demo_crm, sb.url, YAML)
    configure(sb.url, custom_audience_tos=True, accounts_without_tos=[])


def on_meta(wd: Workdir) -> dict[tuple[str, str], dict[str, Any]]:
    """Sandbox audiences by (account, name)."""
    return {
        (f"act_{a['account_id']}".replace("act_act_", "act_"), a["name"]): a
        for a in admin(wd.sandbox_url, "/__sandbox/audiences")["data"]
    }


def members(wd: Workdir, meta_id: str) -> set[tuple[str, ...]]:
    return {tuple(r) for r in admin(wd.sandbox_url, f"/__sandbox/audiences/{meta_id}/members")["rows"]}


def summary(wd: Workdir, *args: str) -> tuple[int, dict[str, Any]]:
    r = wd.run("sync", *args, "--json")
    return r.exit_code, json.loads(r.stdout)


def by_slot(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in doc["audiences"]}


@pytest.mark.e2e
def test_one_audience_on_three_accounts_from_one_crm_read(wd: Workdir, monkeypatch: pytest.MonkeyPatch) -> None:
    from fbsync.read import Reader

    reads: list[str] = []
    original = Reader.audience

    def counting(self: Reader, a: Any, *args: Any, **kw: Any) -> Any:
        reads.append(a.name)
        return original(self, a, *args, **kw)

    monkeypatch.setattr(Reader, "audience", counting)
    code, doc = summary(wd)
    assert code == 0, doc
    assert sorted(reads) == ["everyone", "vip"]  # vip read once for its three accounts
    got = by_slot(doc)
    assert {n: (a["account"], a["status"]) for n, a in got.items() if not n.startswith("vip_lookalike")} == {
        "vip": (HOME, "ok"),
        "vip@act_2000": (B, "ok"),
        "vip@act_3000": (C, "ok"),
        "everyone": (HOME, "ok"),
    }
    meta = on_meta(wd)
    ids = {acct: meta[(acct, "vip")]["id"] for acct in (HOME, B, C)}
    assert len(set(ids.values())) == 3  # three audiences, one per account, each named vip on Meta
    assert members(wd, ids[HOME]) == members(wd, ids[B]) == members(wd, ids[C]) != set()
    assert (B, "everyone") not in meta  # everyone stays on the file's account
    lal = [k for k in meta if meta[k]["subtype"] == "LOOKALIKE"]
    assert sorted(acct for acct, _ in lal) == [HOME, B, C]  # each made from the seed of its own account

    store = StateStore.open(wd.state)
    try:
        recs = {r.name: r for r in store.all_audiences()}
        assert recs["vip"].account_id == HOME and recs["vip@act_2000"].account_id == B
        assert recs["vip@act_3000"].meta_id == ids[C]
        assert store.ledger_count("vip") == store.ledger_count("vip@act_2000") == store.ledger_count("vip@act_3000")
        tier_accounts = {r.account_id for n, r in recs.items() if n.startswith("vip_lookalike")}
        assert tier_accounts == {HOME, B, C}
    finally:
        store.close()

    # the next run sends each account only its difference
    con = sqlite3.connect(wd.crm)
    con.execute("UPDATE customers SET is_vip = 1 WHERE id % 97 = 0 AND is_vip = 0")
    con.commit()
    con.close()
    code, doc = summary(wd)
    assert code == 0
    got = by_slot(doc)
    adds = {got[s]["added"] for s in ("vip", "vip@act_2000", "vip@act_3000")}
    assert len(adds) == 1 and adds.pop() > 0 and got["everyone"]["added"] == 0
    assert members(wd, ids[HOME]) == members(wd, ids[B]) == members(wd, ids[C])

    # status per account; the table names the account of each slot
    st = json.loads(wd.run("status", "--json").stdout)
    rows = {(r["name"], r["account"]): r for r in st}
    assert rows[("vip", B)]["meta_id"] == ids[B] and rows[("vip", C)]["ledger_rows"] > 0
    text = wd.run("status").stdout
    assert "vip (act_2000)" in text and "vip (act_3000)" in text


@pytest.mark.e2e
def test_one_failing_account_never_stops_the_others(wd: Workdir, sb: Any) -> None:
    configure(sb.url, accounts_without_tos=[C])
    code, doc = summary(wd)
    assert code == 1 and doc["status"] == "partial"
    got = by_slot(doc)
    assert got["vip@act_3000"]["status"] == "failed" and "terms are not accepted" in got["vip@act_3000"]["message"]
    assert got["vip@act_3000"]["account"] == C
    lal_c = got["vip_lookalike@act_3000"]
    assert lal_c["status"] == "failed" and lal_c["message"].startswith("not started: act_3000 stopped this run")
    for ok in ("vip", "vip@act_2000", "everyone", "vip_lookalike", "vip_lookalike@act_2000"):
        assert got[ok]["status"] == "ok", (ok, got[ok])
    assert {acct for acct, _ in on_meta(wd)} == {HOME, B}
    text = wd.run("sync").output  # the table and the sentence name the account
    assert "vip (act_3000)" in text
    # the terms accepted, the next run brings act_3000 in step
    configure(sb.url, accounts_without_tos=[])
    code, doc = summary(wd)
    assert code == 0 and by_slot(doc)["vip@act_3000"]["action"] == "created"


@pytest.mark.e2e
def test_every_account_failing_stops_the_run_with_exit_3(wd: Workdir, sb: Any) -> None:
    configure(sb.url, custom_audience_tos=False)
    r = wd.run("sync")
    assert r.exit_code == 3 and "terms are not accepted" in r.output


@pytest.mark.e2e
def test_doctor_checks_every_account(wd: Workdir, sb: Any) -> None:
    r = wd.run("doctor", "--json")
    assert r.exit_code == 0, r.stdout
    names = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    for acct in (HOME, B, C):
        assert names[f"ad account {acct}"]["ok"] and names[f"custom audience terms {acct}"]["ok"]
    configure(sb.url, accounts_without_tos=[B])
    r = wd.run("doctor", "--json")
    assert r.exit_code == 3
    names = {c["check"]: c for c in json.loads(r.stdout)["checks"]}
    assert not names[f"custom audience terms {B}"]["ok"] and names[f"custom audience terms {HOME}"]["ok"]
    assert "act=2000" in names[f"custom audience terms {B}"]["fix"]


@pytest.mark.e2e
def test_forget_and_metrics_cover_every_account(wd: Workdir, demo_crm: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    prom = wd.path / "fbsync.prom"
    assert wd.run("sync", "--metrics-file", str(prom)).exit_code == 0
    found = {
        (s.labels["account"], s.labels["audience"])
        for fam in text_string_to_metric_families(prom.read_text())
        for s in fam.samples
        if s.name == "fbsync_last_run_ok" and s.value == 1
    }
    assert {(HOME, "vip"), (B, "vip"), (C, "vip"), (HOME, "everyone")} <= found
    con = sqlite3.connect(wd.crm)
    email = con.execute("SELECT email FROM customers WHERE is_vip = 1 AND consent = 1 LIMIT 1").fetchone()[0]
    con.close()
    r = wd.run("forget", "--yes", "--email", email)
    assert r.exit_code == 0, r.output
    (run,) = [x for x in json.loads(wd.run("history", "--json").stdout) if x["command"] == "forget"]
    removed = {a["audience"]: a["rows_removed"] for a in run["audiences"]}
    assert all(removed[s] >= 1 for s in ("vip", "vip@act_2000", "vip@act_3000", "everyone")), removed


def new_ad_set(wd: Workdir, account: str) -> str:
    import urllib.request as ur

    body = {
        "account_id": account,
        "name": f"Prospection {account}",
        "targeting": {"geo_locations": {"countries": ["FR"]}},
    }
    req = ur.Request(
        f"{wd.sandbox_url}/__sandbox/adsets",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with ur.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["id"])


@pytest.mark.e2e
def test_an_ad_set_targets_its_own_accounts_audiences(wd: Workdir) -> None:
    on_b, on_home = new_ad_set(wd, B), new_ad_set(wd, HOME)
    text = (wd.path / "audiences.yaml").read_text()
    text += (
        f"ad_sets:\n  - {{id: '{on_b}', ad_account_id: {B}, include: [vip_lookalike], exclude: [vip]}}\n"
        f"  - {{id: '{on_home}', include: [vip], exclude: [everyone]}}\n"
        f"  - {{id: '{on_b}', ad_account_id: {B}, include: [everyone]}}\n"
    )
    (wd.path / "audiences.yaml").write_text(text)
    code, doc = summary(wd)
    assert code == 1  # the third ad set names an audience act_2000 does not get
    first, second, third = doc["ad_sets"]
    assert first["status"] == "updated" and second["status"] == "updated", doc["ad_sets"]
    assert third["status"] == "failed" and "'everyone' is not synced to act_2000" in third["message"]
    meta = on_meta(wd)
    t = wd.graph(on_b, "targeting")["targeting"]
    lal_b = {a["id"] for (acct, _), a in meta.items() if acct == B and a["subtype"] == "LOOKALIKE"}
    assert {a["id"] for a in t["custom_audiences"]} == lal_b and len(lal_b) == 1
    assert [a["id"] for a in t["excluded_custom_audiences"]] == [meta[(B, "vip")]["id"]]
    t = wd.graph(on_home, "targeting")["targeting"]
    assert [a["id"] for a in t["custom_audiences"]] == [meta[(HOME, "vip")]["id"]]
