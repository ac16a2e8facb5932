"""End to end: fbsync sync of the demo CRM against the live local sandbox, exact memberships."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from e2e_helpers import ROOT, TOKEN, Workdir, admin, configure, expected_rows, make_workdir

from fbsync.dev.demo import churn
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e
CFG = yaml.safe_load((ROOT / "audiences.yaml").read_text(encoding="utf-8"))
AUD = {a["name"]: a for a in CFG["audiences"]}


def expected(wd: Workdir, name: str) -> set[tuple[str, ...]]:
    a = AUD[name]
    return expected_rows(wd.crm, a["query"], a["keys"])


@pytest.fixture
def sandbox() -> Iterator[str]:
    with running_sandbox() as sb:
        yield sb.url


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path, sandbox: str) -> Workdir:
    return make_workdir(tmp_path, demo_crm, sandbox)


def test_first_sync_creates_and_fills_every_audience_exactly(wd: Workdir) -> None:
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    on_meta = wd.audiences()
    for a in report["audiences"]:
        name = a["name"]
        display = AUD[name].get("display_name", name)
        assert display in on_meta, on_meta.keys()
        assert a["action"] == "created" and a["status"] == "ok"
        want = expected(wd, name)
        assert wd.members(display) == want
        assert a["added"] == len(want) == a["rows_desired"] and a["removed"] == 0
        # Meta's size counts the people it matched, not the rows sent (the sandbox matches part of them)
        assert a["size_lower"] == on_meta[display]["persons"] < len(want)
        assert a["rows_read"] == a["rows_no_consent"] + a["rows_dropped"] + a["rows_desired"] + a["rows_duplicate"]
    rb = next(a for a in report["audiences"] if a["name"] == "recent_buyers")
    assert rb["rows_no_consent"] > 0 and rb["drops"].get("EMAIL") and rb["drops"].get("PHONE")


def test_churn_sends_exactly_the_difference_then_nothing(wd: Workdir) -> None:
    assert wd.run("sync").exit_code == 0
    before = {n: expected(wd, n) for n in AUD}
    counts = churn(wd.crm, seed=7)
    assert counts["deleted"] and counts["inserted"] and counts["email_changed"]
    after = {n: expected(wd, n) for n in AUD}
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    for a in json.loads(r.stdout)["audiences"]:
        n = a["name"]
        display = AUD[n].get("display_name", n)
        assert wd.members(display) == after[n]
        # kept rows that share an identifier with a removed one are sent again (Meta removes the person)
        assert a["added"] - a["resent"] == len(after[n] - before[n]), n
        assert a["removed"] == len(before[n] - after[n]), n
        assert a["action"] == "unchanged"
    writes = wd.writes()
    r = wd.run("sync", "--json")
    assert r.exit_code == 0
    assert all(a["added"] == 0 and a["removed"] == 0 for a in json.loads(r.stdout)["audiences"])
    assert wd.writes() == writes  # an unchanged CRM costs only reads


def test_plan_sends_nothing_and_matches_the_next_sync(wd: Workdir) -> None:
    assert wd.run("sync").exit_code == 0
    churn(wd.crm, seed=11)
    writes = wd.writes()
    r = wd.run("plan", "--json")
    assert r.exit_code == 0, r.output
    assert wd.writes() == writes
    planned = {a["name"]: (a["added"], a["removed"], a["resent"]) for a in json.loads(r.stdout)["audiences"]}
    assert any(v != (0, 0, 0) for v in planned.values())
    sync = json.loads(wd.run("sync", "--json").stdout)
    assert planned == {a["name"]: (a["added"], a["removed"], a["resent"]) for a in sync["audiences"]}


def test_lost_state_recovers_with_one_replace(wd: Workdir) -> None:
    import shutil

    assert wd.run("sync").exit_code == 0
    churn(wd.crm, seed=3)
    shutil.rmtree(wd.state)
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    for a in rep["audiences"]:
        assert a["strategy"] == "replace" and a["action"] == "unchanged"
        assert wd.members(AUD[a["name"]].get("display_name", a["name"])) == expected(wd, a["name"])
    assert len(wd.audiences()) == len(AUD)  # adopted by name, no duplicates created
    r = json.loads(wd.run("sync", "--json").stdout)
    assert all(a["strategy"] == "diff" and a["added"] == a["removed"] == 0 for a in r["audiences"])


def test_shrink_guard_refuses_one_audience_and_syncs_the_others(wd: Workdir) -> None:
    configure(wd.sandbox_url, min_audience_size_after_removal=None)  # this test is about fbsync's guard, not Meta's
    assert wd.run("sync").exit_code == 0
    con = sqlite3.connect(wd.crm)
    con.execute("UPDATE customers SET is_vip = 0 WHERE id % 10 != 0")
    con.execute("DELETE FROM customers WHERE id % 97 = 0")
    con.commit()
    con.close()
    r = wd.run("sync", "--json")
    assert r.exit_code == 1
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["vip"]["status"] == "refused" and "--force" in rep["vip"]["message"]
    assert "vip" in rep["vip"]["message"]
    assert rep["recent_buyers"]["status"] == "ok" and rep["recent_buyers"]["removed"] > 0
    r = wd.run("sync", "vip", "--force")
    assert r.exit_code == 0, r.output
    assert wd.members("Clients VIP") == expected(wd, "vip")


def test_config_errors_exit_2_and_send_nothing(wd: Workdir) -> None:
    text = (wd.path / "audiences.yaml").read_text()
    (wd.path / "audiences.yaml").write_text(text.replace("CT: city", "CT: town"))
    r = wd.run("sync")
    assert r.exit_code == 2
    assert "audience recent_buyers" in r.stderr and "'town' (mapped to CT)" in r.stderr
    assert wd.requests()["total"] == 0
    (wd.path / "audiences.yaml").write_text(text.replace("mode: mirror", "mode: mirrror"))
    r = wd.run("validate")
    assert r.exit_code == 2 and "line 8, defaults.mode" in r.stderr
    assert wd.requests()["total"] == 0


def test_validate_ok(wd: Workdir) -> None:
    r = wd.run("validate")
    assert r.exit_code == 0 and "valid: 3 audiences" in r.stdout
    assert wd.requests()["total"] == 0


def test_wrong_token_exits_3_with_one_sentence(tmp_path: Path, demo_crm: Path) -> None:
    with running_sandbox(access_token="the-right-token") as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        r = wd.run("sync")
        assert r.exit_code == 3, r.output
        assert "FB_ACCESS_TOKEN" in r.stderr and TOKEN not in r.output + r.stderr
        assert wd.audiences() == {}
        r = wd.run("sync", FB_ACCESS_TOKEN="the-right-token")
        assert r.exit_code == 0, r.output


def test_app_secret_proof_is_accepted_by_a_checking_server(tmp_path: Path, demo_crm: Path) -> None:
    with running_sandbox(app_secret="app-secret-xyz") as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        assert wd.run("sync", "vip", FB_APP_SECRET="wrong-secret").exit_code == 3
        r = wd.run("sync", "vip", FB_APP_SECRET="app-secret-xyz")
        assert r.exit_code == 0, r.output


def test_status_and_history(wd: Workdir) -> None:
    assert wd.run("sync").exit_code == 0
    r = wd.run("status", "--json")
    assert r.exit_code == 0
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert rows["vip"]["meta_id"] and rows["vip"]["last_result"] == "ok"
    assert rows["vip"]["size_lower"] == wd.audiences()["Clients VIP"]["persons"]  # Meta counts matched people
    r = wd.run("history", "--json")
    (run,) = json.loads(r.stdout)
    assert run["status"] == "ok" and {a["audience"] for a in run["audiences"]} == set(AUD)
    assert "recent_buyers" in wd.run("history").stdout


def test_no_secret_or_identifier_leaves_a_trace(wd: Workdir) -> None:
    """State files, logs and output hold neither the token nor any email, phone or hash of the CRM."""
    import hashlib
    import hmac

    secret = "app-secret-for-the-scan-42"
    proof = hmac.new(secret.encode(), TOKEN.encode(), hashlib.sha256).hexdigest()
    outputs = [wd.run("sync", "-v", FB_APP_SECRET=secret).output, wd.run("status").output, wd.run("history").output]
    churn(wd.crm, seed=5)
    outputs.append(wd.run("sync", "-v", "--json", FB_APP_SECRET=secret).output)
    con = sqlite3.connect(wd.crm)
    (victim,) = con.execute(
        "SELECT email FROM customers WHERE is_vip = 1 AND consent = 1 AND email LIKE '%@%.%' LIMIT 1"
    ).fetchone()
    con.close()
    outputs.append(wd.run("forget", "--email", victim, "--yes", FB_APP_SECRET=secret).output)
    outputs.append(wd.run("sync", "-v", FB_APP_SECRET=secret).output)
    outputs.append(wd.run("history", "--json").output)
    outputs.append(wd.run("report", "-o", str(wd.path / "report.html")).output)
    outputs.append((wd.path / "report.html").read_text(encoding="utf-8"))
    con = sqlite3.connect(wd.crm)
    emails = [e.strip() for (e,) in con.execute("SELECT email FROM customers WHERE email LIKE '%@%.%'")][:3000]
    phones = [p for (p,) in con.execute("SELECT phone FROM customers WHERE phone IS NOT NULL")][:3000]
    con.close()
    vip_hashes = [h for r in list(wd.members("Clients VIP"))[:500] for h in r if h]
    blobs = [o.encode() for o in outputs]
    for f in wd.state.rglob("*"):
        if f.is_file():
            assert oct(f.stat().st_mode & 0o777) == "0o600", f
            blobs.append(f.read_bytes())
    for blob in blobs:
        assert TOKEN.encode() not in blob and secret.encode() not in blob and proof.encode() not in blob
        assert victim.strip().lower().encode() not in blob.lower()
        low = blob.lower()
        assert not any(e.lower().encode() in low for e in emails)
        assert not any(p.encode() in blob for p in phones if len(p) >= 10 and len(set(p)) > 3)
        assert not any(h.encode() in blob for h in vip_hashes)


def _set_audience(wd: Workdir, name: str, **fields: object) -> None:
    cfg = yaml.safe_load((wd.path / "audiences.yaml").read_text(encoding="utf-8"))
    for a in cfg["audiences"]:
        if a["name"] == name:
            a.update(fields)
    (wd.path / "audiences.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_mode_switch_mirror_append_replace_mirror(wd: Workdir) -> None:
    assert wd.run("sync", "vip").exit_code == 0
    old = expected(wd, "vip")
    churn(wd.crm, seed=21, fraction=0.05)
    new = expected(wd, "vip")
    assert old - new and new - old
    _set_audience(wd, "vip", mode="append")
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert (rep["added"], rep["removed"], rep["strategy"]) == (len(new - old), 0, "diff")
    assert wd.members("Clients VIP") == old | new  # append never removes
    _set_audience(wd, "vip", mode="replace")
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert (rep["strategy"], rep["replaced"]) == ("replace", len(new))
    assert wd.members("Clients VIP") == new
    _set_audience(wd, "vip", mode="mirror")
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert (rep["strategy"], rep["added"], rep["removed"]) == ("diff", 0, 0)


def test_changed_keys_reestablish_the_audience_with_one_replace(wd: Workdir) -> None:
    assert wd.run("sync", "vip").exit_code == 0
    _set_audience(wd, "vip", keys={"EMAIL": "email", "PHONE": "phone"})
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert rep["status"] == "ok" and rep["strategy"] == "replace", rep
    want = expected_rows(wd.crm, AUD["vip"]["query"], {"EMAIL": "email", "PHONE": "phone"})
    aud = wd.audiences()["Clients VIP"]
    schema = admin(wd.sandbox_url, f"/__sandbox/audiences/{aud['id']}/members")["schema"]
    # Meta keeps the audience's first schema; rows of the new one land in it with the other keys blank
    on_meta = {
        tuple(dict(zip(schema, row)).get(k, "") for k in ("EMAIL", "PHONE")) for row in wd.members("Clients VIP")
    }
    assert on_meta == want
    rep = json.loads(wd.run("sync", "vip", "--json").stdout)["audiences"][0]
    assert (rep["strategy"], rep["added"], rep["removed"]) == ("diff", 0, 0)


def test_run_log_shows_retries_and_usage_as_json_never_the_token(tmp_path: Path, demo_crm: Path) -> None:
    from fbsync.sandbox import Faults

    faults = Faults(seed=1, error_rate=0.5, endpoints=("POST /users",))
    with running_sandbox(faults=faults) as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        text = (wd.path / "audiences.yaml").read_text() + "api: {max_backoff_seconds: 0.05, max_attempts: 20}\n"
        (wd.path / "audiences.yaml").write_text(text)
        r = wd.run("sync", "vip", "--log-format", "json")
        assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in (wd.state / "fbsync.log").read_text().splitlines()]
    messages = [x["message"] for x in lines]
    assert any(m.startswith("retrying POST users") for m in messages)
    assert any(m.startswith("Meta usage") for m in messages)
    assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert TOKEN not in (wd.state / "fbsync.log").read_text() and TOKEN not in r.output


def test_a_second_run_of_an_audience_is_refused_while_one_holds_it(wd: Workdir) -> None:
    from fbsync.settings import Settings
    from fbsync.state.locks import audience_lock

    settings = Settings.from_env(wd.path / "audiences.yaml", environ=wd.env())
    with audience_lock(settings, "vip"):
        r = wd.run("sync", "--json")
    assert r.exit_code == 1
    rep = {a["name"]: a for a in json.loads(r.stdout)["audiences"]}
    assert rep["vip"]["status"] == "failed" and "already being synced" in rep["vip"]["message"]
    assert rep["recent_buyers"]["status"] == "ok" and rep["lapsed_customers"]["status"] == "ok"
    assert wd.run("sync", "vip").exit_code == 0  # released: the next run goes through


def test_schedule_list(wd: Workdir) -> None:
    r = wd.run("schedule", "--list", "--json")
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert set(rows) == set(AUD)
    assert all(x["cron"] == "0 6 * * MON" and x["timezone"] == "Europe/Paris" for x in rows.values())
    assert all("T06:00:00+01:00" in x["next_run"] or "T06:00:00+02:00" in x["next_run"] for x in rows.values())
    assert "recent_buyers" in wd.run("schedule", "--list").stdout and wd.requests()["total"] == 0
