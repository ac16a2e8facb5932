"""Meta's Marketing API as it is in December 2026, end to end against the sandbox: versions, integrity
flags, refusals that need a fallback, access tiers, special ad categories, Advantage+ audience, statuses.

The sandbox refuses from its own rules (a version table on its clock, a word list, a minimum size, a call
budget); nothing here tells it what fbsync will send.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
import yaml
from e2e_helpers import ROOT, TOKEN, Workdir, admin, make_workdir

from fbsync import audiences as aud_module
from fbsync.config import load_config
from fbsync.doctor import run_checks
from fbsync.meta.client import MetaClient, RetryPolicy
from fbsync.meta.governor import Governor
from fbsync.planning import Desired, LedgerView, Remote, lookalike_cap_refusal, plan_audience
from fbsync.sandbox import running_sandbox
from fbsync.settings import Settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def sb() -> Iterator[Any]:
    with running_sandbox() as s:
        yield s


def workdir(tmp: Path, crm: Path, sb: Any, edit: Any = None) -> Workdir:
    wd = make_workdir(tmp, crm, sb.url)
    if edit is not None:
        cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
        edit(cfg)
        (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    return wd


def by_name(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in cfg["audiences"] if a["name"] == name)


# ------------------------------------------------------------------ versions
@pytest.mark.parametrize(
    "version, code, words",
    [("v24.0", 2, ["no longer serves", "FBSYNC_API_VERSION=v27.0"]), ("v99.0", 2, ["does not know this path"])],
)
def test_an_expired_or_unknown_version_stops_with_the_version_to_set(
    tmp_path: Path, demo_crm: Path, sb: Any, version: str, code: int, words: list[str]
) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    r = wd.run("sync", FBSYNC_API_VERSION=version)
    assert r.exit_code == code, r.output
    for w in words:
        assert w in r.stderr, r.stderr
    assert wd.writes() == 0


def test_the_default_version_syncs(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    assert wd.run("sync", "vip").exit_code == 0


@pytest.mark.parametrize(
    "override, today, ok, words",
    [
        (None, "2026-12-07", True, ["v26.0", "no end date"]),
        ("v25.0", "2026-12-07", False, ["ends on 2027-02-23 (in 78 days)", "v27.0"]),
        ("v25.0", "2026-10-01", True, ["served until 2027-02-23"]),
    ],
)
def test_doctor_says_the_version_and_warns_90_days_before_its_end(
    tmp_path: Path, sb: Any, override: str | None, today: str, ok: bool, words: list[str]
) -> None:
    env = {
        "FB_ACCESS_TOKEN": TOKEN,
        "FBSYNC_GRAPH_URL": sb.url,
        **({"FBSYNC_API_VERSION": override} if override else {}),
    }
    settings = Settings.from_env(None, environ=env)
    now = datetime.fromisoformat(today).replace(tzinfo=UTC).timestamp()
    (check,) = [c for c in run_checks(settings, "act_1", now=now) if c.name == "API version"]
    assert check.ok is ok and not check.blocking
    for w in words:
        assert w in check.line(), check.line()


def test_doctor_reports_metas_auto_upgrade(tmp_path: Path, sb: Any) -> None:
    """v24.0 expired: Meta auto-upgrades the calls that did not change (here /me) and says so in a header."""
    settings = Settings.from_env(
        None, environ={"FB_ACCESS_TOKEN": TOKEN, "FBSYNC_GRAPH_URL": sb.url, "FBSYNC_API_VERSION": "v24.0"}
    )
    (check,) = [c for c in run_checks(settings, "act_1") if c.name == "API version"]
    assert not check.ok and "auto-upgraded" in check.line() and "v27.0" in check.line()


# ------------------------------------------------------------------ integrity flags
def test_a_flagged_audience_stops_with_the_remedy_and_the_others_go_on(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        by_name(cfg, "vip")["display_name"] = "Clients diabète"

    wd = workdir(tmp_path, demo_crm, sb, edit)
    v = wd.run("validate")
    assert v.exit_code == 0 and "diabète" in v.output and "heuristic" in v.output
    r = wd.run("sync", "--json")
    assert r.exit_code == 1, r.output
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["vip"]["status"] == "refused" and "appeal in Audience Manager" in rep["vip"]["message"]
    assert all(a["status"] == "ok" for n, a in rep.items() if n != "vip")
    writes = wd.writes()
    r = wd.run("sync", "--json")  # the next run reads Meta's status first and sends nothing to it
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["vip"]["status"] == "refused" and "its name" in rep["vip"]["message"]
    assert rep["vip"]["rows_read"] == 0 and wd.writes() == writes


def test_a_lookalike_of_a_flagged_seed_is_refused_not_attempted(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["audiences"].append(
            {"name": "lal_vip", "lookalike": {"source": "vip", "countries": ["FR"], "ratios": [0.01]}}
        )

    wd = workdir(tmp_path, demo_crm, sb, edit)
    assert wd.run("sync").exit_code == 0
    vip = wd.audiences()["Clients VIP"]
    sb.app.flag_audience(int(vip["id"]), ["name"])
    r = wd.run("sync", "--json")
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert r.exit_code == 1 and rep["lal_vip"]["status"] == "ok"  # its tier exists already: nothing to create
    edit2 = yaml.safe_load((wd.path / "audiences.yaml").read_text())
    by_name(edit2, "lal_vip")["lookalike"]["ratios"] = [0.01, 0.02]
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(edit2, allow_unicode=True, sort_keys=False))
    rep = {a["name"]: a for a in json.loads(wd.run("sync", "--json").stdout)["audiences"]}
    assert rep["lal_vip"]["status"] == "refused" and "flagged" in rep["lal_vip"]["message"]


# ------------------------------------------------------------------ refusals that need a fallback
SMALL = """version: 1
ad_account_id: act_11
crm: {url: "sqlite:///demo/crm.db"}
defaults: {default_country: FR, consent: null, max_shrink: 0.95, on_too_small: MODE}
audiences:
  - name: club
    query: "SELECT email FROM club"
    keys: {EMAIL: email}
