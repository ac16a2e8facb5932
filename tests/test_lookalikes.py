"""Lookalikes against the sandbox: tiers with the right specs, skip-then-create, changed specs, prune."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

import pytest
import yaml
from e2e_helpers import TOKEN, Workdir, make_workdir

from fbsync.audiences import prune_order
from fbsync.config import Lookalike, parse_config
from fbsync.lookalikes import tiers
from fbsync.sandbox import running_sandbox
from fbsync.state.records import AudienceRecord

pytestmark = pytest.mark.e2e


def graph(wd: Workdir, path: str, data: dict | None = None) -> dict:
    url = f"{wd.sandbox_url}/v26.0/{path}{'&' if '?' in path else '?'}access_token={TOKEN}"
    body = None if data is None else "&".join(f"{k}={v}" for k, v in data.items()).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10) as r:
        return json.loads(r.read())


def test_tiers_and_specs_are_pure() -> None:
    cfg = parse_config(
        "version: 1\naudiences:\n  - {name: a, query: q, keys: {EMAIL: e}}\n"
        "  - name: lal\n    lookalike: {source: a, countries: [fr, BE], ratios: [0.05, 0.01, 0.03]}\n",
        "x.yaml",
        {},
    )
    ts = tiers(cfg.audiences[1])
    assert [(t.start, t.ratio) for t in ts] == [(0.0, 0.01), (0.01, 0.03), (0.03, 0.05)]
    assert ts[0].spec() == {"ratio": 0.01, "location_spec": {"geo_locations": {"countries": ["BE", "FR"]}}}
    assert ts[1].spec()["starting_ratio"] == 0.01
    assert ts[2].display("lal", "Acheteurs") == "lal · Acheteurs · BE+FR · 3–5 %"
    assert len({t.key for t in ts}) == 3
    assert [
        r.name for r in prune_order([AudienceRecord("a", subtype="CUSTOM"), AudienceRecord("l", subtype="LOOKALIKE")])
    ] == ["l", "a"]
    assert isinstance(cfg.audiences[1].lookalike, Lookalike)


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path):  # type: ignore[no-untyped-def]
    with running_sandbox() as sb:
        w = make_workdir(tmp_path, demo_crm, sb.url)
        cfg = yaml.safe_load((w.path / "audiences.yaml").read_text(encoding="utf-8"))
        cfg["audiences"].append(
            {
                "name": "lal_recent_buyers",
                "lookalike": {"source": "recent_buyers", "countries": ["FR"], "ratios": [0.01, 0.03, 0.05]},
            }
        )
        (w.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
        yield w


def lookalikes_on_meta(wd: Workdir) -> dict[str, dict]:
    out = {}
    for name, a in wd.audiences().items():
        if a["subtype"] == "LOOKALIKE":
            out[name] = graph(wd, f"{a['id']}?fields=id,name,lookalike_spec")
    return out


def test_tiers_created_after_their_source_with_the_right_specs(wd: Workdir) -> None:
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["lal_recent_buyers"]["action"] == "created" and len(rep["lal_recent_buyers"]["notes"]) == 3
    lals = lookalikes_on_meta(wd)
    assert sorted(lals) == [
        "lal_recent_buyers · Acheteurs récents (30 j) · FR · 0–1 %",
        "lal_recent_buyers · Acheteurs récents (30 j) · FR · 1–3 %",
        "lal_recent_buyers · Acheteurs récents (30 j) · FR · 3–5 %",
    ]
    specs = sorted(
        (float(v["lookalike_spec"].get("starting_ratio", 0)), float(v["lookalike_spec"]["ratio"]))
        for v in lals.values()
    )
    assert specs == [(0.0, 0.01), (0.01, 0.03), (0.03, 0.05)]
    r = json.loads(wd.run("sync", "--json").stdout)
    assert {a["name"]: a["action"] for a in r["audiences"]}["lal_recent_buyers"] == "unchanged"
    assert len(lookalikes_on_meta(wd)) == 3


def test_small_source_is_skipped_then_created_when_it_grows(wd: Workdir) -> None:
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
    cfg["audiences"][-1]["lookalike"]["source"] = "vip"
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    con = sqlite3.connect(wd.crm)
    con.execute("UPDATE customers SET is_vip = 0 WHERE id > 300")
    con.commit()
    r = wd.run("sync", "--json", "--force")
    assert r.exit_code == 0, r.output
    lal = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}["lal_recent_buyers"]
    assert lal["status"] == "skipped" and "needs at least 100" in lal["message"]
    assert lookalikes_on_meta(wd) == {}
    con.execute("UPDATE customers SET is_vip = 1 WHERE id <= 3000")
    con.commit()
    con.close()
    r = wd.run("sync", "--json")
    lal = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}["lal_recent_buyers"]
    assert lal["status"] == "ok" and lal["action"] == "created" and len(lookalikes_on_meta(wd)) == 3


def test_changed_spec_makes_new_tiers_and_prune_deletes_only_fbsyncs_own(wd: Workdir) -> None:
    assert wd.run("sync").exit_code == 0
    foreign = graph(
        wd,
        "act_1234567890/customaudiences",
        {"name": "Made by hand", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"},
    )["id"]
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
    cfg["audiences"][-1]["lookalike"]["ratios"] = [0.02]
    cfg["audiences"] = [a for a in cfg["audiences"] if a["name"] != "lapsed_customers"]
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    r = json.loads(wd.run("sync", "--json").stdout)
    assert {o["action"] for o in r["orphans"]} == {"orphan"} and len(r["orphans"]) == 4  # 3 old tiers + lapsed
    assert len(lookalikes_on_meta(wd)) == 4
    r = json.loads(wd.run("sync", "--prune", "--json").stdout)
    assert [o["action"] for o in r["orphans"]] == ["pruned"] * 4
    names = set(wd.audiences())
    assert names == {
        "Acheteurs récents (30 j)",
        "Clients VIP",
        "Made by hand",
        "lal_recent_buyers · Acheteurs récents (30 j) · FR · 0–2 %",
    }
    assert graph(wd, f"{foreign}?fields=id")["id"] == foreign
    assert json.loads(wd.run("sync", "--json").stdout)["orphans"] == []


def test_ad_sets_wired_keeping_every_other_field(wd: Workdir) -> None:
    import urllib.request as ur

    other = {"geo_locations": {"countries": ["FR"]}, "age_min": 25, "age_max": 54, "custom_audiences": []}
    req = ur.Request(
        f"{wd.sandbox_url}/__sandbox/adsets",
        method="POST",
        data=json.dumps({"account_id": "act_1234567890", "name": "Prospection", "targeting": other}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with ur.urlopen(req, timeout=10) as r:
        ad_set = json.loads(r.read())["id"]
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
    cfg["ad_sets"] = [{"id": ad_set, "include": ["lal_recent_buyers"], "exclude": ["recent_buyers", "vip"]}]
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    (wired,) = json.loads(r.stdout)["ad_sets"]
    assert wired["status"] == "updated"
    t = graph(wd, f"{ad_set}?fields=targeting")["targeting"]
    ids = {a["name"]: a["id"] for a in wd.audiences().values()}
    lal_ids = {a["id"] for n, a in wd.audiences().items() if a["subtype"] == "LOOKALIKE"}
    assert {a["id"] for a in t["custom_audiences"]} == lal_ids and len(lal_ids) == 3
    assert {a["id"] for a in t["excluded_custom_audiences"]} == {ids["Acheteurs récents (30 j)"], ids["Clients VIP"]}
    assert (t["age_min"], t["age_max"], t["geo_locations"]) == (25, 54, {"countries": ["FR"]})
    plan = json.loads(wd.run("plan", "--json").stdout)
    assert plan["ad_sets"][0]["status"] == "ok" and plan["ad_sets"][0]["changes"] == {}
    cfg["ad_sets"][0]["exclude"] = ["vip"]
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    plan = json.loads(wd.run("plan", "--json").stdout)
    assert plan["ad_sets"][0]["status"] == "planned"
    assert plan["ad_sets"][0]["changes"]["-excluded_custom_audiences"] == [ids["Acheteurs récents (30 j)"]]
    assert wd.run("sync").exit_code == 0
    t = graph(wd, f"{ad_set}?fields=targeting")["targeting"]
    assert {a["id"] for a in t["excluded_custom_audiences"]} == {ids["Clients VIP"]}
