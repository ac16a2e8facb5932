"""Match-rate insight: per audience, the estimated match rate (Meta's size over the people sent) and its trend,
the share of rows carrying each key and the key that adds the most matches; in the summary, ``--json``,
``status`` (text and JSON) and the report (dates on the time axis, in the user's time zone)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Workdir, admin, make_workdir

from fbsync.render.html import render_report
from fbsync.render.html_time import Clock
from fbsync.results import AudienceResult, MetaSize, ReadResult, match_range
from fbsync.stage import cover
from fbsync.state.records import AudienceRunRecord
from fbsync.status import match

# ---------------------------------------------------------------------------------------- pure parts


def test_cover_counts_rows_carrying_each_key_and_rows_a_key_alone_identifies() -> None:
    keys = ["EMAIL", "PHONE", "FN"]
    patterns: Counter[tuple[bool, ...]] = Counter(
        {(True, False, False): 50, (True, True, True): 30, (False, True, False): 15, (False, False, True): 5}
    )
    carrying, alone = cover(patterns, keys)
    assert carrying == {"EMAIL": 80, "PHONE": 45, "FN": 35}
    assert alone == {"EMAIL": 50, "PHONE": 15, "FN": 5}
    read = ReadResult(rows_read=120, rows_dropped=20, rows_desired=100, rows_staged=100, carrying=carrying, alone=alone)
    assert read.key_coverage()["EMAIL"] == {"rows": 80, "share": 0.8, "alone": 50}
    assert read.best_key == "EMAIL"
    assert read.people == 100


def test_people_counts_a_customer_once_however_many_rows() -> None:
    # 100 CRM rows kept, fanned out to 180 rows (two e-mails for 80 of them): at most 100 people on Meta
    fanned = ReadResult(rows_read=110, rows_dropped=10, rows_desired=180, rows_staged=180)
    assert fanned.people == 100
    # identical rows merged: 100 CRM rows, 95 distinct rows → 95 people at most
    merged = ReadResult(rows_read=100, rows_desired=95, rows_staged=100, rows_duplicate=5)
    assert merged.people == 95


def test_match_range_is_meta_size_over_people_capped_at_one() -> None:
    assert match_range(400, 500, 1000) == (0.4, 0.5)
    assert match_range(900, 1100, 1000) == (0.9, 1.0)  # Meta rounds: one row matches one person at most
    assert match_range(None, None, 1000) is None
    assert match_range(-1, -1, 1000) is None  # Meta's "no estimate"
    assert match_range(10, 10, 0) is None
    a = AudienceResult("x", read=ReadResult(rows_read=200, rows_desired=200, rows_staged=200), size=MetaSize(90, 110))
    assert a.match_rate == (0.45, 0.55)
    assert a.to_dict()["match_rate"] == 0.5 and a.to_dict()["match_range"] == [0.45, 0.55]
    assert AudienceResult("x", status="failed", size=MetaSize(90, 110)).to_dict()["match_rate"] is None


def _run(rid: int, day: int, rate: list[float] | None, status: str = "ok", **details: Any) -> AudienceRunRecord:
    d: dict[str, Any] = dict(details)
    if rate is not None:
        d["match_rate"] = rate
    when = datetime(2026, 11, day, 5, 0, tzinfo=UTC)
    return AudienceRunRecord(rid, "a", status, details=d, started_at=when, finished_at=when)  # type: ignore[arg-type]


KEYS = {"EMAIL": {"rows": 900, "share": 0.9, "alone": 300}, "PHONE": {"rows": 700, "share": 0.7, "alone": 100}}


def test_status_match_rate_trend_keys_and_best_key() -> None:
    history = [  # newest first, as the store gives it
        _run(4, 30, [0.52, 0.52], keys=KEYS, people=1000),
        _run(3, 23, None, status="failed"),
        _run(2, 16, [0.47, 0.49]),
        _run(1, 9, [0.45, 0.45]),
    ]
    m = match(history, 560, 560, ledger_rows=1800)  # Meta now: 560 people of the 1,000 sent
    assert m["match_rate"] == 0.56 and m["match_range"] == [0.56, 0.56]
    assert [p["run_id"] for p in m["match_history"]] == [1, 2, 4]  # oldest first; the failed run has none
    assert [p["rate"] for p in m["match_history"]] == [0.45, 0.48, 0.52]
    assert m["match_history"][0]["at"].startswith("2026-11-09T05:00")
    assert m["match_trend"] == "up"
    assert m["keys"] == KEYS and m["best_key"] == "EMAIL"
    falling = match([_run(2, 16, [0.40, 0.40]), _run(1, 9, [0.50, 0.50])], None, None, 0)
    assert falling["match_rate"] is None and falling["match_trend"] == "down"
    steady = match([_run(2, 16, [0.50, 0.50]), _run(1, 9, [0.49, 0.49])], None, None, 0)
    assert steady["match_trend"] == "steady"
    # no run recorded the people sent: the rows held are the denominator
    assert match([], 300, 300, ledger_rows=600)["match_rate"] == 0.5
    assert match([], None, None, 0) == {
        "match_rate": None,
        "match_range": None,
        "match_trend": None,
        "match_history": [],
        "keys": {},
        "best_key": None,
    }


def test_status_match_ignores_malformed_history() -> None:
    bad = _run(1, 9, None, match_rate=["x", None], keys={"EMAIL": "lots", 3: {"rows": 2}}, people="many")
    m = match([bad], 10, 10, ledger_rows=20)
    assert m["match_history"] == [] and m["match_rate"] == 0.5
    assert m["keys"] == {"3": {"rows": 2}}


def test_report_dates_on_the_time_axis_in_the_users_zone() -> None:
    clock = Clock("Europe/Paris", "fr")
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)  # already the 7th in Paris
    assert clock.when(late) == "2026-12-07 00:30 CET"
    assert clock.day(late) == "7 déc."
    assert Clock("America/New_York", "en").day(late) == "Dec 6"
    twice = [late, late + timedelta(hours=2), late + timedelta(days=7), None]
    assert clock.axis(twice, [1, 2, 3, 4]) == ["7 déc. 00:30", "7 déc. 02:30", "14 déc.", "#4"]
    summer = datetime(2026, 7, 1, 4, 0, tzinfo=UTC)
    assert clock.when(summer) == "2026-07-01 06:00 CEST"
    assert clock.axis_title == "run date (Europe/Paris)"


def test_report_shows_keys_and_match_in_the_users_zone() -> None:
    runs = []
    for i, (day, lower) in enumerate([(2, 450), (9, 480), (16, 520)], start=1):
        started = datetime(2026, 11, day, 5, 0, tzinfo=UTC)
        runs.append(
            {
                "id": i,
                "command": "sync",
                "status": "ok",
                "started_at": started.isoformat(),
                "finished_at": (started + timedelta(seconds=40)).isoformat(),
                "audiences": [
                    {
                        "run_id": i,
                        "audience": "best",
                        "status": "ok",
                        "rows_read": 1100,
                        "rows_dropped": 100,
                        "rows_added": 1000 if i == 1 else 10,
                        "rows_removed": 0 if i == 1 else 10,
                        "size_lower": lower,
                        "size_upper": lower,
                        "details": {"strategy": "diff", "action": "ok", "people": 1000, "keys": KEYS},
                    }
                ],
            }
        )
    page = render_report(runs, now=datetime(2026, 11, 20, tzinfo=UTC), timezone="Europe/Paris")
    section = page.split('id="aud-best"')[1]
    match_svg = re.search(r'<svg id="aud-best-match".*?</svg>', section, re.S).group(0)  # type: ignore[union-attr]
    assert re.findall(r'class="xl"[^>]*>([^<]+)<', match_svg) == ["2 nov.", "9 nov.", "16 nov."]
    assert "run date (Europe/Paris)" in match_svg
    assert "2026-11-16 06:00 CET" in page  # run times in the user's zone, not UTC
    assert "people fbsync sent" in section and "52,0\u202f%" in section  # 520 of the 1,000 people sent
    keys = re.search(r'<table class="keys">.*?</table>', section, re.S).group(0)  # type: ignore[union-attr]
    assert "EMAIL ★" in keys and "PHONE ★" not in keys and "90,0\u202f%" in keys and "300" in keys


# ---------------------------------------------------------------------------------------- end to end


YAML = """\
version: 1
ad_account_id: act_1234567890
crm: {url: "sqlite:///demo/crm.db"}
defaults: {default_country: FR, consent: consent, timezone: Europe/Paris}
audiences:
  - name: buyers
    query: "SELECT email, email_pro, phone, first_name, last_name, consent FROM customers WHERE id % 4 <> 0"
    keys: {EMAIL: [email, email_pro], PHONE: phone, FN: first_name, LN: last_name}