"""


def club(wd: Workdir, n: int) -> None:
    con = sqlite3.connect(wd.crm)
    con.execute("CREATE TABLE IF NOT EXISTS club (email TEXT)")
    con.execute("DELETE FROM club")
    con.executemany("INSERT INTO club VALUES (?)", [(f"membre.{i}@exemple.fr",) for i in range(n)])
    con.commit()
    con.close()


@pytest.mark.parametrize("mode", ["keep", "replace"])
def test_removals_meta_refuses_as_too_small(tmp_path: Path, demo_crm: Path, sb: Any, mode: str) -> None:
    wd = make_workdir(tmp_path, demo_crm, sb.url, SMALL.replace("MODE", mode))
    club(wd, 400)  # about 200 people matched (the sandbox matches half the e-mails by default)
    assert wd.run("sync").exit_code == 0
    club(wd, 40)  # would leave about 20 people, below the sandbox's minimum of 100
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    (a,) = json.loads(r.stdout)["audiences"]
    members = wd.members("club")
    if mode == "keep":
        assert "360 removals kept pending" in " ".join(a["notes"]) and a["removed"] == 0
        assert len(members) == 400
        r = wd.run("sync", "--json")  # tried again, still refused, still exact about it
        (a,) = json.loads(r.stdout)["audiences"]
        assert "360 removals kept pending" in " ".join(a["notes"])
    else:
        assert "replaced the whole list instead" in " ".join(a["notes"]) and a["replaced"] == 40
        assert len(members) == 40


class Sizes:
    """Sandbox policy: the row count of every /users POST (what Meta received)."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def intercept(self, app: Any, req: Any) -> None:
        if req.method == "POST" and req.segments[-1:] == ["users"]:
            p = req.params.get("payload")
            p = json.loads(p) if isinstance(p, str) else p
            self.sizes.append(len(p["data"]))


@pytest.mark.parametrize("width", [1, 4])
def test_a_batch_meta_finds_too_big_is_halved_never_resent(tmp_path: Path, demo_crm: Path, sb: Any, width: int) -> None:
    yaml = SMALL.replace("MODE", "keep") + f"api: {{max_uploads_in_flight: {width}}}\n"
    wd = make_workdir(tmp_path, demo_crm, sb.url, yaml)
    club(wd, 12_000)
    sb.app.config = dataclasses.replace(sb.app.config, max_payload_rows_before_unknown_error=3_000)
    sizes = Sizes()
    sb.app.policies.append(sizes)
    r = wd.run("sync")
    assert r.exit_code == 0, r.output
    assert len(wd.members("club")) == 12_000
    halved = [10_000, 5_000, 2_500, 2_500, 5_000, 2_500, 2_500, 2_000]
    # One at a time, in this order; overlapping, the 2,000-row batch may go while the first is being halved.
    assert sizes.sizes == halved if width == 1 else sorted(sizes.sizes) == sorted(halved)


