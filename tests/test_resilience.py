"""The client under a misbehaving Meta: retries, the quota governor, token expiry (issue: resilient client).

The sandbox and the client share one fake clock: sleeping advances it, so minutes of backoff and
throttle blocks take no real time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import EVERYONE_KEYS as KEYS
from e2e_helpers import EVERYONE_QUERY as QUERY
from e2e_helpers import Workdir, expected_rows, make_workdir

from fbsync.api import sync
from fbsync.config import load_config
from fbsync.errors import AuthError
from fbsync.meta.client import MetaClient, RetryPolicy
from fbsync.meta.governor import Governor, Usage
from fbsync.results import RunResult
from fbsync.sandbox import Faults, running_sandbox
from fbsync.settings import Settings

pytestmark = pytest.mark.e2e
YAML = f"""
version: 1
ad_account_id: act_31
crm: {{url: "sqlite:///demo/crm.db"}}
defaults: {{default_country: FR, consent: consent}}
audiences:
  - name: everyone
    query: "{QUERY}"
    keys: {KEYS}
  - name: vip
    query: "SELECT email, phone, consent FROM customers WHERE is_vip = 1"
    keys: {{EMAIL: email, PHONE: phone}}
"""


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_usage_headers_are_read() -> None:
    u = Usage.from_headers(
        {
            "X-App-Usage": json.dumps({"call_count": 12, "total_time": 3, "total_cputime": 4}),
            "x-ad-account-usage": json.dumps({"acc_id_util_pct": 81.5, "reset_time_duration": 120}),
            "X-Business-Use-Case-Usage": json.dumps(
                {
                    "31": [
                        {
                            "type": "custom_audience",
                            "call_count": 40,
                            "total_time": 90,
                            "estimated_time_to_regain_access": 0,
                        }
                    ]
                }
            ),
        }
    )
    assert u is not None and u.pct == 90 and u.source == "custom_audience total_time" and u.reset_seconds == 120
    assert Usage.from_headers({"X-App-Usage": "not json"}) is None
    assert Usage.from_headers({}) is None


@pytest.mark.parametrize(
    "pct, reset, regain, wait",
    [
        (10, None, None, 0.0),
        (75, None, None, 0.0),
        (87.5, None, None, 30.0),
        (99, 120, None, 115.2),
        (100, None, 600, 600.0),
    ],
)
def test_governor_paces_before_the_limit(pct: float, reset: float | None, regain: float | None, wait: float) -> None:
    g = Governor(slow_from=75, window=60, sleep=lambda s: None)
    g.usage = Usage(pct, "x", reset, regain)
    assert g.pause_for() == pytest.approx(wait)


def test_governor_waits_a_window_when_the_next_calls_could_hit_the_limit() -> None:
    g = Governor(slow_from=75, window=60, sleep=lambda s: None)
    for pct in (40, 55, 70):  # each call adds 15 %
        g.observe({"X-Ad-Account-Usage": json.dumps({"acc_id_util_pct": pct})})
    assert g.step == pytest.approx(15) and g.pause_for() == 60


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fbsync.dev.demo import seed

    p = tmp_path_factory.mktemp("rcrm") / "crm.db"
    seed(p, n=25_000, seed=5)
    return p


def run(wd: Workdir, clock: Clock, token: str = "tok-resilience-1") -> tuple[RunResult, list[MetaClient]]:
    loaded = load_config(wd.path / "audiences.yaml", env={})
    env = {**wd.env(), "FB_ACCESS_TOKEN": token}
    settings = Settings.from_env(loaded.path, environ=env)
    clients: list[MetaClient] = []

    def factory(s: Settings, acct: str) -> MetaClient:
        c = MetaClient(s, acct, RetryPolicy(attempts=8, sleep=clock.sleep), Governor(sleep=clock.sleep))
        clients.append(c)
        return c

    return sync(loaded, settings=settings, clients=factory), clients


@pytest.fixture
def clock() -> Clock:
    return Clock()


def sandbox(clock: Clock, faults: Faults) -> Iterator[Any]:
    return running_sandbox(clock=clock, faults=faults)


def test_errors_throttles_and_drops_still_converge(tmp_path: Path, crm: Path, clock: Clock) -> None:
    faults = Faults(
        seed=6,
        error_rate=0.1,
        html_fraction=0.3,
        throttle_rate=0.05,
        drop_rate=0.1,
        drop_after_apply=0.5,
        missing_after_create=1,
        block_seconds=120,
    )
    with running_sandbox(clock=clock, faults=faults) as sb:
        sb.app.sleep = clock.sleep
        wd = make_workdir(tmp_path, crm, sb.url, YAML)
        report, clients = run(wd, clock)
        assert report.exit_code == 0, [a.message for a in report.audiences]
        injected = sb.app.injector.state(sb.app)["injected"]
        assert injected.get("error_500", 0) + injected.get("html_503", 0) >= 1, injected
        assert injected.get("throttle", 0) >= 1 and injected.get("drop", 0) >= 1, injected
        assert clients[0].retries >= 3
        assert wd.members("everyone") == expected_rows(wd.crm, QUERY, KEYS)
        assert wd.members("vip") == expected_rows(
            wd.crm, "SELECT email, phone, consent FROM customers WHERE is_vip = 1", {"EMAIL": "email", "PHONE": "phone"}
        )
        assert len(wd.audiences()) == 2  # no duplicate from a retried creation


def test_token_expiry_mid_run_stops_with_exit_3_then_a_new_token_converges(
    tmp_path: Path, crm: Path, clock: Clock
) -> None:
    with running_sandbox(clock=clock, faults=Faults(token_expires_after=6)) as sb:
        wd = make_workdir(tmp_path, crm, sb.url, YAML)
        with pytest.raises(AuthError) as exc:
            run(wd, clock, token="tok-old-123456")
        assert exc.value.exit_code == 3 and "FB_ACCESS_TOKEN" in str(exc.value)
        assert "tok-old-123456" not in str(exc.value)
        report, _ = run(wd, clock, token="tok-new-654321")
        assert report.exit_code == 0
        assert wd.members("everyone") == expected_rows(wd.crm, QUERY, KEYS)


def test_governor_keeps_the_run_within_a_per_minute_budget(tmp_path: Path, crm: Path, clock: Clock) -> None:
    with running_sandbox(clock=clock, faults=Faults(calls_per_minute=20)) as sb:
        wd = make_workdir(tmp_path, crm, sb.url, YAML)
        report, clients = run(wd, clock)
        assert report.exit_code == 0
        injected = sb.app.injector.state(sb.app)["injected"]
        assert not injected.get("budget") and not injected.get("blocked"), injected
        assert clients[0].governor.paused > 0 and clients[0].retries == 0
        assert wd.members("everyone") == expected_rows(wd.crm, QUERY, KEYS)
