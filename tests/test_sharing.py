"""``share_with``: one audience shared with other ad accounts through Meta's sharing edge instead of being
uploaded again; Meta's rules in the sandbox (same business, no seed on a recipient, unsharing stops the
recipients' ads); an unshare is destructive and needs --force; a share made by hand is never undone."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import TOKEN, Workdir, admin, configure, make_workdir

from fbsync import accounts
from fbsync.config import parse_config
from fbsync.errors import ConfigError
from fbsync.sharing import plan_shares

HOME, B, C = "act_1000", "act_2000", "act_3000"
YAML = f"""\
version: 1
ad_account_id: {HOME}
crm: {{url: "sqlite:///demo/crm.db"}}
defaults: {{default_country: FR, consent: consent}}
audiences:
  - name: vip
    query: "SELECT email, phone, consent FROM customers WHERE is_vip = 1"
    keys: {{EMAIL: email, PHONE: phone}}
    share_with: [{B}]
  - name: vip_lookalike
    lookalike: {{source: vip, countries: [FR], ratios: [0.01]}}
"""


# -- pure ----------------------------------------------------------------------------------------------


def test_plan_shares_what_is_missing_and_unshares_only_its_own_with_force() -> None:
    p = plan_shares("vip", HOME, [B, C], [HOME, B], [B], force=False)
    assert (p.share, p.unshare, p.refused) == ((C,), (), None)
    manual = "act_9"  # shared by hand: never undone
    p = plan_shares("vip", HOME, [], [HOME, B, manual], [B], force=False)
    assert p.unshare == (B,) and p.refused and "--force" in p.refused and "stops their ads" in p.refused
    assert plan_shares("vip", HOME, [], [HOME, B, manual], [B], force=True).refused is None
    assert plan_shares("vip", HOME, [B], [HOME, B], [B], force=False) == plan_shares(
        "vip", HOME, [B], [HOME, B], [B], force=True
    )  # in step: nothing to do


def test_share_with_rules_in_the_yaml() -> None:
    both = parse_config(YAML.replace(f"share_with: [{B}]", f"share_with: [{B}]\n    ad_account_id: [{HOME}, {B}]"))
    with pytest.raises(ConfigError, match="both synced to and shared with act_2000"):
        accounts.units(both, both.audiences, HOME)
    seed_on_recipient = parse_config(
        YAML.replace("ratios: [0.01]}", f"ratios: [0.01]}}\n    ad_account_id: [{B}]").replace("]}}", "]}")
    )
    with pytest.raises(ConfigError, match="Meta refuses a shared audience as a lookalike source"):
        accounts.units(seed_on_recipient, seed_on_recipient.audiences, HOME)
    c = parse_config(YAML)
    assert accounts.slot_in(c, "vip", B, HOME) == "vip"  # an ad set of the recipient targets the owner's audience
    assert [u.account for u in accounts.units(c, c.audiences, HOME)] == [HOME, HOME]  # nothing synced to B


# -- end to end ---------------------------------------------------------------------------------------------


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path, sb: Any) -> Iterator[Workdir]:
    admin(sb.url, "/__sandbox/reset", "POST")
    configure(sb.url, other_business_accounts=[])
    yield make_workdir(tmp_path, demo_crm, sb.url, YAML)
    configure(sb.url, other_business_accounts=[])


def graph(wd: Workdir, method: str, path: str, **params: Any) -> Any:
    data = json.dumps({**params, "access_token": TOKEN}).encode()
    req = urllib.request.Request(
        f"{wd.sandbox_url}/v26.0/{path}", method=method, data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def shared(wd: Workdir, meta_id: str) -> list[str]:
    return [x["id"] for x in graph(wd, "GET", f"{meta_id}/adaccounts")["data"]]


def new_ad_set(wd: Workdir, account: str, include: list[str]) -> str:
    body = {
        "account_id": account,
        "name": "Recipient",
        "targeting": {"geo_locations": {"countries": ["FR"]}, "custom_audiences": [{"id": i} for i in include]},
    }
    req = urllib.request.Request(
        f"{wd.sandbox_url}/__sandbox/adsets",
        method="POST",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.loads(r.read())["id"])


def sync(wd: Workdir, *args: str) -> tuple[int, dict[str, Any]]:
    r = wd.run("sync", *args, "--json")
    return r.exit_code, json.loads(r.stdout)


@pytest.mark.e2e
def test_shared_not_uploaded_and_the_recipient_can_target_it(wd: Workdir) -> None:
    code, doc = sync(wd)
    assert code == 0, doc
    vip = next(a for a in doc["audiences"] if a["name"] == "vip")
    assert vip["sharing"] == {"share": [B], "unshare": []}
    on_meta = admin(wd.sandbox_url, "/__sandbox/audiences")["data"]
    assert [a["account_id"] for a in on_meta if a["subtype"] == "CUSTOM"] == ["1000"]  # one upload, on the owner
    assert shared(wd, vip["meta_id"]) == ["1000", "2000"]
    # the recipient targets the shared audience; it cannot seed a lookalike with it (Meta's rule)
    ad_set = new_ad_set(wd, B, [vip["meta_id"]])
    assert [x["id"] for x in wd.graph(ad_set, "targeting")["targeting"]["custom_audiences"]] == [vip["meta_id"]]
    refused = graph(
        wd,
        "POST",
        f"{B}/customaudiences",
        name="lal",
        subtype="LOOKALIKE",
        origin_audience_id=vip["meta_id"],
        lookalike_spec=json.dumps({"ratio": 0.01, "country": "FR"}),
    )
    assert "shared audience cannot be the source of a lookalike" in refused["error"]["message"]
    # in step: the next run shares nothing again
    code, doc = sync(wd)
    assert code == 0 and next(a for a in doc["audiences"] if a["name"] == "vip")["sharing"] == {
        "share": [],
        "unshare": [],
    }
    # an ad set declared on the recipient's account gets the owner's audience
    text = (
        wd.path / "audiences.yaml"
    ).read_text() + f"ad_sets:\n  - {{id: '{ad_set}', ad_account_id: {B}, include: [vip]}}\n"
    (wd.path / "audiences.yaml").write_text(text)
    code, doc = sync(wd)
    assert code == 0 and doc["ad_sets"][0]["status"] == "ok", doc["ad_sets"]


@pytest.mark.e2e
def test_another_business_is_refused_and_said(wd: Workdir, sb: Any) -> None:
    configure(sb.url, other_business_accounts=[B])
    code, doc = sync(wd)
    assert code == 1
    vip = next(a for a in doc["audiences"] if a["name"] == "vip")
    assert vip["status"] == "failed" and "sharing it failed" in vip["message"] and "not claimed" in vip["message"]
    assert vip["meta_id"] and vip["added"] > 0  # the list itself is in step on its own account


@pytest.mark.e2e
def test_unsharing_is_destructive_needs_force_and_stops_the_recipients_ads(wd: Workdir) -> None:
    code, doc = sync(wd)
    vip_id = next(a for a in doc["audiences"] if a["name"] == "vip")["meta_id"]
    assert graph(wd, "POST", f"{vip_id}/adaccounts", adaccounts=json.dumps(["4000"])) == {"success": True}  # by hand
    ad_set = new_ad_set(wd, B, [vip_id])
    (wd.path / "audiences.yaml").write_text(
        YAML.replace(f"share_with: [{B}]", "share_with: []").replace("    share_with: []\n", "")
    )
    plan = json.loads(wd.run("plan", "--json").stdout)
    vip = next(a for a in plan["audiences"] if a["name"] == "vip")
    assert vip["status"] == "refused" and vip["sharing"]["unshare"] == [B] and "--force" in vip["message"]
    code, doc = sync(wd)
    assert code == 1 and shared(wd, vip_id) == ["1000", "2000", "4000"]  # refused: nothing unshared
    code, doc = sync(wd, "--force")
    assert code == 0, doc
    assert shared(wd, vip_id) == ["1000", "4000"]  # the share made by hand stays
    after = admin(wd.sandbox_url, f"/__sandbox/adsets/{ad_set}")
    assert after["status"] == "PAUSED" and not after["targeting"].get("custom_audiences")
