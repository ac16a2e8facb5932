"""What an audience reads after uploads: operation_status over time, and the sessions edge (docs/meta-api.md §8)."""

from __future__ import annotations

import dataclasses
import json

DAY = 86_400
GEO = {"geo_locations": {"countries": ["FR"]}}


def op(graph, aud):
    return graph.get(f"/{aud}", fields="operation_status").body["operation_status"]["code"]


def test_upload_response_carries_invalid_entries(graph):
    aud = graph.create()
    resp = graph.add(aud, ["EMAIL", "PHONE"], [[graph.h("a"), graph.h("1")], ["not-a-hash", graph.h("2")]])
    assert resp.body["num_invalid_entries"] == 1
    assert resp.body["invalid_entry_samples"] == {"not-a-hash": "EMAIL"}


def test_populating_after_an_upload(graph, app, clock):
    app.config = dataclasses.replace(app.config, populate_seconds=30)
    aud = graph.create()
    assert op(graph, aud) == 410
    graph.add(aud, ["EMAIL"], [[graph.h("a")]])
    body = graph.get(f"/{aud}", fields="operation_status").body["operation_status"]
    assert body["code"] == 441 and body["description"].startswith("Populating")
    clock.advance(30)
    assert op(graph, aud) == 200


def test_replace_running_reads_414(graph):
    aud = graph.create()
    graph.add(aud, ["EMAIL"], [[graph.h("a")]])
    graph.add(aud, ["EMAIL"], [[graph.h("b")]], session={"session_id": 5, "batch_seq": 1}, edge="usersreplace")
    assert op(graph, aud) == 414


def test_a_lookalike_unused_for_90_days_is_out_of_date(graph, app, clock):
    seed = graph.create()
    graph.seed(seed, 100)
    lal = graph.lookalike(seed).body["id"]
    clock.advance(89 * DAY)
    assert op(graph, lal) == 200
    clock.advance(DAY)
    body = graph.get(f"/{lal}", fields="operation_status,approximate_count_lower_bound").body
    assert body["operation_status"]["code"] == 450 and body["approximate_count_lower_bound"] == -1
    status, _, raw = app.handle(
        "POST",
        "/__sandbox/adsets",
        "",
        {},
        json.dumps(
            {"account_id": "act_1", "status": "ACTIVE", "targeting": {**GEO, "custom_audiences": [lal]}}
        ).encode(),
    )
    assert status == 200
    assert op(graph, lal) == 200  # used in an active ad set: fresh again
    adset = json.loads(raw)["id"]
    graph.post(f"/{adset}", status="PAUSED")
    clock.advance(90 * DAY)
    assert op(graph, lal) == 450  # 90 days after it was last in an active ad set


def test_a_customer_list_unused_for_two_years_is_expiring(graph, clock):
    aud = graph.create()
    graph.add(aud, ["EMAIL"], [[graph.h("a")]])
    created = graph.get(f"/{aud}", fields="time_created").body["time_created"]
    clock.advance(729 * DAY)
    assert op(graph, aud) == 200
    clock.advance(DAY)
    body = graph.get(f"/{aud}", fields="operation_status,delete_time").body
    assert body["operation_status"]["code"] == 100
    assert body["delete_time"] == created + (730 + 90) * DAY
    other = graph.create()
    assert "delete_time" not in graph.get(f"/{other}", fields="delete_time,name").body  # only when expiring


def test_sessions_edge(graph, clock):
    aud = graph.create()
    first = {"session_id": 11, "batch_seq": 1, "estimated_num_total": 4}
    graph.add(aud, ["EMAIL"], [graph.people(1), ["bad"], graph.strangers(1)], session=first)
    clock.advance(5)
    data = graph.get(f"/{aud}/sessions").body["data"]
    assert data == [
        {
            "session_id": "11",
            "num_received": "3",
            "num_invalid_entries": "1",
            "num_matched": "1",  # the valid row Meta does not know matched no one
            "progress": "75",
            "stage": "processing",
            "start_time": str(int(clock.t) - 5),
        }
    ]
    graph.add(aud, ["EMAIL"], [[graph.h("b")]], session={"session_id": 11, "batch_seq": 2, "last_batch_flag": True})
    graph.add(aud, ["EMAIL"], [[graph.h("c")]], session={"session_id": 12, "batch_seq": 1}, edge="usersreplace")
    data = graph.get(f"/{aud}/sessions", fields="session_id,stage,progress,end_time").body["data"]
    assert data == [
        {"session_id": "12", "stage": "processing", "progress": "0"},
        {"session_id": "11", "stage": "finished", "progress": "100", "end_time": str(int(clock.t))},
    ]
    clock.advance(91 * 60)  # both sessions are past their 90 minutes
    assert [s["stage"] for s in graph.get(f"/{aud}/sessions").body["data"]] == ["finished", "finished"]
    assert graph.get(f"/{aud}/sessions", fields="nope").code() == (100, None)
    assert graph.get(f"/{graph.create()}/sessions").body == {"data": []}
