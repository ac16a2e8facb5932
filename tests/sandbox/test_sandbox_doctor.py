"""What ``fbsync doctor`` reads: ``/me``, ``/me/permissions``, ``/debug_token``, ``/act_{id}``, and the
SandboxConfig knobs that make them report trouble (expiring token, missing permission, terms, disabled)."""

from __future__ import annotations

import dataclasses

import pytest

from fbsync.sandbox import SandboxApp, SandboxConfig, SandboxStore, running_sandbox

DAY = 86_400
ACCOUNT_FIELDS = "account_status,name,tos_accepted,disable_reason,business"
CREATE = {"name": "a", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"}


def with_config(app: SandboxApp, **knobs) -> None:
    app.config = dataclasses.replace(app.config, **knobs)


def test_default_reads(graph, clock):
    assert graph.get("/me", fields="id,name").body == {"id": "10000000000000001", "name": "Sandbox User"}
    perms = graph.get("/me/permissions").body
    assert perms == {
        "data": [
            {"permission": p, "status": "granted"}
            for p in ("ads_management", "ads_read", "business_management", "public_profile")
        ]
    }
    debug = graph.get("/debug_token", input_token=graph.TOKEN).body
    assert debug == {
        "data": {
            "app_id": "100000000000001",
            "type": "SYSTEM_USER",
            "application": "fbsync sandbox",
            "data_access_expires_at": 0,
            "expires_at": 0,
            "is_valid": True,
            "issued_at": int(clock.t),
            "scopes": ["ads_management", "ads_read", "business_management", "public_profile"],
            "user_id": "10000000000000001",
        }
    }
    account = graph.get("/act_42", fields=ACCOUNT_FIELDS).body
    assert account == {
        "account_status": 1,
        "name": "Sandbox ad account 42",
        "tos_accepted": {"custom_audience_tos": 1, "value_based_custom_audience_tos": 1},
        "disable_reason": 0,
        "business": {"id": "20000000000000001", "name": "Sandbox Business"},
        "id": "act_42",
    }


def test_doctor_reads_are_counted_and_unversioned_paths_work(app, graph):
    graph.version = ""
    assert graph.get("/debug_token", input_token="x").status == 200
    assert graph.get("/me/permissions").status == 200
    assert app.request_count()["by_endpoint"] == {"GET /debug_token": 1, "GET /me/permissions": 1}


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, (100, None)),
        ({"input_token": ""}, (100, None)),
    ],
)
def test_debug_token_needs_input_token(graph, params, expected):
    resp = graph.get("/debug_token", **params)
    assert resp.code() == expected and "input_token" in resp.error["message"]


def test_debug_token_of_an_unknown_token(clock, make_graph):
    app = SandboxApp(SandboxStore(None), access_token="good", clock=clock)
    graph = make_graph(app, token="good")
    data = graph.get("/debug_token", input_token="garbage").body["data"]
    assert data == {
        "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
        "is_valid": False,
        "scopes": [],
    }
    assert "garbage" not in str(data)
    assert make_graph(app, token="garbage").get("/debug_token", input_token="good").code() == (190, None)


def test_token_expiring_soon_then_expired(app, graph, clock):
    with_config(app, token_expires_in_days=3)
    data = graph.get("/debug_token", input_token=graph.TOKEN).body["data"]
    assert data["expires_at"] == int(clock.t + 3 * DAY) and data["is_valid"] is True
    clock.advance(2.9 * DAY)
    assert graph.get("/act_1").status == 200
    clock.advance(0.2 * DAY)
    resp = graph.get("/me")
    assert resp.code() == (190, 463) and "Session has expired on" in resp.error["message"]


def test_user_token(app, graph, clock):
    with_config(app, token_type="USER", token_expires_in_days=60, missing_permissions=("business_management",))
    data = graph.get("/debug_token", input_token=graph.TOKEN).body["data"]
    assert data["type"] == "USER" and data["data_access_expires_at"] == int(clock.t) + 90 * DAY
    assert "business_management" not in data["scopes"]
    perms = graph.get("/me/permissions").body["data"]
    assert {"permission": "business_management", "status": "declined"} in perms


