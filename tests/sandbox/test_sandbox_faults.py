"""Fault injection through ``SandboxApp.handle`` (no sockets): 5xx, throttles and blocks, the per-minute
budget and its headers, token expiry, 803 after create, slowness, drops.  Fake clock, fixed seeds."""

from __future__ import annotations

import json

import pytest

from fbsync.sandbox import ConnectionDropped, Faults, SandboxApp, SandboxStore, faults_from_options

CREATE = {"name": "a", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"}
PAYLOAD = {"schema": "EMAIL_SHA256", "data": ["a" * 64]}


def usage(resp, name: str) -> dict:
    return json.loads(resp.headers[name])


def buc(resp) -> dict:
    (entries,) = usage(resp, "X-Business-Use-Case-Usage").values()
    return entries[0]


# --- settings ---


@pytest.mark.parametrize(
    "values, message",
    [
        ({"error_rate": 1.5}, "error_rate must be between 0 and 1"),
        ({"drop_rate": -0.1}, "drop_rate must be between 0 and 1"),
        ({"throttle_codes": ("99",)}, "throttle_codes must be among"),
        ({"slow_ms": (500, 100)}, "slow_ms must be"),
        ({"calls_per_minute": 0}, "calls_per_minute must be at least 1"),
        ({"token_expires_after": 0}, "token_expires_after must be at least 1"),
        ({"block_seconds": 0}, "block_seconds must be > 0"),
        ({"nope": 1}, "unknown fault option(s): nope"),
    ],
)
def test_bad_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Faults.from_dict(values)


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, {"active": False}),
        ({"error_rate": 0.05, "seed": 3}, {"error_rate": 0.05, "seed": 3, "active": True}),
        ({"slow_ms": 250}, {"slow_ms": (250.0, 250.0)}),
        ({"slow_ms": "100-500"}, {"slow_ms": (100.0, 500.0)}),
        ({"slow_ms": None, "drop_rate": 0.2, "drop_after_apply": True}, {"drop_rate": 0.2, "drop_after_apply": 1.0}),
        ({"token_expires_after": 5, "calls_per_minute": 60}, {"token_expires_after": 5, "calls_per_minute": 60}),
        ({"throttle_rate": 0.1, "throttle_codes": "4"}, {"throttle_codes": ("4",)}),
        ({"html_fraction": None, "missing_after_create": 2}, {"html_fraction": 0.0, "missing_after_create": 2}),
    ],
)
def test_faults_from_options(options, expected):
    faults = faults_from_options(**options)
    for name, value in expected.items():
        assert getattr(faults, name) == value, name
    assert Faults.from_dict(faults.to_dict(redact=False)) == faults


def test_settings_replace_the_state_and_redact_the_token(app, graph):
    app.faults = Faults(token_expires_after=1, expiring_token="secret-tok")
    assert app.injector.state(app)["faults"]["expiring_token"] == "***"
    app.faults = None
    assert app.injector is None and app.policies == []
    assert graph.get("/me").status == 200


# --- 5xx ---


def _statuses(seed: int, n: int = 600) -> list[int]:
    app = SandboxApp(SandboxStore(None), faults=Faults(error_rate=0.1, html_fraction=0.25, seed=seed))
    return [app.handle("GET", "/v26.0/me", "access_token=t", {}, b"")[0] for _ in range(n)]


def test_server_errors_at_a_rate_deterministic_from_the_seed():
    first, again, other = _statuses(7), _statuses(7), _statuses(8)
    assert first == again and first != other
    errors_ = [s for s in first if s != 200]
    assert 35 <= len(errors_) <= 90  # ~60 expected
    assert 0.1 <= errors_.count(503) / len(errors_) <= 0.45  # ~25 % of them as HTML
    assert set(first) == {200, 500, 503}


def test_server_error_shapes(app):
    app.faults = Faults(error_rate=1.0)
    status, headers, body = app.handle("GET", "/v26.0/me", "access_token=t", {}, b"")
    error = json.loads(body)["error"]
    assert status == 500 and headers["Content-Type"].startswith("application/json")
    assert (error["code"], error["type"], error["is_transient"]) == (2, "OAuthException", True)
    assert error["message"] == "An unexpected error has occurred. Please retry your request later."
    app.faults = Faults(error_rate=1.0, html_fraction=1.0)
    status, headers, body = app.handle("GET", "/v26.0/me", "access_token=t", {}, b"")
    assert (status, body) == (503, b"<html><body>Service Unavailable</body></html>")
    assert headers["Content-Type"].startswith("text/html")


