"""Several identifiers per customer (pure): the fan-out of a chunk, and what links rows on Meta."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fbsync.config import parse_config
from fbsync.customers import CUSTOMER, Fan, Links, customer_tags, drop_customers, expand, values_of


def test_values_of_arrays_delimited_text_and_blanks() -> None:
    assert values_of(["a@x.fr", " b@y.fr ", None, ""], None) == ["a@x.fr", "b@y.fr"]
    assert values_of("a@x.fr; b@y.fr;;", ";") == ["a@x.fr", "b@y.fr"]
    assert values_of("a@x.fr; b@y.fr", None) == ["a@x.fr; b@y.fr"]  # no split: one value
    assert values_of(None, ";") == [] and values_of(float("nan"), None) == []
    assert values_of(33612345678, None) == [33612345678]


def test_expand_repeats_the_other_keys_on_each_row() -> None:
    cols = {
        "email": ["a@x.fr", "b@y.fr", None],
        "email_pro": ["a@pro.fr", None, None],
        "phones": ["0612345678|0698765432", "", None],
        "fn": ["Anne", "Bruno", "Chloé"],
    }
    out, origin, over = expand(cols, [Fan("EMAIL", ("email", "email_pro")), Fan("PHONE", ("phones",), "|")], 3)
    assert origin == [0, 0, 1, 2]
    assert out["EMAIL*"] == ["a@x.fr", "a@pro.fr", "b@y.fr", None]
    assert out["PHONE*"] == ["0612345678", "0698765432", None, None]
    assert out["fn"] == ["Anne", "Anne", "Bruno", "Chloé"]
    assert not over


def test_expand_keeps_at_most_ten_values_and_counts_the_rest() -> None:
    cols = {"emails": [";".join(f"p{i}@x.fr" for i in range(13))]}
    out, origin, over = expand(cols, [Fan("EMAIL", ("emails",), ";")], 1)
    assert len(origin) == 10 and over == {"EMAIL": 3} and out["EMAIL*"][-1] == "p9@x.fr"


def test_expand_removes_repeated_values_of_one_customer() -> None:
    out, origin, _ = expand({"a": ["x@x.fr"], "b": ["x@x.fr"]}, [Fan("EMAIL", ("a", "b"))], 1)
    assert origin == [0] and out["EMAIL*"] == ["x@x.fr"]


@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "d", ""]), max_size=4), min_size=1, max_size=30))
def test_expand_gives_each_customer_max_one_and_its_values(cells: list[list[str]]) -> None:
    cols = {"e": cells, "fn": [f"n{i}" for i in range(len(cells))]}
    out, origin, _ = expand(cols, [Fan("EMAIL", ("e",))], len(cells))
    for i, cell in enumerate(cells):
        distinct = list(dict.fromkeys(v for v in cell if v))
        mine = [out["EMAIL*"][j] for j, o in enumerate(origin) if o == i]
        assert len(mine) == max(1, len(distinct))
        assert [v for v in mine if v is not None] == distinct
        assert all(out["fn"][j] == f"n{i}" for j, o in enumerate(origin) if o == i)


def test_drop_customers_takes_every_row_of_a_customer() -> None:
    rows = [("a",), ("b",), ("c",), ("d",)]
    kept, owners, n = drop_customers(rows, [0, 0, 1, 2], {0, 2})
    assert kept == [("c",)] and owners == [1] and n == 2


def test_links_identifying_values_and_a_fanned_customers_tag() -> None:
    schema = ("EMAIL", "PHONE", "FN", "LN")
    plain = Links.of(schema)
    assert plain.keys_of(("e1", "p1", "f", "l")) == {(0, "e1"), (1, "p1")}
    assert plain.keys_of(("", "", "f", "l")) == set()  # names alone link nobody
    fanned = Links.of((*schema, CUSTOMER))
    assert fanned.customer == (4,)
    removed = fanned.keys_of(("e2", "", "f", "l", "t1"))
    assert fanned.linked(("e1", "", "f", "l", "t1"), removed)  # the same customer's other e-mail
    assert not fanned.linked(("e3", "", "f", "l", "t2"), removed)  # a namesake


def test_customer_tags_tie_a_customers_rows_and_change_with_its_identifiers() -> None:
    rows = [("a", "p"), ("b", "p"), ("c", "")]
    tags = customer_tags(rows, [0, 0, 1], lambda s: s.upper())
    assert tags == ["A\x1fB\x1fP", "A\x1fB\x1fP", "C"]
    assert customer_tags([("a", "p")], [0], lambda s: s.upper()) != tags[:1]  # one e-mail fewer: another tag


@pytest.mark.parametrize(
    "keys, problem",
    [
        ("{EMAIL: [email, email_pro]}", None),
        ("{EMAIL: {column: emails, split: ';'}}", None),
        ("{EMAIL: email, FN: [first, other]}", "FN takes one column; only the identifying keys"),
        ("{EMAIL: [email, email]}", "EMAIL needs 1 to 10 different columns"),
        ("{EMAIL: {column: emails}}", "split"),
    ],
)
def test_keys_take_several_columns_only_for_identifying_keys(keys: str, problem: str | None) -> None:
    text = f"version: 1\naudiences:\n  - {{name: a, query: 'SELECT 1', keys: {keys}}}\n"
    if problem is None:
        parse_config(text, env={})
        return
    with pytest.raises(Exception, match=problem):
        parse_config(text, env={})


def test_several_columns_cannot_be_hashed_in_the_database() -> None:
    text = (
        "version: 1\ndefaults: {hash_in_database: true}\naudiences:\n"
        "  - {name: a, query: 'SELECT 1', keys: {EMAIL: [e1, e2]}}\n"
    )
    with pytest.raises(Exception, match="cannot be hashed in the database"):
        parse_config(text, env={})


def test_linked_rows_follow_a_chain_of_shared_identifiers_through_the_ledger(tmp_path: Path) -> None:
    from fbsync.apply import linked_rows
    from fbsync.state.crypto import RowCipher
    from fbsync.state.store import StateStore

    schema = ("EMAIL", "PHONE", "FN")
    cipher, store = RowCipher(b"k" * 32), StateStore.open(tmp_path)
    rows = {
        "a": ("e1", "p1", "x"),  # removed
        "b": ("e2", "p1", "x"),  # shares p1 with a
        "c": ("e2", "p3", "y"),  # shares e2 with b: a chain of two
        "d": ("e4", "p4", "x"),  # shares only a first name: names never link
        "e": ("", "", "x"),  # no identifier at all
        "f": ("e6", "p3", ""),  # shares p3 with c: the third link
    }
    pairs = {k: (cipher.fingerprint(schema, r), cipher.encrypt(r)) for k, r in rows.items()}
    store.record_added("aud", list(pairs.values()))
    links = Links.of(schema)
    found = linked_rows(store, cipher, "aud", links, [[pairs["a"]]])
    assert sorted(found) == sorted(pairs[k][0] for k in "bcf")
    assert linked_rows(store, cipher, "aud", links, [[pairs["d"]]]) == []  # d shares nothing identifying
    assert linked_rows(store, cipher, "aud", links, [[pairs["e"]]]) == []  # nothing to follow
    assert linked_rows(store, cipher, "aud", links, []) == []
    store.close()
