"""Ad sets: admin create, Graph read and targeting update (audiences wired into targeting, docs/meta-api.md §1.8)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import requests

from fbsync.sandbox import Faults, SandboxApp, SandboxStore, running_sandbox

GEO = {"geo_locations": {"countries": ["FR"]}}


def admin(app: SandboxApp, method: str, path: str, body: dict | None = None):
    status, _, raw = app.handle(method, f"/__sandbox/{path}", "", {}, json.dumps(body).encode() if body else b"")
    return status, json.loads(raw)


def make_adset(app: SandboxApp, **body) -> str:
    status, out = admin(app, "POST", "adsets", {"account_id": "act_1", "name": "set", **body})
    assert status == 200, out
    return out["id"]


def test_admin_create_and_read_fields(app, graph):
    aud = graph.create(name="buyers")
    adset = make_adset(app, targeting={**GEO, "custom_audiences": [aud]})
    assert adset.isdigit() and adset != aud
    status, raw = admin(app, "GET", f"adsets/{adset}")
    assert status == 200
    assert raw["account_id"] == "1" and raw["status"] == "PAUSED"
    assert raw["targeting"] == {**GEO, "custom_audiences": [{"id": aud}]}
    resp = graph.get(f"/{adset}", fields="id,name,targeting,account_id,status")
    assert resp.status == 200
    assert resp.body == {
        "id": adset,
        "name": "set",
        "account_id": "1",
        "status": "PAUSED",
        "targeting": {**GEO, "custom_audiences": [{"id": aud, "name": "buyers"}]},
    }
    assert graph.get(f"/{adset}").body == {"id": adset}
    assert graph.get(f"/{adset}", fields="name").body == {"name": "set", "id": adset}
    assert graph.get(f"/{adset}", fields="approximate_count_lower_bound").code() == (100, None)
    assert admin(app, "GET", "adsets/999")[0] == 404
    assert admin(app, "GET", "adsets")[1]["data"][0]["id"] == adset


def test_admin_create_refusals(app, graph):
    aud = graph.create()
    assert admin(app, "POST", "adsets", {"account_id": "nope"})[0] == 400
    assert admin(app, "POST", "adsets", {"account_id": "act_1", "id": "abc"})[0] == 400
    assert admin(app, "POST", "adsets", {"account_id": "act_1", "id": aud})[0] == 400  # an audience's id
    status, out = admin(app, "POST", "adsets", {"account_id": "act_1", "targeting": {"age_min": 18}})
    assert status == 400 and "geo_locations" in out["error"]
    status, out = admin(app, "POST", "adsets", {"account_id": "act_2", "targeting": {**GEO, "custom_audiences": [aud]}})
    assert status == 400 and "act_2" in out["error"]
    chosen = make_adset(app, id="6000000000001")
    assert chosen == "6000000000001"
    assert admin(app, "POST", "adsets", {"account_id": "act_1", "id": chosen})[0] == 400
    assert admin(app, "GET", f"adsets/{chosen}")[1]["targeting"] == GEO  # default targeting


def test_ids_never_collide_with_audiences(app, graph):
    first = graph.create()
    taken = str(int(first) + 1)
    assert make_adset(app, id=taken) == taken
    second = graph.create()
    assert second not in (first, taken)
    assert graph.get(f"/{taken}", fields="targeting").status == 200
    assert graph.get(f"/{second}", fields="subtype").body["subtype"] == "CUSTOM"
    # an ad set id is not an audience and the other way round
    assert graph.get(f"/{taken}", fields="subtype").code() == (100, None)
    upload = {"payload": {"schema": "EMAIL_SHA256", "data": []}}
    assert graph.call("POST", f"/{taken}/users", upload).code() == (100, None)
    assert graph.get(f"/{second}", fields="targeting").code() == (100, None)
    assert admin(app, "GET", f"audiences/{taken}/members")[0] == 404


@pytest.mark.parametrize("via", ["form", "json", "query"])
def test_update_replaces_targeting_exactly(app, graph, via):
    inc, exc, other = graph.create(name="inc"), graph.create(name="exc"), graph.create(name="other")
    adset = make_adset(app, targeting={**GEO, "age_min": 30, "custom_audiences": [other]})
    targeting = {
        "geo_locations": {"countries": ["DE", "FR"]},
        "custom_audiences": [inc, {"id": int(other)}],
        "excluded_custom_audiences": [{"id": exc, "name": "ignored"}],
    }
    resp = graph.call("POST", f"/{adset}", {"targeting": targeting}, via=via)
    assert resp.status == 200 and resp.body == {"success": True}
    read = graph.get(f"/{adset}", fields="targeting").body["targeting"]
    assert read == {
        "geo_locations": {"countries": ["DE", "FR"]},
        "custom_audiences": [{"id": inc, "name": "inc"}, {"id": other, "name": "other"}],
        "excluded_custom_audiences": [{"id": exc, "name": "exc"}],
    }  # age_min is gone: replaced
    assert graph.call("POST", f"/{adset}", {"targeting": json.dumps(GEO)}, via=via).status == 200
    assert graph.get(f"/{adset}", fields="targeting").body["targeting"] == GEO


def test_update_name_status_and_no_op(app, graph):
    adset = make_adset(app)
    assert graph.post(f"/{adset}", name="renamed", status="ACTIVE").body == {"success": True}
    assert graph.get(f"/{adset}", fields="name,status,targeting").body == {
        "id": adset,
        "name": "renamed",
        "status": "ACTIVE",
        "targeting": GEO,
    }
    assert graph.post(f"/{adset}", status="RUNNING").code() == (100, None)
    assert graph.post(f"/{adset}").body == {"success": True}


@pytest.mark.parametrize(
    "targeting, words",
    [
        ({"custom_audiences": []}, "geo_locations"),
        ({"geo_locations": {}}, "geo_locations"),
        ({**GEO, "custom_audiences": "123"}, "custom_audiences"),
        ({**GEO, "custom_audiences": [{"name": "x"}]}, "custom_audiences][0]"),
        ({**GEO, "excluded_custom_audiences": ["abc"]}, "excluded_custom_audiences][0]"),
        ({**GEO, "custom_audiences": [True]}, "custom_audiences][0]"),
        ({**GEO, "custom_audiences": ["23859999999999999"]}, "does not exist"),
        ("not json", "JSON object"),
        ([1, 2], "JSON object"),
    ],
)
def test_validation_errors(app, graph, targeting, words):
    adset = make_adset(app)
    resp = graph.post(f"/{adset}", targeting=targeting if isinstance(targeting, str) else json.dumps(targeting))
    assert resp.status == 400 and resp.code() == (100, None)
    assert words in resp.error["message"] and resp.error["type"] == "OAuthException"
    assert graph.get(f"/{adset}", fields="targeting").body["targeting"] == GEO  # unchanged


def test_included_and_excluded_refused(app, graph):
    aud = graph.create()
    adset = make_adset(app)
    resp = graph.post(
        f"/{adset}", targeting={**GEO, "custom_audiences": [aud], "excluded_custom_audiences": [{"id": aud}]}
    )
    assert resp.code() == (100, None) and "both included" in resp.error["message"] and aud in resp.error["message"]


def test_500_cap(app, graph):
    app.config = dataclasses.replace(app.config, max_customer_file_audiences=1000)
    ids = [graph.create(name=f"a{i}") for i in range(501)]
    adset = make_adset(app)
    assert graph.post(f"/{adset}", targeting={**GEO, "excluded_custom_audiences": ids[:500]}).status == 200
    resp = graph.post(f"/{adset}", targeting={**GEO, "excluded_custom_audiences": ids})
    assert resp.code() == (100, None) and "at most 500" in resp.error["message"]
    resp = graph.post(f"/{adset}", targeting={**GEO, "custom_audiences": ids[:500] + ids[:1]})  # duplicates count once
    assert resp.status == 200
    assert len(graph.get(f"/{adset}", fields="targeting").body["targeting"]["custom_audiences"]) == 500


def test_cross_account_refused(app, graph):
    mine, theirs = graph.create(), graph.create(account="act_2")
    adset = make_adset(app, targeting={**GEO, "custom_audiences": [mine]})
    resp = graph.post(f"/{adset}", targeting={**GEO, "excluded_custom_audiences": [theirs]})
    assert resp.code() == (100, None)
    assert resp.error["message"] == (
        f"(#100) Invalid parameter: custom audience {theirs} in "
        f"targeting[excluded_custom_audiences] does not exist or does not belong to "
        f"ad account act_1"
    )
    assert graph.get(f"/{adset}", fields="targeting").body["targeting"]["custom_audiences"] == [
        {"id": mine, "name": "aud"}
    ]


def test_unknown_id_and_methods(app, graph):
    resp = graph.get("/23859999999999999", fields="targeting")
    assert resp.code() == (100, 33)
    assert graph.post("/23859999999999999", targeting=GEO).code() == (100, 33)
    adset = make_adset(app)
    resp = graph.call("DELETE", f"/{adset}")
    assert resp.code() == (100, 33) and resp.error["message"].startswith("Unsupported delete request.")
    assert graph.get(f"/{adset}/ads").error["message"] == (
        "(#100) Tried accessing nonexisting field (ads) on node type (AdSet)"
    )


def test_request_labels_and_usage_type(app, graph):
    adset = make_adset(app)
    graph.get(f"/{adset}", fields="name")
    resp = graph.post(f"/{adset}", targeting=GEO)
    # an ads_management call, not a custom_audience one
    assert "X-Ad-Account-Usage" in resp.headers and "X-Business-Use-Case-Usage" not in resp.headers
    app.faults = Faults(calls_per_minute=100)
    resp = graph.get(f"/{adset}")
    assert json.loads(resp.headers["X-Business-Use-Case-Usage"])["1"][0]["type"] == "ads_management"
    app.faults = None
    graph.get("/23859999999999999")
    counts = app.request_count()["by_endpoint"]
    assert counts["GET /{adset_id}"] == 2 and counts["POST /{adset_id}"] == 1
    assert counts["GET /{audience_id}"] == 1  # an unknown id is counted as before


def test_permissions_apply(app, graph):
    adset = make_adset(app)
    status, _ = admin(app, "POST", "config", {"missing_permissions": ["ads_management"]})
    assert status == 200
    resp = graph.post(f"/{adset}", targeting=GEO)
    assert resp.status == 403 and resp.code() == (200, None)
    assert graph.get(f"/{adset}", fields="name").status == 200


def test_deleting_a_targeted_audience_is_allowed(app, graph):
    keep, gone = graph.create(name="keep"), graph.create(name="gone")
    adset = make_adset(app, targeting={**GEO, "excluded_custom_audiences": [keep, gone]})
    assert graph.call("DELETE", f"/{gone}").body == {"success": True}
    read = graph.get(f"/{adset}", fields="targeting").body["targeting"]
    assert read["excluded_custom_audiences"] == [{"id": keep, "name": "keep"}, {"id": gone}]
    resp = graph.post(f"/{adset}", targeting={**GEO, "excluded_custom_audiences": [keep, gone]})
    assert resp.code() == (100, None)  # a deleted audience cannot be put back into targeting


def test_persisted_and_reset(tmp_path, clock):
    path = str(tmp_path / "sb.db")
    store = SandboxStore(path)
    app = SandboxApp(store, clock=clock)
    adset = make_adset(app, targeting={**GEO, "age_max": 40})
    store.close()
    store = SandboxStore(path)
    app = SandboxApp(store, clock=clock)
    assert admin(app, "GET", f"adsets/{adset}")[1]["targeting"] == {**GEO, "age_max": 40}
    assert admin(app, "POST", "reset")[0] == 200
    assert admin(app, "GET", f"adsets/{adset}")[0] == 404
    store.close()


def test_official_sdk_reads_and_updates_adset():
    from facebook_business.adobjects.adaccount import AdAccount
    from facebook_business.adobjects.adset import AdSet
    from facebook_business.api import FacebookAdsApi
    from facebook_business.exceptions import FacebookRequestError

    with running_sandbox(access_token="tok", app_secret="s3cret") as sb:
        api = FacebookAdsApi.init(access_token="tok", app_secret="s3cret", crash_log=False)
        api._session.GRAPH = sb.url
        account = AdAccount("act_5")
        params = {"subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY"}
        inc = account.create_custom_audience(params={"name": "inc", **params})["id"]
        exc = account.create_custom_audience(params={"name": "exc", **params})["id"]
        made = requests.post(f"{sb.url}/__sandbox/adsets", json={"account_id": "act_5", "name": "sdk set"})
        adset_id = made.json()["id"]
        AdSet(adset_id).api_update(
            params={
                AdSet.Field.targeting: {
                    "geo_locations": {"countries": ["FR"]},
                    "custom_audiences": [{"id": inc}],
                    "excluded_custom_audiences": [exc],
                }
            }
        )
        read = AdSet(adset_id).api_get(
            fields=[AdSet.Field.name, AdSet.Field.targeting, AdSet.Field.account_id, AdSet.Field.status]
        )
        assert read["name"] == "sdk set" and read["account_id"] == "5" and read["status"] == "PAUSED"
        targeting = read["targeting"]
        assert targeting["custom_audiences"] == [{"id": inc, "name": "inc"}]
        assert targeting["excluded_custom_audiences"] == [{"id": exc, "name": "exc"}]
        assert targeting["geo_locations"]["countries"] == ["FR"]
        with pytest.raises(FacebookRequestError) as info:
            AdSet(adset_id).api_update(params={"targeting": {"custom_audiences": [inc]}})
        assert info.value.api_error_code() == 100 and "geo_locations" in info.value.api_error_message()
        with pytest.raises(FacebookRequestError) as info:
            AdSet("23859999999999999").api_get(fields=["targeting"])
        assert (info.value.api_error_code(), info.value.api_error_subcode()) == (100, 33)
        counts = requests.get(f"{sb.url}/__sandbox/requests").json()["by_endpoint"]
        assert counts["POST /{adset_id}"] == 2 and counts["GET /{adset_id}"] == 1


def test_huge_ids_are_unknown_not_internal_errors(app, graph):
    huge = "9" * 25
    assert graph.get(f"/{huge}").code() == (100, 33)
    adset = make_adset(app)
    resp = graph.post(f"/{adset}", targeting={**GEO, "custom_audiences": [huge]})
    assert resp.code() == (100, None) and "does not exist" in resp.error["message"]
    assert admin(app, "POST", "adsets", {"account_id": "act_1", "id": huge})[0] == 400