def test_a_5xx_does_not_apply_the_call(app, graph):
    app.faults = Faults(error_rate=1.0, endpoints=("POST /customaudiences",))
    assert graph.post("/act_1/customaudiences", **CREATE).status == 500
    assert graph.get("/act_1/customaudiences").body["data"] == []  # GET is not targeted
    assert app.injector.state(app)["injected"] == {"error_500": 1}


# --- throttles and blocks (docs/meta-api.md §3, §4) ---

THROTTLES = [  # key, code, subcode, BUC type
    ("80003/2446079", 80003, 2446079, "custom_audience"),
    ("17/2446079", 17, 2446079, "ads_management"),
    ("613/1487742", 613, 1487742, "ads_management"),
    ("4", 4, None, "ads_management"),
]


@pytest.mark.parametrize("key, code, subcode, kind", THROTTLES)
def test_on_demand_throttle_shape(app, graph, clock, key, code, subcode, kind):
    app.throttle("act_1", key, seconds=110)  # + 10 s for the refused call itself
    resp = graph.get("/act_1/customaudiences")
    assert resp.status == 400
    assert resp.code() == (code, subcode) and resp.error["type"] == "OAuthException"
    assert "is_transient" not in resp.error  # throttles omit it (docs/meta-api.md §7.3)
    assert resp.error["message"].startswith(f"(#{code}) ")
    entry = buc(resp)
    assert entry["type"] == kind and entry["estimated_time_to_regain_access"] == 2  # 120 s → 2 min
    assert min(entry["call_count"], entry["total_time"], entry["total_cputime"]) >= 100
    app_wide = key == "4"
    assert (usage(resp, "X-App-Usage")["call_count"] >= 100) is app_wide
    assert (usage(resp, "X-Ad-Account-Usage")["acc_id_util_pct"] >= 100) is not app_wide
    assert (graph.get("/act_2").status == 400) is app_wide  # code 4 blocks the app, others one account
    assert (graph.get("/me").status == 400) is app_wide


@pytest.mark.parametrize(
    "call_offsets, expected",
    [
        ([61], [200]),  # waits the regain time: back at once
        ([30, 61], [400, 400]),  # a call during the block pushes its end to 70 s
        ([30, 71], [400, 200]),  # …so waiting until after 70 s works
        ([10, 20, 30, 75, 95, 111], [400, 400, 400, 400, 400, 200]),  # every refused call adds 10 s: ends at 110
    ],
)
def test_calls_during_a_block_extend_it(app, graph, clock, call_offsets, expected):
    app.faults = Faults(block_seconds=60, block_extension_seconds=10)
    start = clock.t
    app.throttle("act_1", "17/2446079")
    got = []
    for offset in call_offsets:
        clock.t = start + offset
        got.append(graph.get("/act_1").status)
    assert got == expected


def test_regain_time_in_headers_follows_the_block(app, graph, clock):
    app.faults = Faults(block_seconds=150, block_extension_seconds=60)
    app.throttle("act_1", "80003/2446079")
    first = buc(graph.get("/act_1/customaudiences"))["estimated_time_to_regain_access"]
    clock.advance(100)  # 150 + 60 (first refusal) - 100 = 110 s left, + 60 for this call → 170 s
    second = graph.get("/act_1/customaudiences")
    assert (first, buc(second)["estimated_time_to_regain_access"]) == (4, 3)
    assert usage(second, "X-Ad-Account-Usage")["reset_time_duration"] == 170


def test_random_throttle_blocks_the_account(app, graph, clock):
    app.faults = Faults(throttle_rate=1.0, throttle_codes=("613/1487742",), endpoints=("POST /users",))
    aud = graph.create()
    assert graph.add(aud, PAYLOAD["schema"], PAYLOAD["data"]).code() == (613, 1487742)
    assert graph.get(f"/{aud}").code() == (613, 1487742)  # not targeted, but the account is blocked
    assert graph.get("/act_2").status == 200
    clock.advance(61)  # 60 s block + 10 s for the refused GET
    assert graph.get(f"/{aud}").status == 400
    clock.advance(80)
    assert graph.get(f"/{aud}").status == 200
    assert app.injector.state(app)["injected"] == {"blocked": 2, "throttle": 1}


