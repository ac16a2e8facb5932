"""Value-based lists and lookalikes (docs/meta-api.md §1.5 "Value-based audiences", §1.6, §1.7; docs/sandbox.md)."""

from __future__ import annotations

import dataclasses
import json

import pytest

SCHEMA = ["EMAIL", "LOOKALIKE_VALUE"]


def with_config(app, **knobs):
    app.config = dataclasses.replace(app.config, **knobs)


def valued(graph, **params):
    return graph.create(is_value_based="1", **params)


def replace(graph, aud, schema, rows, session_id=1):
    return graph.add(
        aud,
        schema,
        rows,
        edge="usersreplace",
        session={"session_id": session_id, "batch_seq": 1, "last_batch_flag": True},
    )


def test_values_are_kept_and_shown(graph, app):
    aud = valued(graph)
    a, b = graph.people(2)
    resp = graph.add(aud, SCHEMA, [[a, 44.5], [b, 140], [graph.h("c"), 0], ["bad", 1]])
    assert resp.status == 200 and resp.body["num_invalid_entries"] == 1
    assert app.members(aud) == {
        "schema": ["EMAIL", "LOOKALIKE_VALUE"],
        "rows": sorted([[a, 44.5], [b, 140], [graph.h("c"), 0]], key=lambda r: [str(v) for v in r]),
    }
    assert graph.get(f"/{aud}", fields="is_value_based").body["is_value_based"] is True


def test_a_new_value_for_the_same_row_replaces_the_old_one(graph, app):
    aud = valued(graph)
    a = graph.people(1)[0]
    graph.add(aud, SCHEMA, [[a, 10]])
    graph.add(aud, ["LOOKALIKE_VALUE", "EMAIL"], [["12.5", a]])  # digit strings are numbers too
    assert app.members(aud)["rows"] == [[a, 12.5]]
    graph.add(aud, SCHEMA, [[a, 1], [a, 2]])  # within one batch: the last one wins
    assert app.members(aud)["rows"] == [[a, 2]] and graph.size(aud) == 1


def test_an_add_without_lookalike_value_is_refused(graph, app):
    aud = valued(graph)
    for schema, data in ((["EMAIL"], [[graph.h("a")]]), ("EMAIL_SHA256", [graph.h("a")])):
        resp = graph.add(aud, schema, data)
        assert resp.code() == (100, None)
        assert (
            resp.error["message"] == "(#100) LOOKALIKE_VALUE is required in the schema of a value-based custom audience"
        )
    assert app.members(aud)["rows"] == []


@pytest.mark.parametrize("value", [-1, -0.5, "abc", "-3", "1e3", True, None, "", [1], {"v": 1}])
def test_a_bad_value_refuses_the_whole_batch(graph, app, value):
    aud = valued(graph)
    resp = graph.add(aud, SCHEMA, [[graph.h("a"), 3], [graph.h("b"), value]])
    assert resp.code() == (100, None)
    assert (
        resp.error["message"].startswith("(#100) Invalid value ")
        and "for LOOKALIKE_VALUE: it must be a" in (resp.error["message"])
    )
    assert app.members(aud)["rows"] == []


def test_lookalike_value_on_a_plain_list_is_refused(graph, app):
    plain = graph.create()
    resp = graph.add(plain, SCHEMA, [[graph.h("a"), 3]])
    assert resp.code() == (100, None)
    assert resp.error["message"] == (
        f"(#100) LOOKALIKE_VALUE is only accepted by a value-based custom audience (created with is_value_based=1); "
        f"custom audience {plain} is not value-based"
    )
    assert app.members(plain)["rows"] == []


def test_removals_need_no_value(graph, app):
    aud = valued(graph)
    a, b = graph.people(2)
    graph.add(aud, SCHEMA, [[a, 1], [b, 2]])
    assert graph.add(aud, ["EMAIL"], [[a]], method="DELETE").status == 200
    assert graph.add(aud, SCHEMA, [[b, -7]], method="DELETE").status == 200  # the column is ignored
    assert app.members(aud)["rows"] == []
    plain = graph.create()
    graph.add(plain, ["EMAIL"], [[a]])
    assert graph.add(plain, SCHEMA, [[a, 1]], method="DELETE").status == 200


