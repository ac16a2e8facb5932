"""Metrics and the run summary: the pure families from history records; ``sync --metrics-file`` and
``--summary-file`` against the sandbox (parsed with prometheus-client's own parser); ``schedule
--metrics-port`` scraped over HTTP in Prometheus' and OpenMetrics' formats; a failed run's files."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import TWO_AUDIENCES, Workdir, admin, configure, make_workdir
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from fbsync.metrics import Snapshot, families
from fbsync.state.records import AudienceRunRecord

YAML = TWO_AUDIENCES.format(extra="")

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str, openmetrics: bool = False) -> Samples:
    """Every sample of a scrape, by (name, sorted labels)."""
    parse = parse_openmetrics if openmetrics else text_string_to_metric_families
    out: Samples = {}
    for fam in parse(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: Samples, name: str, audience: str, **labels: str) -> float:
    key = (name, tuple(sorted({"account": "act_1234567890", "audience": audience, **labels}.items())))
    assert key in found, f"{name}{labels} of {audience} missing from {sorted(k[0] for k in found)}"
    return found[key]


# -- pure ----------------------------------------------------------------------------------------------


def record(status: str, **kw: Any) -> AudienceRunRecord:
    base: dict[str, Any] = dict(
        run_id=7,
        audience="vip",
        status=status,
        meta_id="23850000000000001",
        rows_read=1000,
        rows_dropped=40,
        rows_added=900,
        rows_removed=12,
        size_lower=700,
        size_upper=900,
        message=None,
        details={
            "seconds": 12.5,
            "match_rate": [0.7, 0.9],
            "api": {"calls": 4, "retries": 1, "retry_wait": 2.0, "throttle_wait": 0.5, "usage": 37},
        },
        started_at=datetime(2026, 12, 7, 6, 0, tzinfo=UTC),
        finished_at=datetime(2026, 12, 7, 6, 0, 13, tzinfo=UTC),
    )
    base.update(kw)
    return AudienceRunRecord(**base)


def rendered(snaps: list[Snapshot]) -> Samples:
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    class Fixed:
        def collect(self) -> Any:
            return families(snaps)

    reg = CollectorRegistry(auto_describe=False)
    reg.register(Fixed())  # type: ignore[arg-type]
    return samples(generate_latest(reg).decode())


def test_families_give_every_figure_of_the_latest_run_per_account_and_audience() -> None:
    ok_at = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    found = rendered([Snapshot("vip", "act_1234567890", record("ok"), ok_at)])
    assert value(found, "fbsync_last_run_timestamp_seconds", "vip") == record("ok").finished_at.timestamp()
    assert value(found, "fbsync_last_success_timestamp_seconds", "vip") == ok_at.timestamp()
    assert value(found, "fbsync_last_run_ok", "vip") == 1
    assert value(found, "fbsync_last_run_status", "vip", status="ok") == 1
    assert value(found, "fbsync_last_run_status", "vip", status="refused") == 0
    assert value(found, "fbsync_rows_read", "vip") == 1000
    assert value(found, "fbsync_rows_dropped", "vip") == 40
    assert value(found, "fbsync_rows_sent", "vip", direction="added") == 900
    assert value(found, "fbsync_rows_sent", "vip", direction="removed") == 12
    assert value(found, "fbsync_audience_size", "vip", bound="lower") == 700
    assert value(found, "fbsync_audience_size", "vip", bound="upper") == 900
    assert value(found, "fbsync_match_rate", "vip") == pytest.approx(0.8)
    assert value(found, "fbsync_run_duration_seconds", "vip") == 12.5
    assert value(found, "fbsync_api_calls", "vip") == 4
    assert value(found, "fbsync_api_retries", "vip") == 1
    assert value(found, "fbsync_retry_wait_seconds", "vip") == 2.0
    assert value(found, "fbsync_throttle_wait_seconds", "vip") == 0.5
    assert value(found, "fbsync_meta_usage_percent", "vip") == 37


def test_a_refused_run_is_not_ok_and_an_audience_never_run_has_no_figures() -> None:
    refused = record("refused", size_lower=-1, size_upper=-1, details={"seconds": "n/a"})
    found = rendered([Snapshot("vip", "act_1234567890", refused, None), Snapshot("new", "act_1234567890", None, None)])
    assert value(found, "fbsync_last_run_ok", "vip") == 0
    assert value(found, "fbsync_last_run_status", "vip", status="refused") == 1
    names = {(n, dict(lab)["audience"]) for n, lab in found}
    assert ("fbsync_last_success_timestamp_seconds", "vip") not in names  # never succeeded: no sample
    assert ("fbsync_audience_size", "vip") not in names  # Meta's "unknown" (-1) is not a size
    assert ("fbsync_run_duration_seconds", "vip") not in names  # a malformed detail is skipped, not a crash
    assert not any(aud == "new" for _n, aud in names)


# -- sync --metrics-file / --summary-file against the sandbox -------------------------------------------


def workdir(tmp: Path, crm: Path, sb: Any) -> Workdir:
    admin(sb.url, "/__sandbox/reset", "POST")
    configure(sb.url, min_audience_size_after_removal=None, token_expires_in_days=None, custom_audience_tos=True)
    return make_workdir(tmp, crm, sb.url, YAML)


@pytest.mark.e2e
def test_sync_writes_the_metrics_file_and_the_summary_they_agree(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    prom, summary = tmp_path / "textfile" / "fbsync.prom", tmp_path / "run.json"
    prom.parent.mkdir()
    before = time.time()
    r = wd.run("sync", "--metrics-file", str(prom), "--summary-file", str(summary))
    assert r.exit_code == 0, r.output
    doc = json.loads(summary.read_text())
    assert doc["schema"] == "fbsync.run/1" and doc["status"] == "ok" and doc["exit_code"] == 0
    assert doc["error"] is None and doc["run_id"] is not None
    by_name = {a["name"]: a for a in doc["audiences"]}
    assert set(by_name) == {"vip", "everyone"}
    assert stat.S_IMODE(summary.stat().st_mode) == 0o600  # audience names and masked examples: the owner's
    assert stat.S_IMODE(prom.stat().st_mode) == 0o644  # counts only: node-exporter reads it
    assert not list(prom.parent.glob(".*.part"))  # written atomically

    found = samples(prom.read_text())
    for name, a in by_name.items():
        assert value(found, "fbsync_last_run_ok", name) == 1
        assert value(found, "fbsync_last_run_timestamp_seconds", name) >= before - 1
        assert value(found, "fbsync_last_success_timestamp_seconds", name) >= before - 1
        assert value(found, "fbsync_rows_read", name) == a["rows_read"] > 0
        assert value(found, "fbsync_rows_sent", name, direction="added") == a["added"] + a["replaced"] > 0
        assert value(found, "fbsync_rows_sent", name, direction="removed") == a["removed"] == 0
        assert value(found, "fbsync_rows_dropped", name) == a["rows_left_out"] > 0  # the demo has non-consenting rows
        assert value(found, "fbsync_api_calls", name) >= 2  # the audience's create and its /users call(s)
        assert value(found, "fbsync_run_duration_seconds", name) > 0
        assert value(found, "fbsync_audience_size", name, bound="upper") > 0
        assert 0 < value(found, "fbsync_meta_usage_percent", name) <= 100
    assert "e2e-token" not in prom.read_text() + summary.read_text()


@pytest.mark.e2e
def test_a_run_that_fails_still_writes_both_files(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    prom, summary = tmp_path / "fbsync.prom", tmp_path / "run.json"
    assert wd.run("sync", "vip").exit_code == 0
    con = sqlite3.connect(wd.crm)
    con.execute("UPDATE customers SET is_vip = 1 WHERE id % 50 = 0")  # new members to send
    con.commit()
    con.close()
    configure(sb.url, custom_audience_tos=False)
    try:
        r = wd.run("sync", "vip", "--metrics-file", str(prom), "--summary-file", str(summary))
    finally:
        configure(sb.url, custom_audience_tos=True)
    assert r.exit_code == 3
    doc = json.loads(summary.read_text())
    assert doc["status"] == "failed" and doc["exit_code"] == 3 and "terms" in doc["error"].lower()
    found = samples(prom.read_text())
    assert value(found, "fbsync_last_run_ok", "vip") == 0
    assert value(found, "fbsync_last_run_status", "vip", status="failed") == 1
    # the last success is still the first run's: "no successful run in 8 days" reads this
    assert value(found, "fbsync_last_success_timestamp_seconds", "vip") < value(
        found, "fbsync_last_run_timestamp_seconds", "vip"
    )


@pytest.mark.e2e
def test_a_crm_that_is_down_writes_a_summary_with_its_sentence(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    summary = tmp_path / "run.json"
    wd.crm.unlink()
    r = wd.run("sync", "--summary-file", str(summary))
    assert r.exit_code == 2
    doc = json.loads(summary.read_text())
    assert doc["schema"] == "fbsync.run/1" and doc["status"] == "failed" and doc["exit_code"] == 2
    assert doc["error"] and doc["audiences"] == []


@pytest.mark.e2e
def test_a_path_that_cannot_be_written_stops_before_anything_is_sent(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    for opt in ("--summary-file", "--metrics-file"):
        r = wd.run("sync", opt, str(tmp_path / "missing" / "x"))
        assert r.exit_code == 2 and "cannot write" in r.output, r.output
        r = wd.run("sync", opt, str(tmp_path))
        assert r.exit_code == 2 and "is a directory" in r.output, r.output
    assert wd.writes() == 0 and wd.audiences() == {}


# -- schedule --metrics-port, scraped over HTTP ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int, accept: str | None = None, wait: float = 20) -> tuple[str, str]:
    deadline = time.monotonic() + wait
    while True:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept} if accept else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.read().decode(), r.headers["Content-Type"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def schedule_cmd(wd: Workdir, port: int) -> list[str]:
    config = str(wd.path / "audiences.yaml")
    return [sys.executable, "-m", "fbsync", "schedule", "-c", config, "--metrics-port", str(port)]


@pytest.mark.e2e
def test_schedule_serves_the_metrics_over_http(tmp_path: Path, demo_crm: Path, sb: Any) -> None:
    wd = workdir(tmp_path, demo_crm, sb)
    assert wd.run("sync").exit_code == 0
    port = free_port()
    env = {**os.environ, **wd.env(), "PYTHONUNBUFFERED": "1"}
    env.pop("FBSYNC_ALERT_URLS", None)
    proc = subprocess.Popen(
        schedule_cmd(wd, port),
        cwd=wd.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        body, ctype = scrape(port)
        assert ctype.startswith("text/plain")
        found = samples(body)
        for name in ("vip", "everyone"):
            assert value(found, "fbsync_last_run_ok", name) == 1
            assert value(found, "fbsync_rows_read", name) > 0
        # a run recorded while the scheduler is up shows at the next scrape (the history is read each time)
        r = wd.run("sync", "vip")
        assert r.exit_code == 0, r.output
        om, ctype = scrape(port, accept="application/openmetrics-text; version=1.0.0")
        assert ctype.startswith("application/openmetrics-text")
        found = samples(om, openmetrics=True)
        assert value(found, "fbsync_last_run_ok", "vip") == 1
        assert value(found, "fbsync_rows_sent", "vip", direction="added") == 0  # unchanged CRM: nothing sent
        # a second scheduler (another state folder) cannot take the port: one sentence, exit 2
        busy = subprocess.run(
            schedule_cmd(wd, port),
            cwd=wd.path,
            env={**env, "FBSYNC_STATE_DIR": str(tmp_path / "other-state")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert busy.returncode == 2 and "already in use" in busy.stderr, busy.stderr
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_sample_alert_rule_reads_the_last_success() -> None:
    """docs/metrics.md's rule: no successful run in 8 days."""
    docs = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert "time() - fbsync_last_success_timestamp_seconds > 8 * 86400" in docs
    stale = datetime.now(UTC) - timedelta(days=9)
    found = rendered([Snapshot("vip", "act_1234567890", record("failed"), stale)])
    assert time.time() - value(found, "fbsync_last_success_timestamp_seconds", "vip") > 8 * 86400