# ------------------------------------------------------------------ access tiers
class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 12, 7, 6, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_a_first_sync_on_limited_access_never_hits_the_block(tmp_path: Path) -> None:
    from fbsync.dev.demo import seed

    crm = tmp_path / "crm.db"
    seed(crm, n=100_000, seed=8)
    # three lists of every consenting customer: about 25 uploads of 10,000 rows (75 points), more than
    # Limited's score of 60 allows within its 300 s decay
    lists = "\n".join(
        f"""  - name: all_{i}
    query: "SELECT email, consent FROM customers"
    keys: {{EMAIL: email}}"""
        for i in range(3)
    )
    head = (ROOT / "audiences.yaml").read_text(encoding="utf-8").split("audiences:\n")[0]
    clock = Clock()
    with running_sandbox(clock=clock) as sb:
        sb.app.sleep = clock.sleep
        sb.app.config = dataclasses.replace(sb.app.config, tier="limited")
        wd = make_workdir(tmp_path / "w", crm, sb.url, head + "audiences:\n" + lists + "\n")
        loaded = load_config(wd.path / "audiences.yaml", env={})
        settings = Settings.from_env(loaded.path, environ=wd.env())
        clients: list[MetaClient] = []

        def factory(s: Settings, acct: str) -> MetaClient:
            c = MetaClient(s, acct, RetryPolicy(sleep=clock.sleep), Governor(sleep=clock.sleep))
            clients.append(c)
            return c

        import fbsync

        result = fbsync.sync(loaded, settings=settings, clients=factory)
        assert result.exit_code == 0, [a.message for a in result.audiences]
        (c,) = clients
        assert c.retries == 0, "a throttle was hit"  # never blocked: paced instead
        assert c.governor.paused > 0 and c.governor.tier == "limited"
        usage = sb.app.usage.snapshot()["accounts"]
        assert all(not acct["blocked_code"] for acct in usage.values()), usage


# ------------------------------------------------------------------ ad sets: special categories, Advantage+
def test_special_categories_and_advantage_audience(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["audiences"].append(
            {"name": "lal_vip", "lookalike": {"source": "vip", "countries": ["FR"], "ratios": [0.01]}}
        )

    wd = workdir(tmp_path, demo_crm, sb, edit)
    campaign = sb.app.handle(
        "POST",
        "/__sandbox/campaigns",
        "",
        {},
        json.dumps({"account_id": "act_1234567890", "special_ad_categories": ["HOUSING"]}).encode(),
    )
    cid = json.loads(campaign[2])["id"]
    _status, _, raw = sb.app.handle(
        "POST",
        "/__sandbox/adsets",
        "",
        {},
        json.dumps(
            {"account_id": "act_1234567890", "campaign_id": cid, "targeting": {"geo_locations": {"countries": ["FR"]}}}
        ).encode(),
    )
    adset = json.loads(raw)["id"]
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text())
    cfg["ad_sets"] = [
        {"id": str(adset), "include": ["vip", "lal_vip"], "exclude": ["recent_buyers"], "strict_audiences": True}
    ]
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    (s,) = json.loads(r.stdout)["ad_sets"]
    assert s["status"] == "updated"
    notes = " ".join(s["notes"])
    assert "lal_vip is a lookalike, which a housing campaign cannot use" in notes
    assert "excluding recent_buyers is not possible" in notes and "rules (Advantage+ audience off)" in notes
    targeting = admin(sb.url, f"/__sandbox/adsets/{adset}")["targeting"]
    vip = wd.audiences()["Clients VIP"]["id"]
    assert [x["id"] for x in targeting["custom_audiences"]] == [str(vip)]
    assert "excluded_custom_audiences" not in targeting
    assert targeting["targeting_automation"]["advantage_audience"] == 0