"""


@pytest.fixture
def wd(tmp_path: Path, demo_crm: Path, sb: Any) -> Workdir:
    admin(sb.url, "/__sandbox/reset", "POST")
    return make_workdir(tmp_path, demo_crm, sb.url, YAML)


def _audience(r: Any) -> dict[str, Any]:
    assert r.exit_code == 0, r.stdout
    (a,) = json.loads(r.stdout)["audiences"]
    return dict(a)


@pytest.mark.e2e
def test_sync_reports_match_rate_and_keys_as_meta_matched_them(wd: Workdir) -> None:
    a = _audience(wd.run("sync", "--json"))
    meta = wd.audiences()["buyers"]
    on_meta = admin(wd.sandbox_url, f"/__sandbox/audiences/{meta['id']}/match")
    # the sandbox matches a realistic share, not every row (docs/sandbox.md "Matching people")
    assert 0.3 < a["match_rate"] < 0.95
    assert a["match_rate"] == round(min(1.0, on_meta["persons"] / a["people"]), 4)
    # a customer with two e-mails is two rows but one customer: people < rows on Meta
    assert a["people"] == a["rows_read"] - a["rows_no_consent"] - a["rows_dropped"] - a["rows_suppressed"]
    assert a["people"] < on_meta["rows"]
    # the rows carrying each key are what Meta received, key by key, counted before identical rows are
    # merged (Meta holds one row for two customers sharing every identifier), so at most those more
    staged = a["rows_desired"] + a["rows_duplicate"]
    for key, cov in a["keys"].items():
        assert 0 <= cov["rows"] - on_meta["keys"][key]["rows"] <= staged - on_meta["rows"], key
        assert cov["share"] == round(cov["rows"] / staged, 4)
    assert a["keys"]["EMAIL"]["share"] > a["keys"]["PHONE"]["share"] > 0
    assert a["best_key"] == max(a["keys"], key=lambda k: (a["keys"][k]["alone"], a["keys"][k]["rows"]))
    # the text summary says it in one line
    text = wd.run("sync").stdout
    assert re.search(r"buyers: Meta matched ≈ \d+ % of [\d,]+ people; rows carrying each key: EMAIL \d+ %", text)


@pytest.mark.e2e
def test_status_shows_match_rate_trend_and_best_key(wd: Workdir) -> None:
    wd.run("sync")
    con = __import__("sqlite3").connect(wd.crm)
    con.execute("UPDATE customers SET consent = 0 WHERE id % 9 = 1")  # fewer customers: Meta's size moves
    con.commit()
    con.close()
    assert wd.run("sync").exit_code == 0
    r = wd.run("status", "--json")
    assert r.exit_code == 0, r.stdout
    (row,) = json.loads(r.stdout)
    assert 0.3 < row["match_rate"] < 0.95
    assert len(row["match_history"]) == 2 and row["match_trend"] in {"up", "down", "steady"}
    assert set(row["keys"]) == {"EMAIL", "PHONE", "FN", "LN"} and row["best_key"] in row["keys"]
    text = wd.run("status").stdout
    assert "Match rates (Meta's size over the people last sent):" in text
    assert re.search(r"buyers: ≈ \d+ %; (rising|falling|steady) \(was \d+ % at run #1\); rows carrying", text)
    report = wd.path / "report.html"
    assert wd.run("report", "-o", str(report)).exit_code == 0
    page = report.read_text(encoding="utf-8")
    assert '<table class="keys">' in page and "run date (Europe/Paris)" in page
    assert " CET" in page or " CEST" in page
