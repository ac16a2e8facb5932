"""Alerts: which events a run raises (pure), the grouped message and the signed webhook body, delivery to a
local HTTP receiver and a local SMTP server (Apprise), and a failing destination never failing anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alert_receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver
from pydantic import ValidationError

from fbsync.alerts.config import AlertsConfig, Webhook, with_env
from fbsync.alerts.deliver import send
from fbsync.alerts.events import Facts, collect
from fbsync.alerts.payload import SCHEMA, SIGNATURE_HEADER, body, encode, sign, text, title, verify
from fbsync.results import AudienceResult, MetaSize, ReadResult, RunResult

NO_FACTS = Facts(previous={})


def run(*audiences: AudienceResult, **kw: Any) -> RunResult:
    return RunResult("sync", 42, tuple(audiences), **kw)


def kinds(events: list[Any]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.audience) for e in events]


# ---------------------------------------------------------------------------------------- events (pure)


def test_a_clean_run_raises_nothing() -> None:
    ok = AudienceResult("vip", read=ReadResult(rows_read=100, rows_desired=100, rows_staged=100))
    assert collect(run(ok), NO_FACTS, AlertsConfig()) == []


def test_failed_and_refused_audiences_are_errors_first() -> None:
    r = run(
        AudienceResult("a", "ok"),
        AudienceResult("b", "refused", message="audience b: the sync would remove 80 % of the members (shrink guard)"),
        AudienceResult("c", "failed", message="Meta answered 500 three times for jean.dupont@example.fr"),
    )
    events = collect(r, NO_FACTS, AlertsConfig())
    assert kinds(events) == [("audience_refused", "b"), ("audience_failed", "c")]
    assert all(e.severity == "error" for e in events)
    assert "jean.dupont@example.fr" not in events[1].message  # scrubbed: no identifier in an alert


def test_auth_error_and_run_failure() -> None:
    msg = "Meta refused the access token (190): create a new System User token and set FB_ACCESS_TOKEN."
    r = run(AudienceResult("a", "failed", message=msg), run_status="failed", error=msg, error_code=3)
    events = collect(r, NO_FACTS, AlertsConfig())
    assert kinds(events) == [("auth", None)]  # the audience's copy of the same sentence is not repeated
    r = run(run_status="failed", error="the CRM could not be read: connection refused", error_code=1)
    assert kinds(collect(r, NO_FACTS, AlertsConfig())) == [("run_failed", None)]


def test_recovery_is_the_first_good_run_after_a_failure() -> None:
    r = run(AudienceResult("a", "ok"), AudienceResult("b", "ok"))
    facts = Facts(previous={"a": "refused", "b": "ok"})
    events = collect(r, facts, AlertsConfig())
    assert kinds(events) == [("recovered", "a")] and events[0].severity == "info"
    assert "refused" in events[0].message
    whole = collect(run(AudienceResult("b", "ok")), Facts({"b": "ok"}, previous_run="failed"), AlertsConfig())
    assert kinds(whole) == [("recovered", None)]


def test_meta_statuses_expiring_and_inactive() -> None:
    r = run(
        AudienceResult("old", size=MetaSize(500, 500, operation="expiring: unused for two years", code=100)),
        AudienceResult("lal", size=MetaSize(None, None, operation="out of date", code=450)),
        AudienceResult("gone", size=MetaSize(None, None, code=470)),
        AudienceResult("fine", size=MetaSize(900, 900, code=200)),
    )
    events = collect(r, NO_FACTS, AlertsConfig())
    assert kinds(events) == [("audience_expiring", "old"), ("audience_inactive", "lal"), ("audience_inactive", "gone")]
    assert "expiring" in events[0].message and "470" in events[2].message


def test_drop_share_and_match_rate_thresholds() -> None:
    read = ReadResult(rows_read=1000, rows_dropped=400, rows_desired=600, rows_staged=600)
    low = AudienceResult("a", read=read, action="unchanged", size=MetaSize(60, 60))  # 10 % of 600 people
    fresh = AudienceResult("b", read=read, action="created", size=MetaSize(6, 6))  # Meta has not matched yet
    cfg = AlertsConfig(max_drop_share=0.3, min_match_rate=0.2)
    events = collect(run(low, fresh), NO_FACTS, cfg)
    assert kinds(events) == [("drop_share", "a"), ("match_rate", "a"), ("drop_share", "b")]
    assert "40 %" in events[0].message and "10 %" in events[1].message
    assert collect(run(low), NO_FACTS, AlertsConfig()) == []  # no threshold, no alert


def test_token_and_api_version_days() -> None:
    facts = Facts(previous={}, token_days_left=5.2, api_version="v25.0", version_days_left=20)
    events = collect(run(), facts, AlertsConfig())
    assert kinds(events) == [("token_expiring", None), ("api_version_expiring", None)]
    assert "5 day" in events[0].message and "v25.0" in events[1].message and "20 day" in events[1].message
    assert collect(run(), facts, AlertsConfig(token_expiry_days=3, api_version_days=10)) == []
    expired = collect(run(), Facts(previous={}, token_days_left=-1), AlertsConfig())
    assert expired[0].severity == "error" and "has expired" in expired[0].message


def test_interrupted_run() -> None:
    r = run(AudienceResult("a", "interrupted"), run_status="interrupted")
    assert kinds(collect(r, NO_FACTS, AlertsConfig())) == [("run_interrupted", None)]


# ---------------------------------------------------------------------------------------- message (pure)

RUN = run(
    AudienceResult("a", "ok"),
    AudienceResult("b", "refused", message="quality gate [max_null_share EMAIL] failed: 7 % > 2 %"),
)


def test_one_grouped_message_per_run() -> None:
    events = collect(RUN, Facts(previous={"a": "failed"}, token_days_left=3), AlertsConfig())
    t = title(RUN, events, "act_1")
    assert t == "fbsync sync run 42 (act_1): 1 problem, 1 warning, 1 recovery"
    lines = text(RUN, events).splitlines()
    assert lines[0] == "Problems:" and lines[1].startswith("✗ b: quality gate")
    assert "Warnings:" in lines and "Recovered:" in lines
    assert lines[-1].startswith("Run 42 (sync) ended partial: 1 of 2 audience(s) ok, exit code 1.")


def test_webhook_body_schema_and_signature() -> None:
    from datetime import UTC, datetime

    events = collect(RUN, NO_FACTS, AlertsConfig())
    doc = body(RUN, events, account="act_1", host="worker-1", now=datetime(2026, 12, 7, 6, 0, tzinfo=UTC))
    assert doc["schema"] == SCHEMA == "fbsync.alert/1"
    assert set(doc) == {"schema", "sent_at", "title", "text", "run", "counts", "events"}
    assert doc["run"] == {
        "id": 42,
        "command": "sync",
        "status": "partial",
        "exit_code": 1,
        "account": "act_1",
        "host": "worker-1",
        "audiences": 2,
        "audiences_ok": 1,
    }
    assert doc["counts"] == {"error": 1, "warning": 0, "info": 0}
    assert doc["events"] == [
        {"kind": "audience_refused", "severity": "error", "audience": "b", "message": RUN.audiences[1].message}
    ]
    data = encode(doc)
    sig = sign(data, "s3cret")
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    assert verify(data, "s3cret", sig) and not verify(data + b" ", "s3cret", sig) and not verify(data, "other", sig)


# ---------------------------------------------------------------------------------------- config


def test_config_block_and_environment() -> None:
    cfg = AlertsConfig(urls=["json://127.0.0.1:9/x"], webhook=Webhook(url="https://hooks.example.com/fbsync"))
    env = {
        "FBSYNC_ALERT_URLS": "slack://a/b/c, mailtos://u:p@example.com",
        "FBSYNC_ALERT_WEBHOOK_SECRET": "from-env",
    }
    merged = with_env(cfg, env)
    assert merged.urls == ["json://127.0.0.1:9/x", "slack://a/b/c", "mailtos://u:p@example.com"]
    assert merged.webhook is not None and merged.webhook.secret == "from-env"
    only_env = with_env(None, {"FBSYNC_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/h", "FBSYNC_ALERT_WEBHOOK_SECRET": "k"})
    assert only_env.enabled and only_env.webhook == Webhook(url="http://127.0.0.1:9/h", secret="k")
    assert not with_env(None, {}).enabled


def test_bad_destinations_are_refused_without_echoing_secrets(tmp_path: Any) -> None:
    from fbsync.config import load_config
    from fbsync.errors import ConfigError

    yaml = (
        "version: 1\nad_account_id: act_1\nalerts:\n  urls: [hooks.slack.com/services/T000/B000/SECRETTOKEN]\n"
        "audiences:\n  - {name: a, query: SELECT 1, keys: {EMAIL: email}}\n"
    )
    (tmp_path / "audiences.yaml").write_text(yaml, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "audiences.yaml")
    assert "SECRETTOKEN" not in str(exc.value) and "Apprise" in str(exc.value) and "line 4" in str(exc.value)
    with pytest.raises(ValidationError, match="http:// or https://"):
        Webhook(url="ftp://example.com")


# ---------------------------------------------------------------------------------------- delivery (loopback)


@pytest.fixture
def http() -> Iterator[HttpReceiver]:
    with http_receiver() as rec:
        yield rec


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with smtp_receiver() as rec:
        yield rec


def _message() -> tuple[str, str, dict[str, Any]]:
    from datetime import UTC, datetime

    events = collect(RUN, NO_FACTS, AlertsConfig())
    doc = body(RUN, events, account="act_1", host="h", now=datetime.now(UTC))
    return title(RUN, events, "act_1"), text(RUN, events), doc


def test_webhook_is_signed_and_apprise_json_and_email_arrive(http: HttpReceiver, smtp: SmtpReceiver) -> None:
    cfg = AlertsConfig(
        urls=[f"json://{http.url.removeprefix('http://')}/apprise", smtp.url()],
        webhook=Webhook(url=http.url + "/hook", secret="s3cret"),
    )
    t, txt, doc = _message()
    deliveries = send(cfg, t, txt, doc)
    assert [d.ok for d in deliveries] == [True, True, True]
    hook = next(p for p in http.posts if p.path == "/hook")
    assert verify(hook.body, "s3cret", hook.headers[SIGNATURE_HEADER])
    assert json.loads(hook.body)["schema"] == "fbsync.alert/1"
    apprise_post = json.loads(next(p for p in http.posts if p.path == "/apprise").body)
    assert apprise_post["title"] == t and "quality gate" in apprise_post["message"]
    (mail,) = smtp.messages
    assert mail["Subject"] == t and mail["To"] == "ads@example.com"
    assert "quality gate" in mail.get_body().get_content()  # type: ignore[union-attr]


def test_a_failing_destination_is_logged_and_never_raises(http: HttpReceiver, caplog: Any) -> None:
    http.status = [500, 500]
    cfg = AlertsConfig(
        urls=["json://127.0.0.1:9/nothing-listens", "slack://TOKENA/TOKENB/TOKENC"],
        webhook=Webhook(url=http.url + "/hook", secret="s"),
    )
    deliveries = send(cfg, *_message())
    assert [d.ok for d in deliveries] == [False, False, False]
    assert len(http.posts) == 2  # a 5xx is tried once more, then given up
    assert "TOKENA" not in caplog.text and "nothing-listens" not in caplog.text
    assert "alert to json://… failed" in caplog.text