def test_a_replace_cannot_switch_the_kind(graph, app):
    aud = valued(graph)
    graph.add(aud, SCHEMA, [[graph.h("a"), 1]])
    resp = replace(graph, aud, ["EMAIL"], [[graph.h("b")]])
    assert resp.code() == (2650, None)
    assert resp.error["message"] == (
        "(#2650) Failed to update the custom audience: A replace cannot turn a value-based custom audience into a "
        "non-value-based one, or the reverse: this audience is value-based and the session's schema lacks "
        "LOOKALIKE_VALUE."
    )
    plain = graph.create()
    resp = replace(graph, plain, SCHEMA, [[graph.h("b"), 1]])
    assert resp.code() == (2650, None) and "is not value-based and the session's schema has" in resp.error["message"]
    assert replace(graph, aud, SCHEMA, [[graph.h("b"), 5], [graph.h("b"), 6]], session_id=2).status == 200
    assert app.members(aud)["rows"] == [[graph.h("b"), 6]]  # values kept through the replace, newest wins


def test_is_value_based_is_fixed_at_creation(graph):
    aud = valued(graph)
    assert graph.post(f"/{aud}", is_value_based="false").code() == (100, None)
    assert graph.post(f"/{aud}", is_value_based="true", name="same kind").status == 200
    plain = graph.create()
    assert graph.post(f"/{plain}", is_value_based="1").code() == (100, None)


def _lal(graph, seed, spec):
    return graph.post(
        "/act_1/customaudiences", name="vbl", subtype="LOOKALIKE", origin_audience_id=seed, lookalike_spec=spec
    )


def test_a_value_based_lookalike_needs_a_custom_ratio_and_100_people(graph):
    seed = valued(graph, name="ltv")
    graph.add(seed, SCHEMA, [[v, i] for i, v in enumerate(graph.people(99) + graph.strangers(50))])
    assert _lal(graph, seed, {"type": "custom_ratio", "ratio": 0.01, "country": "US"}).code() == (2654, None)
    graph.add(seed, SCHEMA, [[graph.people(100)[-1], 7]])
    for kind in ("similarity", "reach"):
        resp = _lal(graph, seed, {"type": kind, "country": "US"})
        assert resp.code() == (100, None)
        assert resp.error["message"] == (
            "(#100) A lookalike of a value-based custom audience needs a lookalike_spec of type custom_ratio with a "
            f"ratio (0.01 to 0.20), not type {kind}"
        )
    made = _lal(graph, seed, {"type": "custom_ratio", "ratio": 0.01, "country": "US"})
    assert made.status == 200
    assert graph.get(f"/{made.body['id']}", fields="lookalike_spec").body["lookalike_spec"]["type"] == "custom_ratio"
    assert _lal(graph, seed, {"ratio": 0.02, "country": "US"}).status == 200  # a ratio alone is a custom_ratio


def test_the_value_based_terms(graph, app):
    account = graph.get("/act_1", fields="tos_accepted").body["tos_accepted"]
    assert account == {"custom_audience_tos": 1, "value_based_custom_audience_tos": 1}
    seed = valued(graph, name="ltv")
    graph.add(seed, SCHEMA, [[v, 1] for v in graph.people(101)])
    with_config(app, value_based_tos=False)
    assert graph.get("/act_1", fields="tos_accepted").body["tos_accepted"] == {"custom_audience_tos": 1}
    message = (
        "(#2655) Terms of service has not been accepted. To accept, go to "
        "https://www.facebook.com/customaudiences/value_based/tos.php?act=1"
    )
    created = graph.call(
        "POST",
        "/act_1/customaudiences",
        {"name": "v", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", "is_value_based": "1"},
    )
    assert created.status == 400 and created.code() == (2655, None) and created.error["message"] == message
    assert graph.add(seed, SCHEMA, [[graph.h("x"), 1]]).code() == (2655, None)
    assert replace(graph, seed, SCHEMA, [[graph.h("x"), 1]]).code() == (2655, None)
    assert _lal(graph, seed, {"ratio": 0.01, "country": "US"}).code() == (2655, None)
    assert graph.add(seed, ["EMAIL"], [[graph.people(1)[0]]], method="DELETE").status == 200  # opt-outs still work
    plain = graph.create()  # plain lists need only the Custom Audience terms
    assert graph.add(plain, ["EMAIL"], [[graph.h("x")]]).status == 200
    with_config(app, value_based_tos_code=2663)
    assert graph.add(seed, SCHEMA, [[graph.h("x"), 1]]).error["message"].startswith("(#2663) Terms of service")
    status, _, raw = app.handle("POST", "/__sandbox/config", "", {}, json.dumps({"value_based_tos": True}).encode())
    assert status == 200 and json.loads(raw)["value_based_tos"] is True
    assert graph.add(seed, SCHEMA, [[graph.h("x"), 1]]).status == 200