# ------------------------------------------------------------------ what Meta says after the run
def test_status_and_summary_say_what_meta_reports(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    sb.app.config = dataclasses.replace(sb.app.config, populate_seconds=3600)
    wd = workdir(tmp_path, demo_crm, sb)
    r = wd.run("sync", "vip", "--json")
    (a,) = json.loads(r.stdout)["audiences"]
    assert any("still populating" in n for n in a["notes"])
    r = wd.run("status", "--json")
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert rows["vip"]["operation_status"] == 441 and "still populating" in rows["vip"]["operation"]
    assert "vip: Meta says still populating" in wd.run("status").stdout


def test_lookalikes_past_metas_500_are_refused_with_the_count(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    assert wd.run("sync", "vip").exit_code == 0
    (vip,) = sb.store.list_audiences()
    for i in range(499):  # someone else's lookalikes, made in Audience Manager
        sb.store.create_audience(vip.account_id, "LOOKALIKE", {"name": f"Ancien similaire {i}"}, 0)
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
    cfg["audiences"].append(
        {"name": "lal_vip", "lookalike": {"source": "vip", "countries": ["FR"], "ratios": [0.01, 0.02]}}
    )
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    for command in ("plan", "sync"):
        r = wd.run(command, "lal_vip", "--json")
        (a,) = json.loads(r.stdout)["audiences"]
        assert r.exit_code == 1 and a["status"] == "refused", r.output
        assert "already holds 499 lookalike audiences and this one needs 2 more" in a["message"]
    assert sb.store.count_audiences(vip.account_id, "LOOKALIKE") == 499  # nothing sent
    by_name(cfg, "lal_vip")["lookalike"]["ratios"] = [0.01]
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False))
    r = wd.run("sync", "lal_vip", "--json")
    assert r.exit_code == 0 and sb.store.count_audiences(vip.account_id, "LOOKALIKE") == 500


def test_lookalike_cap_refusal() -> None:
    assert lookalike_cap_refusal("lal", 498, 2) is None
    assert "499 lookalike audiences" in (lookalike_cap_refusal("lal", 499, 2) or "")
    assert lookalike_cap_refusal("lal", 500, 0) is None  # nothing to create: nothing refused


def test_metas_invalid_entries_reach_the_summary_history_and_report(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    """fbsync hashes every value itself, so the sandbox never finds one malformed; Meta can still count some
    (entries it could not match to its formats): the /users answers are given Meta's two fields here, at
    the HTTP edge, as Meta would send them."""
    handle = sb.app.handle

    def with_invalid(method: str, path: str, *rest: Any) -> Any:
        status, headers, raw = handle(method, path, *rest)
        if method == "POST" and path.endswith("/users") and status == 200:
            body = json.loads(raw)
            body.update(num_invalid_entries=7, invalid_entry_samples={"j***@e***.fr": "EMAIL", "06****78": "PHONE"})
            raw = json.dumps(body).encode()
        return status, headers, raw

    sb.app.handle = with_invalid
    wd = workdir(tmp_path, demo_crm, sb)
    r = wd.run("sync", "vip")
    assert r.exit_code == 0 and "Meta counted 7 invalid entries" in r.stdout, r.stdout
    assert "Meta's samples of invalid entries: j***@e***.fr: EMAIL; 06****78: PHONE" in r.stdout
    (run,) = json.loads(wd.run("history", "--json").stdout)
    (a,) = run["audiences"]
    details = json.loads(a["details"])  # history --json keeps details as the JSON text the store holds
    assert details["invalid_on_meta"] == 7 and len(details["invalid_samples"]) == 2
    assert wd.run("report", "-o", str(tmp_path / "r.html")).exit_code == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Invalid on Meta (its count)" in page and "06****78: PHONE" in page


def test_plan_refuses_a_501st_customer_list() -> None:
    d = Desired("new", "New", None, "mirror", ("EMAIL",), 10, 0.5)
    p = plan_audience(d, LedgerView(False, 0, 10, 0), Remote(False), account_lists=500)
    assert p.refused and "500 customer lists" in p.refused
    assert not plan_audience(d, LedgerView(False, 0, 10, 0), Remote(False), account_lists=499).refused


@responses.activate
def test_a_replace_in_progress_is_waited_for_then_left_for_the_next_run() -> None:
    states = iter([414, 414, 200])
    url = "https://graph.example/v26.0/42"

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        return 200, {}, json.dumps({"id": "42", "operation_status": {"code": next(states), "description": "x"}})

    responses.add_callback(responses.GET, url, callback=answer)
    slept: list[float] = []
    settings = Settings(access_token="t", graph_url="https://graph.example", api_version="v26.0")
    client = MetaClient(settings, "act_1", RetryPolicy(sleep=slept.append))
    assert aud_module.wait_replace(client, "42") is True and slept == [30.0, 30.0]
    states = iter([414] * 20)
    assert aud_module.wait_replace(client, "42", polls=3) is False
