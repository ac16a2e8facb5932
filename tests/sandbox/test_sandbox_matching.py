"""Meta's matching: rows resolve to people; audiences count people; removals remove people (docs/sandbox.md)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

from fbsync.sandbox import SandboxApp, SandboxConfig, SandboxStore
from fbsync.sandbox.__main__ import build_parser, config_from_args
from fbsync.sandbox.config import config_from_options, everyone_matches, match_shares
from fbsync.sandbox.matching import Matcher


def with_config(app, **knobs):
    app.config = dataclasses.replace(app.config, **knobs)


def rows_of(app, aud):
    return app.members(aud)["rows"]


def test_known_values_follow_the_shares_independently_and_deterministically(graph):
    matcher = Matcher(SandboxConfig())
    values = [graph.h(f"v{i}") for i in range(20_000)]
    email = [matcher.known("EMAIL", v) for v in values]
    phone = [matcher.known("PHONE", v) for v in values]
    madid = [matcher.known("MADID", v) for v in values]
    assert abs(sum(email) / len(values) - 0.5) < 0.02
    assert abs(sum(phone) / len(values) - 0.3) < 0.02
    assert abs(sum(madid) / len(values) - 0.3) < 0.02
    both = sum(e and p for e, p in zip(email, phone)) / len(values)
    assert abs(both - 0.5 * 0.3) < 0.02  # independent per key
    assert email == [Matcher(SandboxConfig()).known("EMAIL", v) for v in values]  # stable across runs
    other = Matcher(SandboxConfig(match_seed="another population"))
    assert email != [other.known("EMAIL", v) for v in values]
    assert not any(Matcher(SandboxConfig(match_email=0)).known("EMAIL", v) for v in values[:500])
    assert all(Matcher(SandboxConfig(match_email=1)).known("EMAIL", v) for v in values[:500])
    assert all(matcher.known("UID", v) for v in values[:500])  # ids Meta issued
    assert not any(matcher.known("EXTERN_ID", v) for v in values[:500])  # only through the account's mapping


def test_an_audience_counts_matched_people_not_rows(graph, app):
    aud = graph.create()
    known, strangers = graph.people(3), graph.strangers(4)
    rows = [[known[0], graph.h("ann")], [known[0], graph.h("anne")], [known[1], ""], [known[2], ""]]
    rows += [[s, ""] for s in strangers]
    resp = graph.add(aud, ["EMAIL", "FN"], rows)
    assert (resp.body["num_received"], resp.body["num_invalid_entries"]) == (8, 0)  # unmatched rows are valid
    assert len(rows_of(app, aud)) == 8  # every uploaded row is kept (admin view unchanged)
    assert graph.size(aud) == 3  # one person behind the first two rows; strangers count for nothing
    body = graph.get(f"/{aud}", fields="approximate_count_lower_bound,approximate_count_upper_bound").body
    assert body["approximate_count_upper_bound"] == 3
    listing = app.handle("GET", "/__sandbox/audiences", "", {}, b"")[2]
    assert [(a["member_count"], a["persons"]) for a in json.loads(listing)["data"]] == [(8, 3)]


def test_names_never_match_alone_but_fn_ln_and_a_place_may(graph, app):
    with_config(app, match_name=1.0)
    aud = graph.create()
    stranger = graph.strangers(1)[0]
    fn, ln, zip_, ct, doby = (graph.h(t) for t in ("jo", "doe", "75008", "paris", "1980"))
    schema = ["EMAIL", "FN", "LN", "ZIP", "CT", "DOBY", "GEN", "COUNTRY"]
    graph.add(aud, schema, [["", fn, ln, "", "", "", graph.h("f"), graph.h("fr")]])  # FN+LN only
    graph.add(aud, schema, [["", fn, "", zip_, ct, doby, "", ""]])  # no LN
    assert graph.size(aud) == 0
    graph.add(aud, schema, [[stranger, fn, ln, zip_, "", "", "", ""]])  # the e-mail fails, the name matches
    assert graph.size(aud) == 1
    graph.add(aud, schema, [["", fn, ln, "", ct, "", "", ""]])  # another combination: another person (inf)
    graph.add(aud, schema, [["", fn, ln, "", "", doby, "", ""]])
    assert graph.size(aud) == 3
    with_config(app, match_name=0.0)
    other = graph.create()
    graph.add(other, schema, [[stranger, fn, graph.h("roe"), zip_, ct, doby, "", ""]])
    assert graph.size(other) == 0


def test_a_row_that_brings_two_identifiers_together_merges_their_people_everywhere(graph, app):
    email, phone = graph.people(1, "e")[0], graph.people(1, "t", key="PHONE")[0]
    a, b = graph.create(name="a"), graph.create(name="b")
    for aud in (a, b):
        graph.add(aud, ["EMAIL", "PHONE"], [[email, ""], ["", phone]])
        assert graph.size(aud) == 2
    graph.add(a, ["EMAIL", "PHONE"], [[email, phone]])  # the same person: the graph is global
    assert graph.size(a) == 1 and graph.size(b) == 1
    assert len(rows_of(app, a)) == 3 and len(rows_of(app, b)) == 2


def test_a_removal_removes_the_person_with_every_row_that_resolved_to_it(graph, app):
    email, phone = graph.people(1, "e")[0], graph.people(1, "t", key="PHONE")[0]
    other, stranger = graph.people(1, "o")[0], graph.strangers(1)[0]
    aud = graph.create()
    rows = [[email, "", graph.h("a")], [email, phone, graph.h("b")], ["", phone, ""], [other, "", ""]]
    graph.add(aud, ["EMAIL", "PHONE", "FN"], rows + [[stranger, "", ""]])
    assert graph.size(aud) == 2
    resp = graph.add(aud, ["PHONE"], [[phone]], method="DELETE")
    assert resp.status == 200
    assert rows_of(app, aud) == sorted([[other, "", ""], [stranger, "", ""]])  # the rows of that person are gone
    assert graph.size(aud) == 1
    graph.add(aud, ["EMAIL"], [[stranger]], method="DELETE")  # an unmatched row: removed as an identical row
    assert rows_of(app, aud) == [[other, "", ""]]


def test_removing_an_unmatched_row_needs_all_its_values(graph, app):
    aud = graph.create()
    stranger, phone = graph.strangers(1)[0], graph.strangers(1, "t", key="PHONE")[0]
    graph.add(aud, ["EMAIL", "PHONE"], [[stranger, phone]])
    graph.add(aud, ["EMAIL", "PHONE"], [[stranger, graph.h("0600000000")]], method="DELETE")
    assert len(rows_of(app, aud)) == 1
    graph.add(aud, ["PHONE"], [[phone]], method="DELETE")  # a subset of its values is enough
    assert rows_of(app, aud) == []


def test_names_only_removals_are_found_without_the_index(graph, app):
    aud = graph.create()
    fn, ln = graph.h("jo"), graph.h("doe")
    stranger = graph.strangers(1, "y")[0]
    graph.add(aud, ["EMAIL", "FN", "LN"], [["", fn, ln], ["", fn, ""], [stranger, fn, ln]])
    graph.add(aud, ["FN", "LN"], [[fn, ln]], method="DELETE")
    # Names never match alone: the removal reaches the name-only row, not a row carrying an e-mail.
    assert sorted(rows_of(app, aud)) == sorted([["", fn, ""], [stranger, fn, ln]])


def test_unknown_values_are_linked_only_when_asked(graph, app):
    email, phone = graph.people(1)[0], graph.strangers(1, "t", key="PHONE")[0]
    aud = graph.create()
    graph.add(aud, ["EMAIL", "PHONE", "FN"], [[email, phone, graph.h("a")], [email, "", graph.h("b")]])
    later = graph.create()
    graph.add(later, ["PHONE"], [[phone]])
    assert graph.size(later) == 0  # Meta kept no trace of an unknown phone
    graph.add(aud, ["PHONE"], [[phone]], method="DELETE")  # removes the row carrying it, not the person
    assert rows_of(app, aud) == [[email, "", graph.h("b")]] and graph.size(aud) == 1
    with_config(app, match_link_unknown=True)
    other_phone = graph.strangers(1, "u", key="PHONE")[0]
    graph.add(aud, ["EMAIL", "PHONE"], [[email, other_phone]])
    graph.add(later, ["PHONE"], [[other_phone]])
    assert graph.size(later) == 1
    graph.add(aud, ["PHONE"], [[other_phone]], method="DELETE")  # now it names the person: all its rows go
    assert rows_of(app, aud) == []


def test_adding_never_removes(graph, app):
    aud = graph.create()
    graph.seed(aud, 5)
    graph.add(aud, ["EMAIL", "PHONE"], [[graph.people(1)[0], graph.h("new phone")]])
    assert graph.size(aud) == 5 and len(rows_of(app, aud)) == 6


def test_extern_id_resolves_through_the_accounts_mapping_only(graph, app):
    email = graph.people(1)[0]
    first = graph.create()
    graph.add(first, ["EXTERN_ID", "EMAIL"], [["crm-1", email]])
    again = graph.create()
    graph.add(again, ["EXTERN_ID"], [["crm-1"], ["crm-2"]])  # crm-1 was matched with a known e-mail before
    assert graph.size(again) == 1
    elsewhere = graph.create(account="act_2")
    graph.add(elsewhere, ["EXTERN_ID"], [["crm-1"]])  # an EXTERN_ID is valid in one ad account only
    assert graph.size(elsewhere) == 0
    graph.add(first, ["EXTERN_ID"], [["crm-1"]], method="DELETE")
    assert rows_of(app, first) == [] and graph.size(again) == 1  # removals stay in their audience


def test_match_stats_per_key(graph, app):
    aud = graph.create()
    known, strangers = graph.people(2), graph.strangers(2)
    rows = [[known[0], graph.h("a")], [known[1], ""], [strangers[0], graph.h("b")], [strangers[1], ""]]
    graph.add(aud, ["EMAIL", "FN"], rows)
    assert app.match_stats(aud) == {
        "rows": 4,
        "matched_rows": 2,
        "persons": 2,
        "keys": {"EMAIL": {"rows": 4, "matched": 2}, "FN": {"rows": 2, "matched": 1}},
    }
    status, _, raw = app.handle("GET", f"/__sandbox/audiences/{aud}/match", "", {}, b"")
    assert status == 200 and json.loads(raw)["persons"] == 2
    assert app.handle("GET", "/__sandbox/audiences/1/match", "", {}, b"")[0] == 404


def test_sessions_report_matched_rows(graph):
    aud = graph.create()
    rows = [[v] for v in graph.people(3) + graph.strangers(2)] + [["bad"]]
    graph.add(aud, ["EMAIL"], rows, session={"session_id": 4, "batch_seq": 1, "last_batch_flag": True})
    replace = {"session_id": 5, "batch_seq": 1}
    graph.add(aud, ["EMAIL"], [[v] for v in graph.people(2, "r")], edge="usersreplace", session=replace)
    data = graph.get(f"/{aud}/sessions", fields="session_id,num_received,num_invalid_entries,num_matched").body["data"]
    assert data == [
        {"session_id": "5", "num_received": "2", "num_invalid_entries": "0", "num_matched": "2"},  # matched on arrival
        {"session_id": "4", "num_received": "6", "num_invalid_entries": "1", "num_matched": "3"},
    ]
    more = [[v] for v in graph.strangers(1, "r")]
    graph.add(aud, ["EMAIL"], more, edge="usersreplace", session={**replace, "batch_seq": 2, "last_batch_flag": True})
    data = graph.get(f"/{aud}/sessions", fields="session_id,num_received,num_matched").body["data"]
    assert data[0] == {"session_id": "5", "num_received": "3", "num_matched": "2"}


def test_replace_counts_the_people_it_swaps_in(graph, app):
    aud = graph.create()
    graph.seed(aud, 4)
    rows = [[v] for v in graph.people(2, "n") + graph.strangers(3)]
    resp = graph.add(
        aud, ["EMAIL"], rows, edge="usersreplace", session={"session_id": 1, "batch_seq": 1, "last_batch_flag": True}
    )
    assert resp.status == 200
    assert len(rows_of(app, aud)) == 5 and graph.size(aud) == 2


def test_a_seed_needs_100_matched_people(graph):
    seed = graph.create(name="buyers")
    graph.add(seed, ["EMAIL"], [[v] for v in graph.people(99) + graph.strangers(60)])
    assert graph.lookalike(seed).code() == (2654, None)
    graph.seed(seed, 100)
    assert graph.lookalike(seed).status == 200


def test_delivery_follows_people(graph):
    aud = graph.create()
    graph.add(aud, ["EMAIL"], [[v] for v in graph.strangers(150)])
    assert graph.get(f"/{aud}", fields="delivery_status").body["delivery_status"]["code"] == 300


def test_users_of_any_audience_removes_the_person_from_every_customer_list(graph, app):
    email, stranger = graph.people(1)[0], graph.strangers(1)[0]
    lists = [graph.create(name=f"l{i}") for i in range(2)]
    foreign = graph.create(name="other account", account="act_2")
    for aud in [*lists, foreign]:
        graph.add(aud, ["EMAIL", "FN"], [[email, graph.h(aud)], [stranger, ""]])
    resp = graph.call("DELETE", "/act_1/usersofanyaudience", {"payload": {"schema": ["EMAIL"], "data": [[email]]}})
    assert resp.status == 200
    assert resp.body["account_id"] == "1" and resp.body["session_id"].isdigit()
    assert (resp.body["num_received"], resp.body["num_invalid_entries"], resp.body["invalid_entry_samples"]) == (
        1,
        0,
        {},
    )
    for aud in lists:
        assert rows_of(app, aud) == [[stranger, ""]]
    assert len(rows_of(app, foreign)) == 2  # another ad account
    assert app.request_count()["by_endpoint"]["DELETE /usersofanyaudience"] == 1
    assert graph.call(
        "POST", "/act_1/usersofanyaudience", {"payload": {"schema": ["EMAIL"], "data": [[email]]}}
    ).code() == (100, 33)
    with_config(app, custom_audience_tos=False)
    refused = graph.call("DELETE", "/act_1/usersofanyaudience", {"payload": {"schema": ["EMAIL"], "data": [[email]]}})
    assert refused.code() == (200, 1870034)


def test_the_persons_count_stays_exact_through_merges_and_removals(graph, app):
    emails = graph.people(30, "e")
    phones = graph.people(30, "t", key="PHONE")
    a, b = graph.create(name="a"), graph.create(name="b")
    graph.add(a, ["EMAIL"], [[e] for e in emails])
    graph.add(b, ["PHONE"], [[p] for p in phones])
    graph.add(b, ["EMAIL"], [[e] for e in emails[:10]])
    graph.add(a, ["EMAIL", "PHONE"], [[e, p] for e, p in zip(emails[::2], phones[::2])])  # 15 merges
    graph.add(b, ["EMAIL", "PHONE"], [[emails[1], phones[3]], [emails[3], phones[1]]])  # chains
    graph.add(a, ["PHONE"], [[p] for p in phones[5:20]], method="DELETE")
    for aud in (a, b):
        stored = app.store.get_audience(int(aud)).persons
        assert stored == app.store.memberships.recount(int(aud)) == graph.size(aud)
    assert graph.size(b) == 30 + 10 - 5 - 2  # 5 of b's e-mails met their phones; the two chain rows merge 2 more
    assert graph.size(a) == 30 - 7  # the phones 6, 8, …, 18 name people of a


def test_config_knobs_and_options():
    assert match_shares(["email=0.6", "Extern-ID=0.1"]) == {"match_email": 0.6, "match_extern_id": 0.1}
    everyone = match_shares(["all=1"])
    assert set(everyone) == {"match_email", "match_phone", "match_madid", "match_extern_id", "match_user_id"}
    for bad in (["email"], ["email=2"], ["nose=0.1"], ["email=x"]):
        with pytest.raises(ValueError):
            match_shares(bad)
    config = everyone_matches(SandboxConfig(match_name=0.2))
    assert (config.match_email, config.match_phone, config.match_name) == (1.0, 1.0, 0.2)
    with pytest.raises(ValueError):
        config_from_options(match_email=1.5)
    with pytest.raises(ValueError):
        config_from_options(value_based_tos_code=200)
    assert config_from_options(match_seed="s", value_based_tos=False).value_based_tos is False


def test_command_line_options():
    args = build_parser().parse_args(
        ["--match-share", "all=1", "--match-share", "name=0.2", "--match-seed", "s", "--no-value-based-tos"]
    )
    config = config_from_args(args)
    assert (config.match_email, config.match_user_id, config.match_name) == (1.0, 1.0, 0.2)
    assert (config.match_seed, config.value_based_tos) == ("s", False)
    assert config_from_args(build_parser().parse_args([])) == SandboxConfig()


def test_admin_config_sets_the_shares(graph, app):
    status, _, raw = app.handle("POST", "/__sandbox/config", "", {}, json.dumps({"match_email": 1}).encode())
    assert status == 200 and json.loads(raw)["match_email"] == 1
    aud = graph.create()
    graph.add(aud, ["EMAIL"], [[graph.h(f"q{i}")] for i in range(5)])
    assert graph.size(aud) == 5
    assert app.handle("POST", "/__sandbox/config", "", {}, b'{"match_phone": -1}')[0] == 400


def test_a_data_file_from_before_matching_is_matched_on_start(tmp_path, graph):
    path = str(tmp_path / "old.db")
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE audiences (
          id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, subtype TEXT NOT NULL,
          data TEXT NOT NULL, kind TEXT, schema TEXT NOT NULL DEFAULT '[]',
          member_count INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
          time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, time_content_updated INTEGER NOT NULL);
        CREATE TABLE members (
          id INTEGER PRIMARY KEY, audience_id INTEGER NOT NULL, row_hash INTEGER NOT NULL, row_key TEXT NOT NULL);
        CREATE UNIQUE INDEX members_key ON members (audience_id, row_hash);
        """
    )
    known, stranger = graph.people(2), graph.strangers(1)[0]
    db.execute(
        "INSERT INTO audiences VALUES"
        " (23850000000000001, '1', 'CUSTOM', ?, 'MULTI_HASHES', '[\"EMAIL\"]', 3, 0, 1, 1, 1)",
        (json.dumps({"name": "old", "customer_file_source": "USER_PROVIDED_ONLY"}),),
    )
    for i, email in enumerate([*known, stranger]):
        db.execute("INSERT INTO members VALUES (?, 23850000000000001, ?, ?)", (i + 1, i, json.dumps({"EMAIL": email})))
    db.commit()
    db.close()
    store = SandboxStore(path)
    app = SandboxApp(store)
    audience = store.get_audience(23850000000000001)
    assert (audience.member_count, audience.persons) == (3, 2)
    assert len(app.members(audience.id)["rows"]) == 3
    store.close()
