"""Limits and refusals: removal below the minimum, big batches, Limited Data Use, terms, ownership, caps."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fbsync.sandbox import SandboxConfig


def with_config(app, **knobs):
    app.config = dataclasses.replace(app.config, **knobs)


def count(graph, aud):
    return graph.get(f"/{aud}", fields="approximate_count_lower_bound").body["approximate_count_lower_bound"]


def remove(graph, aud, n, prefix="p", skip=0):
    """Remove people ``skip`` … ``skip + n - 1`` of ``graph.people(…, prefix)`` (those ``graph.seed`` added)."""
    rows = [[value] for value in graph.people(skip + n, prefix)[skip:]]
    return graph.add(aud, ["EMAIL"], rows, method="DELETE")


def test_a_removal_below_the_minimum_is_refused_whole(graph, app):
    aud = graph.create()
    graph.seed(aud, 150)
    resp = remove(graph, aud, 51)  # 150 → 99
    assert resp.status == 400 and resp.code() == (200, 1870047)
    assert resp.error["message"].startswith(
        "(#200) Audience Size too Low: You cannot remove users from this audience because it will result in a low "
        "audience size"
    )
    assert count(graph, aud) == 150  # nothing removed
    assert remove(graph, aud, 50).status == 200  # 150 → 100: allowed
    assert count(graph, aud) == 100
    assert remove(graph, aud, 1, prefix="nobody").status == 200  # matches no one: still 100
    assert remove(graph, aud, 1).status == 200  # already removed: still 100
    last = remove(graph, aud, 1, skip=50)
    assert last.code() == (200, 1870047) and count(graph, aud) == 100


def test_the_minimum_is_a_knob_and_small_audiences_can_shrink(graph, app):
    aud = graph.create()
    graph.seed(aud, 10)
    assert remove(graph, aud, 3).status == 200  # under 100 already: nothing to protect (inf)
    with_config(app, min_audience_size_after_removal=5)
    assert remove(graph, aud, 5, prefix="q").status == 200  # no match
    resp = remove(graph, aud, 3, skip=3)
    assert resp.code() == (200, 1870047)  # 7 → 4 < 5
    with_config(app, min_audience_size_after_removal=None)
    again = remove(graph, aud, 7, skip=3)
    assert again.status == 200 and count(graph, aud) == 0


def test_a_refused_removal_does_not_count_in_its_session(graph, app):
    aud = graph.create()
    graph.seed(aud, 100)
    session = {"session_id": 9, "batch_seq": 1}
    rows = [graph.people(1)]
    assert graph.add(aud, ["EMAIL"], rows, session=session, method="DELETE").code() == (200, 1870047)
    with_config(app, min_audience_size_after_removal=0)
    resp = graph.add(aud, ["EMAIL"], rows, session=session, method="DELETE")
    assert resp.status == 200 and resp.body["num_received"] == 1


def test_big_batches_get_the_unknown_error(graph, app):
    aud = graph.create()
    rows = [[graph.h(f"r{i}")] for i in range(10_001)]
    resp = graph.add(aud, ["EMAIL"], rows)
    assert (resp.status, resp.code()) == (500, (1, 99))
    with_config(app, max_payload_rows_before_unknown_error=200)
    assert graph.add(aud, ["EMAIL"], rows[:200]).status == 200
    for edge, session in (("users", None), ("usersreplace", {"session_id": 3, "batch_seq": 1})):
        resp = graph.add(aud, ["EMAIL"], rows[:201], session=session, edge=edge)
        assert (resp.status, resp.code()) == (500, (1, 99)) and resp.error["is_transient"] is False
    assert graph.add(aud, ["EMAIL"], rows[:100], method="DELETE").status == 200  # halves go through


LDU_SCHEMA = ["EMAIL", "DATA_PROCESSING_OPTIONS", "DATA_PROCESSING_OPTIONS_COUNTRY", "DATA_PROCESSING_OPTIONS_STATE"]


def test_limited_data_use_columns(graph, app):
    aud = graph.create()
    rows = [[graph.h("a"), ["LDU"], 1, 1000], [graph.h("b"), [], 0, 0], [graph.h("c"), ["LDU"], 0, 0]]
    resp = graph.add(aud, LDU_SCHEMA, rows)
    assert resp.status == 200 and resp.body["num_invalid_entries"] == 0
    assert app.members(aud)["schema"] == ["EMAIL"]  # LDU flags are not members' identifiers
    resp = graph.add(aud, ["EMAIL", "DATA_PROCESSING_OPTIONS"], [[graph.h("d"), ["LDU"]]], via="json")
    assert resp.status == 200


@pytest.mark.parametrize(
    "row",
    [
        ["x", "LDU", 1, 1000],
        ["x", ["ldu"], 1, 1000],
        ["x", ["LDU", "OTHER"], 1, 1000],
        ["x", ["LDU"], 2, 1000],
        ["x", ["LDU"], 1, 1001],
        ["x", ["LDU"], True, 1000],
        ["x", ["LDU"], 1, "CA"],
    ],
)
def test_malformed_limited_data_use_values_are_refused(graph, app, row):
    aud = graph.create()
    row = [graph.h("a"), *row[1:]]
    resp = graph.add(aud, LDU_SCHEMA, [row])
    assert resp.code() == (100, None) and "DATA_PROCESSING_OPTIONS" in resp.error["message"]
    assert app.members(aud)["rows"] == []


def test_business_tools_terms(graph, app):
    aud = graph.create()
    with_config(app, business_tools_tos=False)
    refused = graph.post(
        "/act_1/customaudiences", name="a", subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY"
    )
    assert refused.status == 403 and refused.code() == (200, 1870092)
    assert refused.error["error_user_title"] == "Meta Business Tools Terms Not Accepted"
    assert graph.add(aud, ["EMAIL"], [[graph.h("a")]]).code() == (200, 1870092)
    assert graph.get(f"/{aud}", fields="name").status == 200
    with_config(app, custom_audience_tos=False)  # the Custom Audience terms come first
    assert graph.add(aud, ["EMAIL"], [[graph.h("a")]]).code() == (200, 1870034)
    with_config(app, tos_upload_subcode=1870090)  # ERR-M's other subcode for the same terms
    assert graph.add(aud, ["EMAIL"], [[graph.h("a")]]).code() == (200, 1870090)
    session = {"session_id": 1, "batch_seq": 1}
    assert graph.add(aud, ["EMAIL"], [[graph.h("a")]], session=session, edge="usersreplace").code() == (200, 1870090)
    refused = graph.post(
        "/act_1/customaudiences", name="a", subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY"
    )
    assert refused.code() == (200, 1870034)  # creating keeps 1870034


def test_audiences_of_another_business(graph, app):
    mine = graph.create()
    with_config(app, foreign_audience_ids=("23859999999999991",))
    for method, path in (("GET", ""), ("POST", ""), ("DELETE", ""), ("POST", "/users")):
        resp = graph.call(method, f"/23859999999999991{path}", {"name": "x"})
        assert resp.status == 400 and resp.code() == (100, 1487301), resp.body
    targeting = {"geo_locations": {"countries": ["FR"]}, "custom_audiences": [mine, "23859999999999991"]}
    body = json.dumps({"account_id": "act_1", "targeting": targeting}).encode()
    status, _, raw = app.handle("POST", "/__sandbox/adsets", "", {}, body)
    assert status == 400 and "another business" in json.loads(raw)["error"]
    assert graph.get(f"/{mine}").status == 200


def test_the_per_account_caps_and_the_seed_rule(graph, app):
    with_config(app, max_customer_file_audiences=2, max_lookalikes=1)
    seed = graph.create()
    graph.create()
    assert graph.post(
        "/act_1/customaudiences", name="c", subtype="CUSTOM", customer_file_source="USER_PROVIDED_ONLY"
    ).code() == (2654, None)
    graph.seed(seed, 100)
    assert graph.lookalike(seed, "l").status == 200
    assert graph.lookalike(seed, "l2", ratio=0.02).code() == (2654, None)
    assert graph.call("DELETE", f"/{seed}").code() == (2656, None)
    assert SandboxConfig().max_customer_file_audiences == 500 and SandboxConfig().max_lookalikes == 500