@pytest.mark.parametrize(
    "missing, read, write, message",
    [
        ((), 200, 200, None),
        (("business_management",), 200, 200, None),
        (("ads_management",), 200, 403, "(#200) Requires ads_management permission to manage the object"),
        (("ads_read",), 200, 200, None),
        (("ads_management", "ads_read"), 403, 403, "(#200) Ad account owner has NOT grant ads_management or ads_read"),
    ],
)
def test_missing_permission(app, graph, missing, read, write, message):
    with_config(app, missing_permissions=missing)
    listed = [p["permission"] for p in graph.get("/me/permissions").body["data"]]
    assert not set(missing) & set(listed)
    assert graph.get("/debug_token", input_token=graph.TOKEN).body["data"]["scopes"] == listed
    reads = graph.get("/act_1", fields="name")
    writes = graph.post("/act_1/customaudiences", **CREATE)
    assert (reads.status, writes.status) == (read, write)
    for resp in (reads, writes):
        if resp.status != 200:
            assert resp.code() == (200, None) and resp.error["message"].startswith(message)
    assert graph.get("/me").status == 200  # the token itself is fine


def test_terms_not_accepted(app, graph):
    aud = graph.create()  # before: accepted
    with_config(app, custom_audience_tos=False)
    assert graph.get("/act_1", fields="tos_accepted").body["tos_accepted"] == {}
    refused = graph.post("/act_1/customaudiences", **CREATE)
    assert refused.status == 403 and refused.code() == (200, 1870034)
    assert refused.error["error_user_title"] == "Custom Audience Terms Not Accepted"
    assert "act=1" in refused.error["message"]
    assert graph.add(aud, ["EMAIL"], [[graph.h("a")]]).code() == (200, 1870034)
    assert graph.get(f"/{aud}", fields="name").status == 200  # reads still work
    assert graph.post(f"/{aud}", name="renamed").status == 200
    with_config(app, custom_audience_tos=True)
    assert graph.post("/act_1/customaudiences", **CREATE).status == 200


def test_account_disabled(app, graph):
    with_config(app, account_status=2, disable_reason=1)
    body = graph.get("/act_1", fields=ACCOUNT_FIELDS).body
    assert (body["account_status"], body["disable_reason"]) == (2, 1)


def test_doctor_reads_with_the_official_sdk():
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.user import User
    from facebook_business.api import FacebookAdsApi

    config = SandboxConfig(missing_permissions=("ads_management",), custom_audience_tos=False)
    with running_sandbox(access_token="sdk-token", config=config) as sb:
        api = FacebookAdsApi.init(access_token="sdk-token", crash_log=False)
        api._session.GRAPH = sb.url
        perms = [dict(p) for p in User(fbid="me").get_permissions()]
        assert {"permission": "ads_read", "status": "granted"} in perms
        assert "ads_management" not in [p["permission"] for p in perms]
        debug = api.call("GET", ("debug_token",), {"input_token": "sdk-token"}).json()["data"]
        assert debug["is_valid"] is True and debug["expires_at"] == 0
        account = AdAccount("act_9").api_get(fields=ACCOUNT_FIELDS.split(","))
        assert account["tos_accepted"] == {} and account["account_status"] == 1


def test_config_admin_endpoint(app):
    import json

    def admin(method: str, body: dict | None = None) -> tuple[int, dict]:
        status, _, raw = app.handle(method, "/__sandbox/config", "", {}, json.dumps(body or {}).encode())
        return status, json.loads(raw)

    status, knobs = admin("POST", {"missing_permissions": ["ads_management"], "account_status": 2})
    assert status == 200 and knobs["missing_permissions"] == ["ads_management"] and knobs["account_status"] == 2
    assert app.config.missing_permissions == ("ads_management",)
    assert admin("GET")[1] == knobs
    assert admin("POST", {"min_version": "v1.0"})[0] == 400


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, {"token_type": "SYSTEM_USER", "custom_audience_tos": True, "account_status": 1}),
        ({"token_expires_in_days": 5, "token_type": "USER"}, {"token_expires_in_days": 5, "token_type": "USER"}),
        ({"missing_permissions": ["ads_management"]}, {"missing_permissions": ("ads_management",)}),
        (
            {"no_tos": True, "account_disabled": True},
            {"custom_audience_tos": False, "account_status": 2, "disable_reason": 1},
        ),
        ({"lookalike_seconds": 0.5}, {"lookalike_build_seconds": 0.5}),
    ],
)
def test_config_from_options(options, expected):
    from fbsync.sandbox import config_from_options

    config = config_from_options(**options)
    assert {name: getattr(config, name) for name in expected} == expected
