"""Integrity flags (docs/meta-api.md §8): flagged by the sandbox's word list, then refused like Meta refuses."""

from __future__ import annotations

import dataclasses
import json

import pytest

GEO = {"geo_locations": {"countries": ["FR"]}}
FIELDS = "operation_status,fields_violating_integrity_policy"


def admin(app, method, path, body=None):
    status, _, raw = app.handle(method, f"/__sandbox/{path}", "", {}, json.dumps(body or {}).encode())
    return status, json.loads(raw)


def status_of(graph, aud):
    body = graph.get(f"/{aud}", fields=FIELDS).body
    return body["operation_status"]["code"], body.get("fields_violating_integrity_policy")


@pytest.mark.parametrize(
    "params, fields",
    [
        ({"name": "Clients diabète 2026"}, ["name"]),
        ({"name": "DIABETES club"}, ["name"]),
        ({"name": "Acheteurs", "description": "score de Crédit faible"}, ["description"]),
        ({"name": "High Income buyers", "description": "debt collectors"}, ["name", "description"]),
        ({"name": "revenus eleves"}, ["name"]),  # accents do not matter
    ],
)
def test_a_flagged_word_flags_the_audience_at_create(graph, params, fields):
    aud = graph.create(**params)
    body = graph.get(f"/{aud}", fields=FIELDS).body
    assert body["operation_status"]["code"] == 471
    assert "flagged for integrity reasons" in body["operation_status"]["description"]
    assert body["fields_violating_integrity_policy"] == fields


@pytest.mark.parametrize("name", ["Clients VIP", "vedettes du salon", "creditors", "Cancerologie"])
def test_clean_names_are_not_flagged(graph, name):
    aud = graph.create(name=name)
    assert status_of(graph, aud) == (410, None)


def test_a_flagged_audience_refuses_uploads_and_edits(graph, app):
    aud = graph.create(name="cancer survivors")
    rows = [[graph.h("a")]]
    for resp in (
        graph.add(aud, ["EMAIL"], rows),
        graph.add(aud, ["EMAIL"], rows, method="DELETE"),
        graph.add(aud, ["EMAIL"], rows, session={"session_id": 1, "batch_seq": 1}, edge="usersreplace"),
    ):
        assert resp.status == 400 and resp.code() == (100, 1713230), resp.body
        assert resp.error["message"].startswith("(#100) Audience Flagged for Integrity Reasons")
    for change in ({"name": "survivors"}, {"description": "x"}, {"retention_days": 30}):
        assert graph.post(f"/{aud}", **change).code() == (100, 1713228)
    assert graph.get(f"/{aud}", fields="name").body["name"] == "cancer survivors"  # nothing changed
    assert graph.call("DELETE", f"/{aud}").body == {"success": True}  # deleting it is the way out


def test_an_update_flags_and_then_refuses_further_edits(graph):
    aud = graph.create(name="buyers")
    assert graph.post(f"/{aud}", description="people in debt").body == {"success": True}
    assert status_of(graph, aud) == (471, ["description"])
    assert graph.post(f"/{aud}", description="people").code() == (100, 1713228)


def test_lookalikes_of_flagged_seeds_and_flagged_lookalikes(graph, app):
    seed = graph.create(name="seed")
    graph.seed(seed, 100)
    spec = {"ratio": 0.01, "country": "FR"}
    lal = graph.post(
        "/act_1/customaudiences", name="lal", subtype="LOOKALIKE", origin_audience_id=seed, lookalike_spec=spec
    )
    assert lal.status == 200
    app.flag_audience(lal.body["id"], ["name"])
    assert graph.post(f"/{lal.body['id']}", name="other").code() == (100, 1713228)
    app.flag_audience(seed)
    assert status_of(graph, seed) == (471, ["name"])
    refused = graph.post(
        "/act_1/customaudiences", name="lal2", subtype="LOOKALIKE", origin_audience_id=seed, lookalike_spec=spec
    )
    assert refused.code() == (100, 1713232)
    app.unflag_audience(seed)
    assert status_of(graph, seed) == (200, None)
    assert graph.add(seed, ["EMAIL"], [[graph.h("x")]]).status == 200


def test_admin_endpoint_flags_and_unflags(app, graph):
    aud = graph.create(name="buyers")
    assert admin(app, "POST", f"audiences/{aud}/integrity", {"fields": ["description"]}) == (
        200,
        {"id": aud, "fields_violating_integrity_policy": ["description"]},
    )
    assert status_of(graph, aud) == (471, ["description"])
    assert admin(app, "DELETE", f"audiences/{aud}/integrity")[0] == 200
    assert status_of(graph, aud) == (410, None)
    assert admin(app, "POST", f"audiences/{aud}/integrity", {"fields": ["nope"]})[0] == 400
    assert admin(app, "POST", "audiences/999/integrity")[0] == 404


def test_the_word_list_is_a_knob(app, graph):
    status, knobs = admin(app, "POST", "config", {"integrity_words": ["salon"]})
    assert status == 200 and knobs["integrity_words"] == ["salon"]
    assert status_of(graph, graph.create(name="Salon 2026")) == (471, ["name"])
    assert status_of(graph, graph.create(name="diabetes")) == (410, None)


def _adset(app, targeting, status="ACTIVE"):
    code, out = admin(app, "POST", "adsets", {"account_id": "act_1", "targeting": targeting, "status": status})
    assert code == 200, out
    return out["id"]


def test_ad_sets_refuse_flagged_audiences_by_default(app, graph):
    clean, flagged = graph.create(name="vip"), graph.create(name="vip")
    adset = _adset(app, {**GEO, "custom_audiences": [clean, flagged]})
    assert graph.get(f"/{adset}", fields="effective_status").body["effective_status"] == "ACTIVE"
    app.flag_audience(flagged)
    assert graph.get(f"/{adset}", fields="effective_status").body["effective_status"] == "WITH_ISSUES"
    for key in ("custom_audiences", "excluded_custom_audiences"):
        resp = graph.post(f"/{adset}", targeting={**GEO, key: [flagged]})
        assert resp.code() == (100, None)
        assert flagged in resp.error["message"] and "flagged for integrity reasons" in resp.error["message"]
    assert graph.post(f"/{adset}", targeting={**GEO, "custom_audiences": [clean]}).status == 200
    assert graph.get(f"/{adset}", fields="effective_status").body["effective_status"] == "ACTIVE"
    code, out = admin(
        app, "POST", "adsets", {"account_id": "act_1", "targeting": {**GEO, "custom_audiences": [flagged]}}
    )
    assert code == 400 and "flagged" in out["error"]


def test_ad_sets_can_accept_flagged_audiences(app, graph):
    app.config = dataclasses.replace(app.config, flagged_audience_in_adset="accept")
    flagged = graph.create(name="arthritis")
    adset = _adset(app, GEO)
    assert graph.post(f"/{adset}", targeting={**GEO, "custom_audiences": [flagged]}).body == {"success": True}
    assert graph.get(f"/{adset}", fields="effective_status").body["effective_status"] == "WITH_ISSUES"
