"""The version table on the sandbox clock, the method override and the parameter count (docs/sandbox.md)."""

from __future__ import annotations

import dataclasses

import pytest

from fbsync.sandbox import versions
from fbsync.sandbox.versions import VERSIONS, at

V24_EXPIRY = at(VERSIONS[1].expires)  # 2026-11-10
V27_RELEASE = at(VERSIONS[4].released)  # 2026-11-04
WARNING = "X-Ad-Api-Version-Warning"


def test_live_versions_are_served_and_named(graph):
    for version in ("v25.0", "v26.0", "v27.0"):
        graph.version = version
        resp = graph.get("/me")
        assert resp.status == 200 and resp.headers["facebook-api-version"] == version
        assert WARNING not in resp.headers
        assert graph.get("/act_1/customaudiences").headers["facebook-api-version"] == version


@pytest.mark.parametrize("version", ["v23.0", "v24.0"])
def test_expired_version_is_auto_upgraded_on_unchanged_endpoints(graph, version):
    graph.version = version
    for path in ("/me", "/act_1", "/me/permissions"):
        resp = graph.get(path)
        assert resp.status == 200, resp.body
        assert resp.headers["facebook-api-version"] == "v25.0"
        assert resp.headers[WARNING] == f"The call has been auto-upgraded to v25.0 as {version} has been deprecated."


@pytest.mark.parametrize(
    "method, path, params",
    [
        ("GET", "/act_1/customaudiences", {}),
        ("POST", "/act_1/customaudiences", {"name": "a", "subtype": "CUSTOM"}),
        ("GET", "/{aud}", {"fields": "name"}),
        ("POST", "/{aud}", {"name": "b"}),
        ("DELETE", "/{aud}", {}),
        ("POST", "/{aud}/users", {"payload": {"schema": "EMAIL_SHA256", "data": ["x"]}}),
        ("DELETE", "/{aud}/users", {"payload": {"schema": "EMAIL_SHA256", "data": ["x"]}}),
        ("POST", "/{aud}/usersreplace", {"payload": {"schema": "EMAIL_SHA256", "data": ["x"]}}),
        ("GET", "/{aud}/sessions", {}),
        ("DELETE", "/act_1/usersofanyaudience", {"payload": {"schema": "EMAIL_SHA256", "data": ["x"]}}),
    ],
)
def test_expired_version_on_changed_endpoints_is_refused_with_2635(graph, method, path, params):
    aud = graph.create()
    graph.version = "v24.0"
    resp = graph.call(method, path.format(aud=aud), params)
    assert resp.status == 400 and resp.code() == (2635, None)
    assert resp.error["message"] == (
        "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v27.0."
    )
    assert WARNING not in resp.headers
    graph.version = "v25.0"
    assert graph.get(f"/{aud}").status == 200  # it still exists: nothing was applied


@pytest.mark.parametrize("version", ["v99.0", "v28.0", "v26.1"])
def test_unknown_versions_get_2500(graph, version):
    graph.version = version
    resp = graph.get("/me")
    assert resp.code() == (2500, None) and resp.error["message"] == f"Unknown path components: /{version}"


def test_the_table_follows_the_clock(graph, clock):
    clock.t = V27_RELEASE - 1  # 2026-11-03: v27 not out yet, v24 still live
    graph.version = "v27.0"
    assert graph.get("/me").code() == (2500, None)
    graph.version = "v24.0"
    resp = graph.get("/act_1/customaudiences")
    assert resp.status == 200 and resp.headers["facebook-api-version"] == "v24.0"
    graph.version = "v23.0"  # expired 2026-06-09: the message names the newest version at that date
    assert graph.get("/act_1/customaudiences").error["message"].endswith("latest version: v26.0.")
    clock.t = V24_EXPIRY  # 2026-11-10 00:00 UTC: v24 is gone
    graph.version = "v24.0"
    assert graph.get("/act_1/customaudiences").code() == (2635, None)
    assert graph.get("/me").headers["facebook-api-version"] == "v25.0"
    clock.t = at(VERSIONS[2].expires)  # v25 expires 2027-02-23: v24 and v25 now go to v26
    for version in ("v24.0", "v25.0"):
        graph.version = version
        assert graph.get("/me").headers["facebook-api-version"] == "v26.0"


def test_every_answer_names_a_version_and_auto_upgrade_can_be_off(graph, app):
    graph.version = None
    assert graph.get("/me").headers["facebook-api-version"] == "v27.0"  # unversioned: the newest
    graph.version = "v26.0"
    assert graph.get("/12345").headers["facebook-api-version"] == "v26.0"  # errors too
    assert graph.call("GET", "/me", token=None).headers["facebook-api-version"] == "v26.0"
    app.config = dataclasses.replace(app.config, version_auto_upgrade=False)
    graph.version = "v24.0"
    assert graph.get("/me").code() == (2635, None)
    app.config = dataclasses.replace(app.config, latest_version="v26.0")
    assert graph.get("/me").error["message"].endswith("latest version: v26.0.")


