"""PostgreSQL segments read through COPY give exactly what the server-side cursor gives (NULL is None, an
empty string stays empty, quotes, separators and newlines survive), only for text columns, and stay
read-only; anything else reads through the cursor."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from fbsync.errors import ConfigError
from fbsync.sources import pgcopy
from fbsync.sources.crm import CrmSource

TABLE = "fbsync_test_pgcopy"
ROWS = [
    ("a@x.fr", "06 12 34 56 78", "Zoé", "Saint-Étienne", 12.5, ["a@x.fr", "b@x.fr"]),
    (None, "", 'Jean "Jo"', "Paris, 75001", None, None),
    ("c@x.fr", None, "Line\nbreak", "", 0, []),
    ("", "+33 6 00", "\\back\\slash", "tab\there", 3, ["c@x.fr"]),
]


@pytest.fixture
def crm(pg_url: str) -> Iterator[CrmSource]:
    eng = sa.create_engine(pg_url)
    with eng.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        c.exec_driver_sql(
            f"CREATE TABLE {TABLE} (id serial, email text, phone varchar(40), first_name text, "
            'city varchar, "Value" numeric, emails text[])'
        )
        for r in ROWS:
            c.execute(
                sa.text(
                    f'INSERT INTO {TABLE} (email, phone, first_name, city, "Value", emails) '
                    "VALUES (:e, :p, :f, :c, :v, :a)"
                ),
                {"e": r[0], "p": r[1], "f": r[2], "c": r[3], "v": r[4], "a": r[5]},
            )
    src = CrmSource(pg_url)
    try:
        yield src
    finally:
        src.dispose()
        with eng.begin() as c:
            c.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        eng.dispose()


def both(src: CrmSource, query: str, columns: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, bool]:
    used: list[bool] = []
    original = pgcopy.chunks

    def spy(*args: Any, **kw: Any) -> Any:
        used.append(True)
        return original(*args, **kw)

    monkeypatch.setattr(pgcopy, "chunks", spy)
    src.copy = True
    fast = [c.columns for c in src.stream(query, columns, "test", chunk=3)]
    src.copy = False
    slow = [c.columns for c in src.stream(query, columns, "test", chunk=3)]
    src.copy = True
    assert fast == slow
    return fast, bool(used)


def test_text_columns_read_through_copy_exactly_as_the_cursor(crm: CrmSource, monkeypatch: pytest.MonkeyPatch) -> None:
    q = f"SELECT email, phone, first_name, city FROM {TABLE} ORDER BY id"
    got, used = both(crm, q, ["EMAIL", "phone", "first_name", "city"], monkeypatch)
    assert used
    cols = {k: [v for part in got for v in part[k]] for k in got[0]}
    assert cols["EMAIL"] == ["a@x.fr", None, "c@x.fr", ""]  # NULL is None, "" stays ""
    assert cols["first_name"] == ["Zoé", 'Jean "Jo"', "Line\nbreak", "\\back\\slash"]
    assert cols["city"] == ["Saint-Étienne", "Paris, 75001", "", "tab\there"]


def test_booleans_integers_and_numerics_come_back_typed(crm: CrmSource, monkeypatch: pytest.MonkeyPatch) -> None:
    q = f'SELECT email, "Value", id, email IS NOT NULL AS consent FROM {TABLE} ORDER BY id'
    got, used = both(crm, q, ["email", "Value", "id", "consent"], monkeypatch)
    assert used
    cols = {k: [v for part in got for v in part[k]] for k in got[0]}
    assert cols["Value"] == [Decimal("12.5"), None, Decimal("0"), Decimal("3")]
    assert cols["consent"] == [True, False, True, True] and all(isinstance(i, int) for i in cols["id"])


@pytest.mark.parametrize("extra", ["emails", "now()::date AS day", "1.5::float8 AS f"])
def test_other_types_read_through_the_cursor(crm: CrmSource, monkeypatch: pytest.MonkeyPatch, extra: str) -> None:
    name = extra.split(" AS ")[-1]
    got, used = both(crm, f"SELECT email, {extra} FROM {TABLE} ORDER BY id", ["email", name], monkeypatch)
    assert not used  # an array, a date, a float: COPY's text is not what the cursor gives
    first = next(v for part in got for v in part[name])
    assert not isinstance(first, str)


def test_copy_stays_read_only_and_errors_are_one_sentence(crm: CrmSource) -> None:
    with pytest.raises(ConfigError, match="read-only"):
        list(crm.stream(f"INSERT INTO {TABLE} (email) VALUES ('x') RETURNING email", ["email"], "vip"))
    with pytest.raises(ConfigError, match="vip: the database said"):
        list(crm.stream(f"SELECT email, 1/0 AS boom FROM {TABLE}", ["email"], "vip"))
    with crm.engine.connect() as c:
        assert c.exec_driver_sql(f"SELECT count(*) FROM {TABLE}").scalar() == len(ROWS)


def test_arrays_hold_the_same_text_and_hash_to_the_same_members(crm: CrmSource) -> None:
    from fbsync.identity import hash_batch
    from fbsync.sources import columnar

    q = f'SELECT email, phone, first_name, city, "Value" FROM {TABLE} ORDER BY id'
    wanted = ["email", "phone", "first_name", "city", "Value"]
    arrays = [c.columns for c in crm.stream(q, wanted, "test", chunk=3, arrays=True)]
    lists = [c.columns for c in crm.stream(q, wanted, "test", chunk=3)]
    assert [{k: v if isinstance(v, list) else v.to_pylist() for k, v in part.items()} for part in arrays] == lists
    assert not isinstance(arrays[0]["email"], list) and isinstance(arrays[0]["Value"], list)  # numeric: Decimals
    for a, b in zip(arrays, lists, strict=True):
        keys = {"EMAIL": "email", "PHONE": "phone", "FN": "first_name", "CT": "city"}
        fast = columnar.hash_members({k: a[c] for k, c in keys.items()}, "FR")
        slow = hash_batch({k: b[c] for k, c in keys.items()}, "FR")
        assert (fast.rows, fast.kept_index, fast.dropped_rows, fast.empty, fast.invalid, fast.examples) == (
            slow.rows, slow.kept_index, slow.dropped_rows, slow.empty, slow.invalid, slow.examples
        )  # fmt: skip
    crm.copy = False  # the cursor's lists whatever ``arrays`` says
    assert [c.columns for c in crm.stream(q, wanted, "test", chunk=3, arrays=True)] == lists


def test_large_reads_cross_many_blocks_exactly(crm: CrmSource, monkeypatch: pytest.MonkeyPatch) -> None:
    """libpq's messages are drained and joined in blocks: tiny blocks, many rows, the same text as the cursor
    (a one-column row whose value is NULL is an empty CSV line, kept as a row)."""
    monkeypatch.setattr(pgcopy, "BLOCK", 4096)
    q = (
        "SELECT CASE WHEN g % 7 = 0 THEN NULL WHEN g % 11 = 0 THEN '' ELSE 'x' || g || E'\\n\"q\",' END AS email "
        "FROM generate_series(1, 30000) g ORDER BY g"
    )
    crm.copy = True
    fast = [v for part in crm.stream(q, ["email"], "test", chunk=1000) for v in part.columns["email"]]
    crm.copy = False
    slow = [v for part in crm.stream(q, ["email"], "test", chunk=1000) for v in part.columns["email"]]
    assert fast == slow and len(fast) == 30000 and None in fast and "" in fast


def test_an_error_in_the_middle_of_a_copy_is_one_sentence_and_the_source_goes_on(crm: CrmSource) -> None:
    q = "SELECT 'a' || g AS email FROM generate_series(1, 200000) g WHERE 1 / (g - 150000) IS NOT NULL"
    with pytest.raises(ConfigError, match="vip: the database said “division by zero”"):
        for _ in crm.stream(q, ["email"], "vip"):
            pass
    assert sum(c.size for c in crm.stream(f"SELECT email FROM {TABLE}", ["email"], "vip")) == len(ROWS)


def test_a_copy_object_without_libpq_access_is_read_through_psycopg() -> None:
    class Plain:  # what a psycopg without the attributes _drained relies on would give
        def __iter__(self) -> Iterator[memoryview]:
            return iter([memoryview(b"a\n"), memoryview(b"b\n")])

    assert b"".join(pgcopy._drained(Plain())) == b"a\nb\n"