def test_random_throttles_pick_codes_that_fit_the_call(app, graph, clock):
    app.faults = Faults(throttle_rate=1.0, seed=1)
    seen = set()
    for _ in range(40):
        seen.add(graph.get("/act_1").code())  # not an audience call: never 80003
        clock.advance(1000)
    assert seen == {(17, 2446079), (613, 1487742), (4, None)}
    assert graph.get("/me").code() == (4, None)  # no account: only the app limit applies


# --- the per-minute ad-account budget (docs/meta-api.md §4 "Ad-account score") ---


def test_budget_headers_rise_then_refuse(app, graph, clock):
    app.faults = Faults(calls_per_minute=20)
    aud = graph.create()  # write: 3
    pcts = [usage(graph.get("/act_1"), "X-Ad-Account-Usage")["acc_id_util_pct"] for _ in range(3)]
    assert pcts == [20.0, 25.0, 30.0]
    resp = graph.add(aud, PAYLOAD["schema"], PAYLOAD["data"])  # write: 3 → 9/20
    assert usage(resp, "X-Ad-Account-Usage")["acc_id_util_pct"] == 45.0
    assert buc(resp) | {"ads_api_access_tier": None} == {
        "type": "custom_audience",
        "call_count": 45,
        "total_cputime": 45,
        "total_time": 45,
        "estimated_time_to_regain_access": 0,
        "ads_api_access_tier": None,
    }
    for _ in range(3):
        assert graph.add(aud, PAYLOAD["schema"], PAYLOAD["data"]).status == 200  # 18/20
    assert graph.get("/act_1").status == 200  # 19/20
    refused = graph.add(aud, PAYLOAD["schema"], PAYLOAD["data"])  # 22 > 20
    assert refused.code() == (80003, 2446079) and buc(refused)["estimated_time_to_regain_access"] == 1
    assert graph.get("/act_1").code() == (80003, 2446079)  # blocked: the block's code, any call
    assert graph.get("/act_2").status == 200  # budgets are per account
    clock.advance(200)
    ok = graph.get("/act_1")
    assert ok.status == 200 and usage(ok, "X-Ad-Account-Usage")["acc_id_util_pct"] == 5.0


def test_budget_refuses_account_reads_with_17(app, graph):
    app.faults = Faults(calls_per_minute=2)
    assert [graph.get("/act_1").status for _ in range(2)] == [200, 200]
    resp = graph.get("/act_1")
    assert resp.code() == (17, 2446079) and buc(resp)["type"] == "ads_management"
    assert usage(resp, "X-Ad-Account-Usage")["acc_id_util_pct"] >= 100


def test_a_client_reading_the_headers_stays_under_the_budget(app, graph, clock, make_graph):
    app.faults = Faults(calls_per_minute=30)
    aud = graph.create()
    clock.advance(60)
    refused = 0
    for i in range(200):
        resp = graph.add(aud, PAYLOAD["schema"], [f"{i:064x}"])
        refused += resp.status != 200
        account = usage(resp, "X-Ad-Account-Usage")
        if account["acc_id_util_pct"] + 100 * 3 / 30 > 100:  # the next write would go over: wait
            clock.advance(account["reset_time_duration"])
        clock.advance(0.5)
    assert refused == 0
    naive = SandboxApp(SandboxStore(None), clock=clock, faults=Faults(calls_per_minute=30))
    naive_graph = make_graph(naive)
    aud = naive_graph.create()
    statuses = [naive_graph.add(aud, PAYLOAD["schema"], [f"{i:064x}"]).status for i in range(20)]
    assert statuses.count(400) == 11


# --- token expiry (docs/meta-api.md §3: 190/463) ---


def test_token_expires_after_n_calls_and_another_token_works(app, graph, make_graph):
    app.faults = Faults(token_expires_after=3)
    assert [graph.get("/me").status for _ in range(3)] == [200, 200, 200]
    for _ in range(2):  # stays expired
        resp = graph.get("/act_1")
        assert resp.status == 400 and resp.code() == (190, 463) and resp.error["type"] == "OAuthException"
        assert resp.error["message"].startswith("Error validating access token: Session has expired on ")
        assert "The current time is" in resp.error["message"] and "WWW-Authenticate" in resp.headers
    fresh = make_graph(app, token="renewed-token")
    assert [fresh.get("/act_1").status for _ in range(5)] == [200] * 5
    debug = fresh.get("/debug_token", input_token=graph.TOKEN).body["data"]
    assert debug["is_valid"] is False and debug["error"]["code"] == 190 and debug["error"]["subcode"] == 463
    assert fresh.get("/debug_token", input_token="renewed-token").body["data"]["is_valid"] is True


