"""Campaigns with special ad categories, and Advantage+ audience on ad sets (docs/meta-api.md §8)."""

from __future__ import annotations

import json

import pytest

GEO = {"geo_locations": {"countries": ["FR"]}}


def admin(app, method, path, body=None):
    status, _, raw = app.handle(method, f"/__sandbox/{path}", "", {}, json.dumps(body or {}).encode())
    return status, json.loads(raw)


def campaign(app, categories, account="act_1"):
    status, out = admin(app, "POST", "campaigns", {"account_id": account, "special_ad_categories": categories})
    assert status == 200, out
    return out["id"]


def adset(app, campaign_id=None, targeting=None):
    body = {"account_id": "act_1", "targeting": targeting or GEO}
    if campaign_id:
        body["campaign_id"] = campaign_id
    status, out = admin(app, "POST", "adsets", body)
    assert status == 200, out
    return out["id"]


@pytest.fixture
def audiences(graph):
    seed = graph.create(name="seed")
    graph.seed(seed, 100)
    lal = graph.lookalike(seed).body["id"]
    return seed, lal, graph.create(name="other")


def test_campaign_nodes_read_like_graph(app, graph):
    cid = campaign(app, ["HOUSING"])
    body = graph.get(f"/{cid}", fields="special_ad_categories,name,objective").body
    assert body == {
        "id": cid,
        "special_ad_categories": ["HOUSING"],
        "name": f"Sandbox campaign {cid}",
        "objective": "OUTCOME_SALES",
    }
    assert graph.get(f"/{cid}").body == {"id": cid}
    assert graph.get(f"/{cid}", fields="approximate_count_lower_bound").code() == (100, None)
    assert admin(app, "GET", f"campaigns/{cid}")[1]["special_ad_categories"] == ["HOUSING"]
    assert admin(app, "GET", "campaigns")[1]["data"][0]["id"] == cid
    assert admin(app, "POST", "campaigns", {"account_id": "act_1", "special_ad_categories": ["CREDIT"]})[0] == 400
    assert admin(app, "POST", "campaigns", {"account_id": "act_1", "id": cid})[0] == 400  # id taken
    assert admin(app, "GET", "campaigns/1")[0] == 404


def test_ad_sets_read_their_campaign(app, graph):
    cid = campaign(app, ["EMPLOYMENT"])
    aid = adset(app, cid)
    body = graph.get(f"/{aid}", fields="campaign{special_ad_categories},campaign_id").body
    assert body == {"id": aid, "campaign_id": cid, "campaign": {"id": cid, "special_ad_categories": ["EMPLOYMENT"]}}
    assert "campaign" not in graph.get(f"/{adset(app)}", fields="campaign").body  # created without one
    assert admin(app, "POST", "adsets", {"account_id": "act_1", "campaign_id": "123"})[0] == 400
    other = campaign(app, [], account="act_2")
    assert admin(app, "POST", "adsets", {"account_id": "act_1", "campaign_id": other})[0] == 400


@pytest.mark.parametrize("category", ["HOUSING", "EMPLOYMENT", "FINANCIAL_PRODUCTS_SERVICES"])
def test_special_categories_refuse_lookalikes_and_exclusions(app, graph, audiences, category):
    seed, lal, other = audiences
    aid = adset(app, campaign(app, [category]))
    for targeting in ({**GEO, "custom_audiences": [seed, lal]}, {**GEO, "excluded_custom_audiences": [other]}):
        resp = graph.post(f"/{aid}", targeting=targeting)
        assert resp.status == 400 and resp.code() == (100, 2909035)
        assert category in resp.error["message"]
    assert graph.post(f"/{aid}", targeting={**GEO, "custom_audiences": [seed, other]}).body == {"success": True}
    code, out = admin(
        app,
        "POST",
        "adsets",
        {
            "account_id": "act_1",
            "campaign_id": campaign(app, [category]),
            "targeting": {**GEO, "custom_audiences": [lal]},
        },
    )
    assert code == 400 and "lookalike" in out["error"]


def test_campaigns_without_special_categories_allow_everything(app, graph, audiences):
    seed, lal, other = audiences
    for categories in ([], ["NONE"]):
        aid = adset(app, campaign(app, categories))
        targeting = {**GEO, "custom_audiences": [seed, lal], "excluded_custom_audiences": [other]}
        assert graph.post(f"/{aid}", targeting=targeting).body == {"success": True}


def test_advantage_audience_defaults_and_reads_back(app, graph):
    aid = adset(app, campaign(app, []))
    read = graph.get(f"/{aid}", fields="targeting").body["targeting"]
    assert read["targeting_automation"] == {"advantage_audience": 1}  # new ad sets: on (v23+)
    explicit = adset(app, campaign(app, []), {**GEO, "targeting_automation": {"advantage_audience": 0}})
    assert graph.get(f"/{explicit}", fields="targeting").body["targeting"]["targeting_automation"] == {
        "advantage_audience": 0
    }
    assert graph.post(f"/{aid}", targeting={**GEO, "targeting_automation": {"advantage_audience": 0}}).status == 200
    assert graph.get(f"/{aid}", fields="targeting").body["targeting"]["targeting_automation"]["advantage_audience"] == 0
    for bad in ({"advantage_audience": 2}, {"advantage_audience": True}, "on"):
        assert graph.post(f"/{aid}", targeting={**GEO, "targeting_automation": bad}).code() == (100, None)


def test_foreign_audiences_in_targeting(app, graph):
    import dataclasses

    app.config = dataclasses.replace(app.config, foreign_audience_ids=("777",))
    aid = adset(app)
    assert graph.post(f"/{aid}", targeting={**GEO, "custom_audiences": ["777"]}).code() == (100, 1487301)
