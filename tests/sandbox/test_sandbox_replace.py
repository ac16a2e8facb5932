"""``/usersreplace``: the replace session and each of its 2650 subcodes (docs/meta-api.md §1.6)."""

from __future__ import annotations

import pytest

from fbsync.sandbox import SandboxConfig


def _emails(graph, names):
    return [[graph.h(f"{n}@x.io")] for n in names]


def _replace(graph, aud, rows, session_id, seq, last, schema=("EMAIL",)):
    return graph.add(
        aud,
        list(schema),
        rows,
        edge="usersreplace",
        session={"session_id": session_id, "batch_seq": seq, "last_batch_flag": last},
    )


def test_full_cycle(graph, app):
    aud = graph.create()
    graph.add(aud, ["EMAIL"], _emails(graph, ["old1", "old2", "keep"]))
    first = _replace(graph, aud, _emails(graph, ["keep", "new1"]), 900, 1, False)
    assert first.status == 200
    assert first.body == {
        "account_id": "1",
        "session_id": "900",
        "num_received": 2,
        "num_invalid_entries": 0,
        "invalid_entry_samples": {},
    }
    status = graph.get(f"/{aud}", fields="operation_status").body["operation_status"]["code"]
    assert status == 414
    assert sorted(app.members(aud)["rows"]) == sorted(_emails(graph, ["old1", "old2", "keep"]))  # not swapped yet
    blocked = graph.add(aud, ["EMAIL"], _emails(graph, ["x"]))
    assert blocked.code() == (2650, 1870145)
    second = _replace(graph, aud, _emails(graph, ["new2"]) + [["not-a-hash"]], 900, 7, False)
    assert (second.body["num_received"], second.body["num_invalid_entries"]) == (4, 1)
    last = _replace(graph, aud, _emails(graph, ["new3", "new1"]), 900, 3, True)
    assert last.status == 200 and last.body["num_received"] == 6
    assert app.members(aud)["rows"] == sorted(_emails(graph, ["keep", "new1", "new2", "new3"]))
    assert graph.get(f"/{aud}", fields="operation_status").body["operation_status"]["code"] == 200
    assert graph.add(aud, ["EMAIL"], _emails(graph, ["after"])).status == 200


def test_session_required(graph):
    aud = graph.create()
    resp = graph.add(aud, ["EMAIL"], _emails(graph, ["a"]), edge="usersreplace")
    assert resp.code() == (100, None) and "session" in resp.error["message"]


def test_in_progress_1870145(graph):
    aud = graph.create()
    assert _replace(graph, aud, _emails(graph, ["a"]), 1, 1, False).status == 200
    assert _replace(graph, aud, _emails(graph, ["b"]), 2, 1, False).code() == (2650, 1870145)
    assert _replace(graph, aud, _emails(graph, ["b"]), 1, 1, False).code() == (2650, 1870145)


def test_first_batch_not_one_1870147(graph):
    aud = graph.create()
    assert _replace(graph, aud, _emails(graph, ["a"]), 1, 2, False).code() == (2650, 1870147)


def test_already_finished_1870159(graph):
    aud = graph.create()
    assert _replace(graph, aud, _emails(graph, ["a"]), 1, 1, True).status == 200
    assert _replace(graph, aud, _emails(graph, ["b"]), 1, 2, False).code() == (2650, 1870159)
    assert _replace(graph, aud, _emails(graph, ["b"]), 1, 1, False).code() == (2650, 1870159)


def test_timed_out_1870158_keeps_what_arrived(graph, app, clock):
    aud = graph.create()
    graph.add(aud, ["EMAIL"], _emails(graph, ["old"]))
    assert _replace(graph, aud, _emails(graph, ["a"]), 1, 1, False).status == 200
    clock.advance(90 * 60 + 1)
    assert _replace(graph, aud, _emails(graph, ["late"]), 1, 2, True).code() == (2650, 1870158)
    assert app.members(aud)["rows"] == _emails(graph, ["a"])
    assert graph.get(f"/{aud}", fields="operation_status").body["operation_status"]["code"] == 200
    assert _replace(graph, aud, _emails(graph, ["b"]), 2, 1, True).status == 200  # a new replace may start


def test_too_big_1870144(app, graph):
    app.config = SandboxConfig(replace_max_members=3)  # people, not rows (matching: 3 people Meta knows)
    aud = graph.create()
    graph.add(aud, ["EMAIL"], [[v] for v in graph.strangers(8)])
    assert graph.size(aud) == 0
    assert _replace(graph, aud, _emails(graph, ["d"]), 5, 1, True).status == 200  # 8 rows but no one matched
    graph.seed(aud, 3)
    assert _replace(graph, aud, _emails(graph, ["d"]), 1, 1, True).code() == (2650, 1870144)


def test_duplicate_seq_and_schema_change(graph):
    aud = graph.create()
    assert _replace(graph, aud, _emails(graph, ["a"]), 1, 1, False).status == 200
    assert _replace(graph, aud, _emails(graph, ["b"]), 1, 2, False).status == 200
    assert _replace(graph, aud, _emails(graph, ["c"]), 1, 2, False).code() == (2650, None)
    changed = _replace(graph, aud, [[graph.h("c"), graph.h("fn")]], 1, 3, False, schema=("EMAIL", "FN"))
    assert changed.code() == (2650, None)


def test_replace_respects_kind_lock(graph):
    aud = graph.create()
    graph.add(aud, "EMAIL_SHA256", [graph.h("a")])
    assert _replace(graph, aud, _emails(graph, ["b"]), 1, 1, True).code() == (2650, None)


@pytest.mark.parametrize("subtype_call", ["lookalike"])
def test_replace_on_lookalike_refused(graph, subtype_call):
    seed = graph.create()
    graph.seed(seed, 100)
    lal = graph.post(
        "/act_1/customaudiences",
        name="l",
        subtype="LOOKALIKE",
        origin_audience_id=seed,
        lookalike_spec='{"ratio":0.01,"country":"FR"}',
    ).body["id"]
    assert _replace(graph, lal, _emails(graph, ["a"]), 1, 1, True).code() == (2650, None)
    assert graph.add(lal, ["EMAIL"], _emails(graph, ["a"])).code() == (2650, None)