def test_configured_token_expires_and_a_renewed_one_is_allowed(clock, make_graph):
    app = SandboxApp(SandboxStore(None), access_token="first", clock=clock, faults=Faults(token_expires_after=1))
    first, second = make_graph(app, token="first"), make_graph(app, token="second")
    assert first.get("/me").status == 200
    assert first.get("/me").code() == (190, 463)
    assert second.get("/me").code() == (190, None)  # not a token this sandbox knows yet
    app.allow_token("second")
    assert second.get("/me").status == 200


def test_named_token_expires_and_others_never(app, make_graph):
    app.faults = Faults(token_expires_after=2, expiring_token="doomed")
    other, doomed = make_graph(app, token="other"), make_graph(app, token="doomed")
    assert [other.get("/me").status for _ in range(4)] == [200] * 4
    assert [doomed.get("/me").status for _ in range(3)] == [200, 200, 400]


# --- 803 just after create (docs/meta-api.md §7.4) ---


def test_missing_alias_after_create(app, graph):
    old = graph.create()
    app.faults = Faults(missing_after_create=2)
    new = graph.create()
    first = graph.add(new, PAYLOAD["schema"], PAYLOAD["data"])
    assert first.code() == (803, None) and first.error["is_transient"] is True
    assert first.error["message"] == "(#803) Some of the aliases you requested do not exist: users"
    assert graph.add(new, PAYLOAD["schema"], PAYLOAD["data"], method="DELETE").code() == (803, None)
    assert graph.add(new, PAYLOAD["schema"], PAYLOAD["data"]).status == 200
    assert graph.add(old, PAYLOAD["schema"], PAYLOAD["data"]).status == 200
    assert app.members(new)["rows"] == [["a" * 64]]


# --- slow responses and drops ---


@pytest.mark.parametrize(
    "slow_ms, slow_rate, check",
    [
        (250, 1.0, lambda delays: delays == [0.25] * 20),
        (
            (100, 300),
            1.0,
            lambda delays: len(delays) == 20 and all(0.1 <= d <= 0.3 for d in delays) and len(set(delays)) > 10,
        ),
        (50, 0.5, lambda delays: 4 <= len(delays) <= 16 and set(delays) == {0.05}),
    ],
)
def test_slow_responses(app, graph, slow_ms, slow_rate, check):
    delays: list[float] = []
    app.sleep = delays.append
    app.faults = Faults(slow_ms=slow_ms, slow_rate=slow_rate, seed=5)
    assert all(graph.get("/me").status == 200 for _ in range(20))
    assert check(delays), delays


@pytest.mark.parametrize("after_apply, audiences_left", [(0.0, 0), (1.0, 1)])
def test_drop_before_or_after_applying(app, graph, after_apply, audiences_left):
    app.faults = Faults(drop_rate=1.0, drop_after_apply=after_apply, endpoints=("POST /customaudiences",))
    with pytest.raises(ConnectionDropped) as info:
        graph.post("/act_1/customaudiences", **CREATE)
    assert info.value.applied is bool(after_apply)
    assert len(app.store.list_audiences()) == audiences_left
    assert graph.get("/me").status == 200


def test_drop_rate_and_after_apply_share_are_seeded(clock):
    def run() -> list[str]:
        app = SandboxApp(SandboxStore(None), clock=clock, faults=Faults(drop_rate=0.3, drop_after_apply=0.5, seed=11))
        out = []
        for _ in range(200):
            try:
                out.append(str(app.handle("GET", "/v26.0/me", "access_token=t", {}, b"")[0]))
            except ConnectionDropped as err:
                out.append("after" if err.applied else "before")
        return out

    first = run()
    assert first == run()
    assert 40 <= first.count("before") + first.count("after") <= 80
    assert first.count("before") >= 15 and first.count("after") >= 15


def test_reset_forgets_fault_state(app, graph):
    app.faults = Faults(token_expires_after=1)
    graph.get("/me")
    assert graph.get("/me").status == 400
    app.throttle("act_1", "17/2446079")
    assert app.handle("POST", "/__sandbox/reset", "", {}, b"")[0] == 200
    assert graph.get("/act_1").status == 200  # the block and the token's count are forgotten
    assert graph.get("/me").code() == (190, 463)  # the settings stay: the token expires again