def test_older_than_min_version_is_refused_everywhere(graph):
    graph.version = "v22.0"
    assert graph.get("/me").code() == (2635, None)


def test_version_module_api():
    assert versions.latest(at(VERSIONS[3].released)) == "v26.0"
    assert versions.find("v25.0").expires is not None and versions.find("v27.0").expires is None
    assert "POST /users" in versions.CHANGED_ENDPOINTS and "GET /me" not in versions.CHANGED_ENDPOINTS


# --- the HTTP method override (docs/meta-api.md §8 "Legacy Graph features") ---


def test_post_with_method_delete_is_refused_after_the_cutoff(graph, app):
    aud = graph.create()
    payload = {"payload": {"schema": ["EMAIL"], "data": [[graph.h("a")]]}}
    graph.add(aud, ["EMAIL"], [[graph.h("a")]])
    for params in ({**payload, "method": "DELETE"}, {**payload, "method": "delete"}):
        resp = graph.call("POST", f"/{aud}/users", params)
        assert resp.status == 400 and resp.code() == (100, None)
        assert "method override" in resp.error["message"] and "real DELETE" in resp.error["message"]
    assert graph.call("POST", f"/{aud}", {"method": "GET"}).code() == (100, None)
    assert graph.call("POST", f"/{aud}", {"method": "DELETE"}).code() == (100, None)
    assert app.members(aud)["rows"] == [[graph.h("a")]]  # nothing removed
    for via in ("form", "json", "query"):  # a real DELETE keeps working, payload in the body or not
        assert graph.call("DELETE", f"/{aud}/users", payload, via=via).status == 200
    assert graph.get(f"/{aud}").status == 200


def test_the_override_still_works_before_the_cutoff_or_for_an_existing_use(graph, app, clock):
    aud = graph.create()
    clock.t = V27_RELEASE - 60
    assert graph.call("POST", f"/{aud}", {"method": "GET", "fields": "name"}).body["name"] == "aud"
    clock.t = V27_RELEASE + 60
    assert graph.call("POST", f"/{aud}", {"method": "GET"}).code() == (100, None)
    app.config = dataclasses.replace(app.config, method_override_grandfathered=True)
    assert graph.call("POST", f"/{aud}", {"method": "DELETE"}).body == {"success": True}


def test_too_many_parameters_is_105(graph, app):
    aud = graph.create()
    params = {f"p{i}": "x" for i in range(100)}
    assert graph.call("GET", f"/{aud}", params).status == 200  # 100 besides the token: at the limit
    resp = graph.call("GET", f"/{aud}", {**params, "one_more": "x"})
    assert resp.code() == (105, None) and resp.error["message"].startswith("(#105)")
    app.config = dataclasses.replace(app.config, max_request_params=3)
    resp = graph.add(aud, ["EMAIL"], [[graph.h("a")]], session={"session_id": 1, "batch_seq": 1})
    assert resp.status == 200
    assert graph.call("POST", f"/{aud}/users", {"payload": {}, "a": 1, "b": 2, "c": 3}).code() == (105, None)


def test_over_http_like_any_client():
    import requests

    from fbsync.sandbox import SandboxConfig, running_sandbox

    def clock() -> float:
        return 1_800_000_000.0  # 2027-01-15: v24 expired, v27 out

    with running_sandbox(clock=clock, config=SandboxConfig(tier="limited")) as sb:
        me = requests.get(f"{sb.url}/v24.0/me", params={"access_token": "t"}, timeout=5)
        assert me.status_code == 200 and me.headers["facebook-api-version"] == "v25.0"
        assert me.headers["X-Ad-Api-Version-Warning"].startswith("The call has been auto-upgraded to v25.0")
        listed = requests.get(f"{sb.url}/v24.0/act_1/customaudiences", params={"access_token": "t"}, timeout=5)
        assert listed.json()["error"]["code"] == 2635
        form = {"access_token": "t", "name": "n", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"}
        for _ in range(20):
            created = requests.post(f"{sb.url}/v27.0/act_1/customaudiences", data=form, timeout=5)
        assert created.status_code == 200
        refused = requests.post(f"{sb.url}/v27.0/act_1/customaudiences", data=form, timeout=5)
        assert refused.status_code == 400 and refused.json()["error"]["error_subcode"] == 2446079
        assert '"estimated_time_to_regain_access":5' in refused.headers["X-Business-Use-Case-Usage"]
