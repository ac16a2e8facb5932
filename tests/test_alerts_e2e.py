"""Every alert event end to end: fbsync against the sandbox, alerts to a local HTTP receiver (the signed
webhook and Apprise's json://) and a local SMTP server; one message per run; sync, upload and forget
alike; a failing destination never fails the run."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alert_receivers import HttpReceiver, http_receiver, smtp_receiver
from e2e_helpers import TWO_AUDIENCES, Workdir, admin, configure, make_workdir

from fbsync.alerts.payload import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.e2e

SECRET = "webhook-secret-0123"
YAML = TWO_AUDIENCES.format(
    extra='alerts:\n  webhook: {url: "@HOOK@", secret: "${FBSYNC_ALERT_WEBHOOK_SECRET}"}\n  EXTRA\n'
)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with http_receiver() as rec:
        yield rec


def workdir(tmp: Path, crm: Path, sb: Any, http: HttpReceiver, extra: str = "token_expiry_days: 14") -> Workdir:
    admin(sb.url, "/__sandbox/reset", "POST")
    configure(sb.url, min_audience_size_after_removal=None, token_expires_in_days=None, custom_audience_tos=True)
    return make_workdir(tmp, crm, sb.url, YAML.replace("@HOOK@", http.url + "/hook").replace("EXTRA", extra))


def run(wd: Workdir, *args: str, **env: str) -> Any:
    return wd.run(*args, FBSYNC_ALERT_WEBHOOK_SECRET=SECRET, **env)


def alerts(http: HttpReceiver) -> list[dict[str, Any]]:
    """The webhook bodies received so far, each checked against its signature."""
    out = []
    for p in http.posts:
        if p.path == "/hook":
            assert verify(p.body, SECRET, p.headers[SIGNATURE_HEADER]), "a webhook body must be signed"
            out.append(json.loads(p.body))
    return out


def kinds(doc: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["kind"], e["audience"]) for e in doc["events"]]


def shrink(crm: Path) -> None:
    con = sqlite3.connect(crm)
    con.execute("UPDATE customers SET is_vip = 0 WHERE id % 10 != 0")
    con.commit()
    con.close()


def test_refused_then_recovered_one_message_per_run(
    tmp_path: Path, demo_crm: Path, sb: Any, http: HttpReceiver
) -> None:
    wd = workdir(tmp_path, demo_crm, sb, http)
    assert run(wd, "sync").exit_code == 0
    assert alerts(http) == []  # a clean run sends nothing
    shrink(wd.crm)
    r = run(wd, "sync")
    assert r.exit_code == 1
    (doc,) = alerts(http)
    assert doc["schema"] == "fbsync.alert/1" and doc["run"]["status"] == "partial" and doc["run"]["exit_code"] == 1
    assert kinds(doc) == [("audience_refused", "vip")]
    assert "--force" in doc["events"][0]["message"] and doc["title"].endswith("1 problem")
    assert run(wd, "sync", "vip", "--force").exit_code == 0
    docs = alerts(http)
    assert len(docs) == 2 and kinds(docs[1]) == [("recovered", "vip")]
    assert "after a refused run" in docs[1]["events"][0]["message"]
    assert run(wd, "sync").exit_code == 0
    assert len(alerts(http)) == 2  # ok after ok: nothing


def test_auth_and_terms_problems_exit_3_and_alert(tmp_path: Path, demo_crm: Path, sb: Any, http: HttpReceiver) -> None:
    wd = workdir(tmp_path, demo_crm, sb, http)
    configure(sb.url, custom_audience_tos=False)
    try:
        r = run(wd, "sync")
    finally:
        configure(sb.url, custom_audience_tos=True)
    assert r.exit_code == 3
    (doc,) = alerts(http)
    assert ("auth", None) in kinds(doc) and doc["run"]["exit_code"] == 3 and doc["run"]["status"] == "failed"
    assert "terms" in doc["text"].lower()
    assert run(wd, "sync").exit_code == 0
    # the run stopped at vip (nothing more could work): vip recovers; everyone had not run
    assert kinds(alerts(http)[-1]) == [("recovered", "vip")]


def test_token_and_api_version_expiring(tmp_path: Path, demo_crm: Path, sb: Any, http: HttpReceiver) -> None:
    wd = workdir(tmp_path, demo_crm, sb, http, "token_expiry_days: 14\n  api_version_days: 120")
    configure(sb.url, token_expires_in_days=5)
    try:
        r = run(wd, "sync", "vip", FBSYNC_API_VERSION="v25.0")  # Meta serves v25.0 until 2027-02-23
    finally:
        configure(sb.url, token_expires_in_days=None)
    assert r.exit_code == 0, r.output
    (doc,) = alerts(http)
    assert kinds(doc) == [("token_expiring", None), ("api_version_expiring", None)]
    assert "expires in 5 day" in doc["events"][0]["message"] and "v25.0" in doc["events"][1]["message"]


def test_drop_share_and_match_rate(tmp_path: Path, demo_crm: Path, sb: Any, http: HttpReceiver) -> None:
    wd = workdir(tmp_path, demo_crm, sb, http, "max_drop_share: 0.01\n  min_match_rate: 0.95")
    assert run(wd, "sync", "everyone").exit_code == 0
    (first,) = alerts(http)
    assert kinds(first) == [("drop_share", "everyone")]  # Meta has not matched a new list yet: no match alert
    assert run(wd, "sync", "everyone").exit_code == 0
    second = alerts(http)[-1]
    assert kinds(second) == [("drop_share", "everyone"), ("match_rate", "everyone")]
    assert "alert below 95 %" in second["events"][1]["message"]


def test_audience_expiring_on_meta(tmp_path: Path, demo_crm: Path, http: HttpReceiver) -> None:
    """An audience unused in any ad set for two years: Meta's operation status 100 (the sandbox's clock)."""
    import time

    from fbsync.sandbox import running_sandbox

    offset = [0.0]
    with running_sandbox(clock=lambda: time.time() + offset[0]) as s:
        wd = make_workdir(tmp_path, demo_crm, s.url, YAML.replace("@HOOK@", http.url + "/hook").replace("EXTRA", ""))
        assert run(wd, "sync", "vip").exit_code == 0
        offset[0] = 731 * 86400.0
        assert run(wd, "sync", "vip").exit_code == 0
    (doc,) = alerts(http)
    assert kinds(doc) == [("audience_expiring", "vip")] and "two years" in doc["events"][0]["message"]


def test_every_destination_gets_the_same_message(tmp_path: Path, demo_crm: Path, sb: Any, http: HttpReceiver) -> None:
    with smtp_receiver() as smtp:
        extra = f'urls: ["json://{http.url.removeprefix("http://")}/apprise", "{smtp.url()}"]'
        wd = workdir(tmp_path, demo_crm, sb, http, extra)
        assert run(wd, "sync").exit_code == 0
        shrink(wd.crm)
        assert run(wd, "sync").exit_code == 1
        (doc,) = alerts(http)
        (chat,) = [json.loads(p.body) for p in http.posts if p.path == "/apprise"]
        (mail,) = smtp.messages
    assert chat["title"] == doc["title"] == mail["Subject"]
    assert chat["message"].strip() == doc["text"].strip()
    assert doc["text"].strip() in mail.get_body().get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def test_upload_and_forget_alert_the_same_way(tmp_path: Path, demo_crm: Path, sb: Any, http: HttpReceiver) -> None:
    wd = workdir(tmp_path, demo_crm, sb, http)
    assert run(wd, "sync", "vip").exit_code == 0
    configure(sb.url, token_expires_in_days=3)
    try:
        csv = tmp_path / "salon.csv"
        csv.write_text("EMAIL\njeanne.martin@example.fr\npaul.durand@example.fr\n", encoding="utf-8")
        assert run(wd, "upload", str(csv), "--audience", "salon").exit_code == 0
        assert run(wd, "forget", "--email", "jeanne.martin@example.fr").exit_code == 0
    finally:
        configure(sb.url, token_expires_in_days=None)
    docs = alerts(http)
    assert [d["run"]["command"] for d in docs] == ["upload", "forget"]
    assert all(kinds(d) == [("token_expiring", None)] for d in docs)
    assert "jeanne" not in json.dumps(docs)  # never an identifier


def test_a_failing_destination_never_fails_the_run(tmp_path: Path, demo_crm: Path, sb: Any, http: HttpReceiver) -> None:
    wd = workdir(tmp_path, demo_crm, sb, http, 'urls: ["json://127.0.0.1:9/nobody", "slack://A/B/C"]')
    http.status = [500, 500]
    assert run(wd, "sync").exit_code == 0
    shrink(wd.crm)
    r = run(wd, "sync")
    assert r.exit_code == 1  # the audience's refusal, not the alert's failure
    assert len([p for p in http.posts if p.path == "/hook"]) == 2  # tried twice, then given up
