"""Lookalikes: spec validation, seed size, populating status, seed deletion (docs/meta-api.md §1.7)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def seed(graph):
    aud = graph.create(name="buyers")
    graph.seed(aud, 100)
    return aud


def _lal(graph, seed, spec, **extra):
    params = {
        "name": "lal",
        "subtype": "LOOKALIKE",
        "origin_audience_id": seed,
        "lookalike_spec": spec if isinstance(spec, str) else json.dumps(spec),
        **extra,
    }
    return graph.call("POST", "/act_1/customaudiences", params)


@pytest.mark.parametrize(
    "spec",
    [
        {"ratio": 0.01, "country": "FR"},
        {"ratio": 0.2, "country": "us"},
        {"ratio": 0.03, "starting_ratio": 0.01, "country": "FR"},
        {"type": "custom_ratio", "ratio": 0.05, "country": "FR"},
        {"type": "similarity", "country": "FR"},
        {"type": "reach", "location_spec": {"geo_locations": {"countries": ["FR", "BE"]}}},
        {"ratio": 0.1, "location_spec": {"geo_locations": {"country_groups": ["europe"]}}},
    ],
)
def test_valid_specs(graph, seed, spec):
    resp = _lal(graph, seed, spec)
    assert resp.status == 200, resp.body
    assert resp.body["id"].isdigit()


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"ratio": 0.0, "country": "FR"}, "ratio"),
        ({"ratio": 0.21, "country": "FR"}, "ratio"),
        ({"ratio": 0.015, "country": "FR"}, "steps"),
        ({"ratio": "big", "country": "FR"}, "ratio"),
        ({"ratio": 0.03, "starting_ratio": 0.03, "country": "FR"}, "starting_ratio"),
        ({"ratio": 0.03, "starting_ratio": 0.05, "country": "FR"}, "starting_ratio"),
        ({"ratio": 0.03, "starting_ratio": 0.005, "country": "FR"}, "starting_ratio"),
        ({"ratio": 0.03}, "country"),
        ({"ratio": 0.03, "country": "FRA"}, "country"),
        ({"ratio": 0.03, "location_spec": {"geo_locations": {"countries": []}}}, "countries"),
        ({"country": "FR"}, "ratio"),
        ({"type": "similarity", "ratio": 0.02, "country": "FR"}, "either"),
        ("not json", "lookalike_spec"),
        ([0.01], "lookalike_spec"),
    ],
)
def test_invalid_specs(graph, seed, spec, fragment):
    resp = _lal(graph, seed, spec)
    assert resp.code() == (100, None), resp.body
    assert fragment in resp.error["message"]


def test_seed_requirements(graph, seed):
    small = graph.create()
    graph.seed(small, 99)
    resp = _lal(graph, small, {"ratio": 0.01, "country": "FR"})
    assert resp.code() == (2654, None) and "Too Small" in resp.error["message"]
    assert _lal(graph, "23859999999999999", {"ratio": 0.01, "country": "FR"}).code() == (100, None)
    other_account = graph.create(account="act_2")
    graph.seed(other_account, 100)
    assert _lal(graph, other_account, {"ratio": 0.01, "country": "FR"}).code() == (100, None)
    resp = graph.call(
        "POST",
        "/act_1/customaudiences",
        {"name": "l", "subtype": "LOOKALIKE", "lookalike_spec": '{"ratio":0.01,"country":"FR"}'},
    )
    assert resp.code() == (100, None) and "origin_audience_id" in resp.error["message"]


def test_duplicate_lookalike_refused(graph, seed):
    assert _lal(graph, seed, {"ratio": 0.02, "country": "FR"}).status == 200
    assert _lal(graph, seed, {"ratio": 0.02, "country": "FR"}).code() == (2654, None)
    assert _lal(graph, seed, {"ratio": 0.02, "starting_ratio": 0.01, "country": "FR"}).status == 200


def test_lookalike_of_lookalike_refused(graph, seed):
    lal = _lal(graph, seed, {"ratio": 0.01, "country": "FR"}).body["id"]
    assert _lal(graph, lal, {"ratio": 0.01, "country": "FR"}).code() == (2654, None)


def test_populating_then_ready(graph, seed, clock):
    lal = _lal(graph, seed, {"ratio": 0.03, "starting_ratio": 0.01, "country": "FR"}).body["id"]
    fields = "delivery_status,operation_status,approximate_count_lower_bound,lookalike_spec,subtype"
    body = graph.get(f"/{lal}", fields=fields).body
    assert body["subtype"] == "LOOKALIKE"
    assert body["operation_status"]["code"] == 441 and body["delivery_status"]["code"] != 200
    assert body["approximate_count_lower_bound"] == -1
    assert body["lookalike_spec"]["origin"] == [{"id": seed, "name": "buyers", "type": "custom_audience"}]
    assert body["lookalike_spec"]["ratio"] == 0.03 and body["lookalike_spec"]["starting_ratio"] == 0.01
    clock.advance(5)
    body = graph.get(f"/{lal}", fields=fields).body
    assert body["operation_status"]["code"] == 200 and body["delivery_status"]["code"] == 200
    assert body["approximate_count_lower_bound"] == 200_000
    assert graph.get(f"/{seed}", fields="lookalike_audience_ids").body["lookalike_audience_ids"] == [lal]


def test_seed_delete_refused_until_lookalikes_gone(graph, seed):
    lal = _lal(graph, seed, {"ratio": 0.01, "country": "FR"}).body["id"]
    resp = graph.call("DELETE", f"/{seed}")
    assert resp.code() == (2656, None)
    assert graph.call("DELETE", f"/{lal}").status == 200
    assert "lookalike_audience_ids" not in graph.get(f"/{seed}", fields="lookalike_audience_ids").body
    assert graph.call("DELETE", f"/{seed}").status == 200


def test_update_lookalike_name_only(graph, seed):
    lal = _lal(graph, seed, {"ratio": 0.01, "country": "FR"}).body["id"]
    assert graph.post(f"/{lal}", name="renamed", retention_days=5).status == 200
    body = graph.get(f"/{lal}", fields="name,retention_days").body
    assert body == {"id": lal, "name": "renamed", "retention_days": 0}
