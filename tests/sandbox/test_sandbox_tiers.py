"""Rate limits of the access tiers (docs/meta-api.md §4), on the sandbox's fake clock."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fbsync.sandbox import SandboxConfig, config_from_options
from fbsync.sandbox.__main__ import build_parser, config_from_args
from fbsync.sandbox.usage import UsageBudget


def usage(resp):
    account = json.loads(resp.headers["X-Ad-Account-Usage"])
    buc = resp.headers.get("X-Business-Use-Case-Usage")
    return account, (json.loads(buc) if buc else None)


@pytest.fixture
def limited(app):
    app.config = dataclasses.replace(app.config, tier="limited")
    return app


def test_full_is_the_default_and_reads_standard_access(graph):
    aud = graph.create()
    account, buc = usage(graph.get(f"/{aud}"))
    assert account["ads_api_access_tier"] == "standard_access"
    assert account["acc_id_util_pct"] == round(100 * 4 / 9000, 2)  # a write (3) and a read (1)
    assert buc["1"][0]["ads_api_access_tier"] == "standard_access" and buc["1"][0]["type"] == "custom_audience"


def test_limited_tier_score_blocks_the_account_for_300_seconds(graph, limited, clock):
    aud = graph.create()  # 3 points
    for _ in range(19):  # 19 writes more: 60 points, the maximum
        assert graph.post(f"/{aud}", description="x").status == 200
    refused = graph.get(f"/{aud}")  # one more point: over 60
    assert refused.status == 400 and refused.code() == (17, 2446079)
    assert "is_transient" not in refused.error
    assert refused.error["error_data"] == {"estimated_time_to_regain_access": 5}
    account, buc = usage(refused)
    assert account["ads_api_access_tier"] == "development_access"
    assert account["acc_id_util_pct"] >= 100 and account["reset_time_duration"] == 300
    assert buc["1"][0]["estimated_time_to_regain_access"] == 5
    clock.advance(299)
    other = graph.get("/act_1")  # every call of the account is refused, an ads_management one too
    assert other.code() == (17, 2446079)
    assert json.loads(other.headers["X-Business-Use-Case-Usage"])["1"][0] == {
        "type": "ads_management",
        "call_count": 100,
        "total_cputime": 100,
        "total_time": 100,
        "estimated_time_to_regain_access": 1,
        "ads_api_access_tier": "development_access",
    }
    assert graph.get("/act_2").status == 200  # other accounts are not blocked
    assert graph.get("/me").status == 200
    clock.advance(1)
    ok = graph.get(f"/{aud}")  # the block is over, and it wiped the score
    assert ok.status == 200 and usage(ok)[0]["acc_id_util_pct"] == round(100 / 60, 2)


def test_points_decay_over_300_seconds(graph, limited, clock):
    aud = graph.create()
    for _ in range(19):
        graph.post(f"/{aud}", description="x")
    clock.advance(300)  # all 60 points decayed
    for _ in range(20):
        assert graph.post(f"/{aud}", description="y").status == 200
    assert graph.post(f"/{aud}", description="z").code() == (17, 2446079)


def test_full_tier_blocks_for_60_seconds(graph, app, clock):
    app.config = dataclasses.replace(app.config, usage=UsageBudget(score_limit=9))  # 9000 made small
    aud = graph.create()
    graph.post(f"/{aud}", description="a")
    graph.post(f"/{aud}", description="b")
    refused = graph.get(f"/{aud}")
    assert refused.code() == (17, 2446079) and usage(refused)[0]["reset_time_duration"] == 60
    assert refused.error["error_data"]["estimated_time_to_regain_access"] == 1
    clock.advance(60)
    assert graph.get(f"/{aud}").status == 200


def test_custom_audience_hourly_quota(graph, app, clock):
    app.config = dataclasses.replace(
        app.config, tier="limited", usage=UsageBudget(audience_base_per_hour=3, score_limit=10_000)
    )
    aud = graph.create()  # 1 live audience: 3 + 40 = 43 audience calls an hour
    for _ in range(42):
        clock.advance(10)
        resp = graph.get(f"/{aud}")
        assert resp.status == 200
    assert usage(resp)[1]["1"][0]["call_count"] == 100
    refused = graph.get(f"/{aud}")
    assert refused.code() == (80003, 2446079)
    buc = usage(refused)[1]["1"][0]
    assert buc["type"] == "custom_audience" and buc["call_count"] >= 100
    first_call_leaves = 3600 - 42 * 10  # the create was the first audience call, at t=0
    assert buc["estimated_time_to_regain_access"] == -(-first_call_leaves // 60)
    assert refused.error["error_data"]["estimated_time_to_regain_access"] == buc["estimated_time_to_regain_access"]
    assert graph.get("/act_1").status == 200  # not an audience call
    again = graph.post("/act_1/customaudiences", name="b", subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY")
    assert again.code() == (80003, 2446079)  # creating is an audience call too...
    clock.advance(first_call_leaves)
    assert graph.get(f"/{aud}").status == 200  # ...until the oldest call leaves the hour


def test_admin_usage_and_reset(graph, limited, app, clock):
    aud = graph.create()
    for _ in range(20):
        graph.post(f"/{aud}", description="x")
    status, _, raw = app.handle("GET", "/__sandbox/usage", "", {}, b"")
    state = json.loads(raw)
    assert status == 200 and state["tier"] == "development_access" and state["max_score"] == 60
    assert state["accounts"]["act_1"]["blocked_code"] == "17/2446079"
    assert state["accounts"]["act_1"]["blocked_seconds_left"] == 300
    app.handle("POST", "/__sandbox/reset", "", {}, b"")
    assert json.loads(app.handle("GET", "/__sandbox/usage", "", {}, b"")[2])["accounts"] == {}


def test_tier_knob_from_options_admin_and_cli(app):
    assert config_from_options(tier="limited").tier == "limited"
    with pytest.raises(ValueError):
        config_from_options(tier="gold")
    args = build_parser().parse_args(["--tier", "limited", "--min-removal-size", "0", "--foreign-audience-id", "7"])
    config = config_from_args(args)
    assert (config.tier, config.min_audience_size_after_removal, config.foreign_audience_ids) == ("limited", 0, ("7",))
    assert config_from_args(build_parser().parse_args([])) == SandboxConfig()
    status, _, raw = app.handle("POST", "/__sandbox/config", "", {}, b'{"tier": "limited"}')
    assert status == 200 and json.loads(raw)["tier"] == "limited"
    assert app.usage.budget.tier == "development_access" and app.usage.budget.max_score == 60
    assert app.handle("POST", "/__sandbox/config", "", {}, b'{"tier": "gold"}')[0] == 400
