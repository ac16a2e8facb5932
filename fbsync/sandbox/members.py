"""Audience members: the uploaded rows, and the matched people they resolve to.

An audience keeps every valid uploaded row (``members``: one per distinct set of identifier values,
its ``LOOKALIKE_VALUE`` if any, and the person it resolved to, NULL when Meta matched nobody).  Its
size is the number of distinct persons among its rows (``audiences.persons``, kept up to date on
every add, removal, replace and merge).  ``member_values`` indexes each identifier value of each row
so that a removal matching on any subset of keys (docs/meta-api.md §1.5 "Remove") is an index
look-up; ``members_person`` finds the rows of one person.

Rules (docs/sandbox.md "Matching people"): a removal row removes the rows that carry all its values
(as before) and, when it resolves to a person, every row of the audience that resolved to that
person.  Adding never removes.  Work is O(rows) with indexed look-ups, in slices of 10,000 rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .matching import IDENTIFYING
from .persons import PersonGraph, chunks
from .sessions import TablesOnStore
from .store_keys import row_key, value_digest

if TYPE_CHECKING:
    from .matching import Matcher

_SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
  id INTEGER PRIMARY KEY, audience_id INTEGER NOT NULL, row_hash INTEGER NOT NULL, row_key TEXT NOT NULL,
  person INTEGER, value TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS members_key ON members (audience_id, row_hash);
CREATE TABLE IF NOT EXISTS member_values (
  audience_id INTEGER NOT NULL, digest INTEGER NOT NULL, member_id INTEGER NOT NULL,
  PRIMARY KEY (audience_id, digest, member_id)) WITHOUT ROWID;
"""
_PERSON_INDEX = "CREATE INDEX IF NOT EXISTS members_person ON members (person, audience_id) WHERE person IS NOT NULL"
_UPSERT = (
    "INSERT INTO members (audience_id, row_hash, row_key, person, value) VALUES (?1, fbsync_digest(?2), ?2, ?3, ?4)"
    " ON CONFLICT(audience_id, row_hash) DO UPDATE SET person = COALESCE(excluded.person, members.person),"
    " value = COALESCE(excluded.value, members.value)"
)
#: Only identifying values are indexed; a removal row without one is matched by one scan of the audience.
_INDEX_VALUES = (
    "INSERT INTO member_values (audience_id, digest, member_id)"
    " SELECT m.audience_id, fbsync_digest(j.key || char(0) || j.value), m.id"
    f" FROM members m, json_each(m.row_key) j WHERE m.id > ? AND j.key IN ({', '.join(map(repr, IDENTIFYING))})"
)
_STAGE = (
    "INSERT INTO replace_rows (audience_id, row_hash, row_key, person, value)"
    " VALUES (?1, fbsync_digest(?2), ?2, ?3, ?4)"
    " ON CONFLICT(audience_id, row_hash) DO UPDATE SET person = COALESCE(excluded.person, replace_rows.person),"
    " value = COALESCE(excluded.value, replace_rows.value)"
)
BATCH = 10_000


@dataclass
class Change:
    """What one add or removal did to an audience."""

    rows: int = 0  # rows added (new) or removed
    persons: int = 0  # persons that joined or left the audience
    matched: int = 0  # rows of the request that resolved to a person


class MemberStore(TablesOnStore):
    """Member rows on the store's connection; callers hold the store lock (writes run in a transaction)."""

    SCHEMA = _SCHEMA

    def __init__(
        self,
        db: sqlite3.Connection,
        transaction: Callable[[], AbstractContextManager[sqlite3.Connection]],
        graph: PersonGraph,
    ) -> None:
        super().__init__(db, transaction)
        columns = [row[1] for row in db.execute("PRAGMA table_info(members)")]
        #: A ``--data`` file from before matching: its rows must be matched again (``SandboxStore.rematch``).
        self.legacy = "person" not in columns
        if self.legacy:
            db.execute("ALTER TABLE members ADD COLUMN person INTEGER")
            db.execute("ALTER TABLE members ADD COLUMN value TEXT")
        db.execute(_PERSON_INDEX)
        self.graph = graph

    # --- adds ---

    def add(
        self,
        audience_id: int,
        account_id: str,
        members: list[dict[str, str]],
        values: list[str | None] | None,
        matcher: Matcher,
        now: int,
        keys: list[str] | None = None,
    ) -> Change:
        """Add rows (an identical row is kept once; a new LOOKALIKE_VALUE replaces the old one).
        ``keys``: the members' :func:`row_key` when the caller has them already."""
        change = Change()
        with self._transaction():
            for start in range(0, len(members), BATCH):
                part = members[start : start + BATCH]
                part_values: list[str | None] = values[start : start + BATCH] if values else [None] * len(part)
                part_keys = keys[start : start + BATCH] if keys else [row_key(m) for m in part]
                self._add_part(audience_id, account_id, part, part_keys, part_values, matcher, change)
            self._touch(audience_id, change.rows, change.persons, now)
        return change

    def _add_part(
        self,
        audience_id: int,
        account_id: str,
        members: list[dict[str, str]],
        keys: list[str],
        values: list[str | None],
        matcher: Matcher,
        change: Change,
    ) -> None:
        persons = self._link(members, account_id, matcher)
        joining = {p for p in persons if p is not None}
        joining -= self._present(audience_id, joining)
        top = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM members").fetchone()[0]
        self._db.executemany(_UPSERT, ((audience_id, k, p, v) for k, p, v in zip(keys, persons, values, strict=True)))
        self._db.execute(_INDEX_VALUES, (top,))
        change.rows += self._db.execute("SELECT COUNT(*) FROM members WHERE id > ?", (top,)).fetchone()[0]
        change.persons += len(joining)
        change.matched += sum(1 for p in persons if p is not None)

    def _link(self, members: list[dict[str, str]], account_id: str, matcher: Matcher) -> list[int | None]:
        """Resolve rows to persons, linking their values in the person graph (merging persons they join)."""
        rows, graph = matcher.resolve(members, account_id, self.graph.lookup)
        links = [r.links(graph, matcher.link_unknown) for r in rows]
        linked = self.graph.plan((found for found in links if found), graph)
        self._merge(linked.merges)
        self.graph.apply(linked)
        return [linked.person[found[0]] if found else None for found in links]

    def stage(
        self,
        audience_id: int,
        account_id: str,
        members: list[dict[str, str]],
        values: list[str | None] | None,
        matcher: Matcher,
    ) -> int:
        """Keep the rows of a replace batch until the swap, matched now (Meta matches as batches arrive); a row
        sent again keeps its newest value.  Returns how many matched."""
        with self._transaction() as db:
            persons = self._link(members, account_id, matcher)
            rows = zip((row_key(m) for m in members), persons, values or [None] * len(members), strict=True)
            db.executemany(_STAGE, ((audience_id, k, p, v) for k, p, v in rows))
        return sum(1 for p in persons if p is not None)

    def swap(self, audience_id: int, now: int) -> Change:
        """Make the staged rows the audience's rows (the end of a replace, docs/meta-api.md §1.6)."""
        with self._transaction() as db:
            self.clear_audience(audience_id)
            top = db.execute("SELECT COALESCE(MAX(id), 0) FROM members").fetchone()[0]
            db.execute(
                "INSERT INTO members (audience_id, row_hash, row_key, person, value)"
                " SELECT audience_id, row_hash, row_key, person, value FROM replace_rows WHERE audience_id=?",
                (audience_id,),
            )
            db.execute(_INDEX_VALUES, (top,))
            db.execute("DELETE FROM replace_rows WHERE audience_id=?", (audience_id,))
            total, matched = db.execute(
                "SELECT COUNT(*), COUNT(person) FROM members WHERE audience_id=?", (audience_id,)
            ).fetchone()
            change = Change(rows=total, persons=self.recount(audience_id), matched=matched)
            self._touch(audience_id, change.rows, change.persons, now)
        return change

    def _merge(self, merges: list[tuple[int, int]]) -> None:
        """Relabel the rows (and staged replace rows) of absorbed persons; an audience that held both persons now
        holds one fewer."""
        db = self._db
        for small, big in merges:
            audiences = [a for (a,) in db.execute("SELECT DISTINCT audience_id FROM members WHERE person=?", (small,))]
            for audience_id in audiences:
                both = "SELECT 1 FROM members WHERE person=? AND audience_id=? LIMIT 1"
                if db.execute(both, (big, audience_id)).fetchone():
                    db.execute("UPDATE audiences SET persons = persons - 1 WHERE id=?", (audience_id,))
            db.execute("UPDATE members SET person=? WHERE person=?", (big, small))
            db.execute("UPDATE replace_rows SET person=? WHERE person=?", (big, small))

    def _present(self, audience_id: int, persons: Iterable[int]) -> set[int]:
        """Which of ``persons`` have a row in the audience."""
        found: set[int] = set()
        sql = (
            "SELECT DISTINCT person FROM members WHERE person IN (SELECT value FROM json_each(?))"
            " AND audience_id=? AND person IS NOT NULL"
        )
        for part in chunks(sorted(set(persons))):
            found.update(p for (p,) in self._db.execute(sql, (json.dumps(part), audience_id)))
        return found

    # --- removals ---

    def remove(
        self,
        audience_ids: list[int],
        account_id: str,
        removals: list[dict[str, str]],
        matcher: Matcher,
        now: int,
        touch_all: bool = True,
    ) -> Change:
        """Remove, from each audience, the rows carrying all the values of a removal row, and every row of the
        persons a removal row resolves to (resolved once for all the audiences).  ``touch_all``: a removal that
        finds nothing still counts as an upload (``time_content_updated``); else only audiences that lost rows."""
        change = Change()
        with self._transaction():
            rows, graph = matcher.resolve(removals, account_id, self.graph.lookup)
            targets: set[int] = set()
            for r in rows:
                found = {graph[n] for n in r.resolving(graph) if n in graph}
                change.matched += bool(found)
                targets |= found
            for audience_id in audience_ids:
                removed_rows, removed_persons = self._remove_from(audience_id, removals, targets, now, touch_all)
                change.rows += removed_rows
                change.persons += removed_persons
        return change

    def _remove_from(
        self, audience_id: int, removals: list[dict[str, str]], targets: set[int], now: int, touch: bool
    ) -> tuple[int, int]:
        """(rows, persons) removed from one audience."""
        db = self._db
        doomed: dict[int, tuple[str, int | None]] = {}
        unindexed = []
        for wanted in removals:
            key = next((k for k in wanted if k in IDENTIFYING), None)
            if key is None:
                unindexed.append(wanted)
            else:
                doomed.update(self._carrying(audience_id, key, wanted))
        if unindexed:
            doomed.update(self._scan(audience_id, unindexed))
        sql = (
            "SELECT id, row_key, person FROM members WHERE person IN (SELECT value FROM json_each(?)) AND audience_id=?"
        )
        for part in chunks(sorted(targets)):
            doomed.update((i, (k, p)) for i, k, p in db.execute(sql, (json.dumps(part), audience_id)))
        db.executemany("DELETE FROM members WHERE id=?", ((member_id,) for member_id in doomed))
        db.executemany(
            "DELETE FROM member_values WHERE audience_id=? AND digest=? AND member_id=?",
            (
                (audience_id, value_digest(k, v), member_id)
                for member_id, (key, _) in doomed.items()
                for k, v in json.loads(key).items()
                if k in IDENTIFYING
            ),
        )
        affected = {p for _, p in doomed.values() if p is not None}
        persons = len(affected) - len(self._present(audience_id, affected))
        if doomed or touch:
            self._touch(audience_id, -len(doomed), -persons, now)
        return len(doomed), persons

    def _carrying(self, audience_id: int, key: str, wanted: dict[str, str]) -> dict[int, tuple[str, int | None]]:
        """Rows of the audience carrying every value of ``wanted`` (an index look-up on its value of ``key``)."""
        rows = self._db.execute(
            "SELECT m.id, m.row_key, m.person FROM member_values v JOIN members m ON m.id = v.member_id"
            " WHERE v.audience_id=? AND v.digest=?",
            (audience_id, value_digest(key, wanted[key])),
        ).fetchall()
        found = {}
        for member_id, key, person in rows:
            stored = json.loads(key)
            if all(stored.get(k) == v for k, v in wanted.items()):
                found[member_id] = (key, person)
        return found

    def _scan(self, audience_id: int, removals: list[dict[str, str]]) -> dict[int, tuple[str, int | None]]:
        """Rows carrying every value of one of ``removals`` (rows without an identifying value: names,
        places…), found in one pass over the audience.  Only rows without an identifying value of their own:
        names never match alone, so a name-only removal cannot reach a row Meta resolved by its e-mail or
        phone (that row leaves only with its person)."""
        by_value: dict[tuple[str, str], list[dict[str, str]]] = {}
        for wanted in removals:
            by_value.setdefault(next(iter(wanted.items())), []).append(wanted)
        found = {}
        sql = "SELECT id, row_key, person FROM members WHERE audience_id=?"
        for member_id, key, person in self._db.execute(sql, (audience_id,)).fetchall():
            stored = json.loads(key)
            if any(stored.get(k) for k in IDENTIFYING):
                continue
            for item in stored.items():
                if any(all(stored.get(k) == v for k, v in w.items()) for w in by_value.get(item, ())):
                    found[member_id] = (key, person)
                    break
        return found

    # --- whole audiences ---

    def clear_audience(self, audience_id: int) -> None:
        """Forget every row of an audience (delete, or the start of a replace swap)."""
        self._db.execute("DELETE FROM member_values WHERE audience_id=?", (audience_id,))
        self._db.execute("DELETE FROM members WHERE audience_id=?", (audience_id,))
        self._db.execute("UPDATE audiences SET member_count=0, persons=0 WHERE id=?", (audience_id,))

    def raw_rows(self, audience_id: int) -> list[tuple[str, str | None]]:
        """(row_key, value) of every row, oldest first."""
        sql = "SELECT row_key, value FROM members WHERE audience_id=? ORDER BY id"
        return [(k, v) for k, v in self._db.execute(sql, (audience_id,))]

    def rows(self, audience_id: int, schema: list[str], with_value: bool) -> list[list[Any]]:
        """Rows in ``schema`` order (missing values ``""``), plus LOOKALIKE_VALUE last when ``with_value``; sorted."""
        out = []
        for key, value in self._db.execute("SELECT row_key, value FROM members WHERE audience_id=?", (audience_id,)):
            member = json.loads(key)
            row: list[Any] = [member.get(k, "") for k in schema]
            if with_value:
                row.append("" if value is None else json.loads(value))
            out.append(row)
        return sorted(out, key=lambda r: [str(v) for v in r])

    def stats(self, audience_id: int) -> dict[str, Any]:
        """Rows, matched rows and persons of an audience, and per key how many rows carry it and matched."""
        db = self._db
        total, matched = db.execute(
            "SELECT COUNT(*), COUNT(person) FROM members WHERE audience_id=?", (audience_id,)
        ).fetchone()
        keys = db.execute(
            "SELECT j.key, COUNT(*), COUNT(m.person) FROM members m, json_each(m.row_key) j"
            " WHERE m.audience_id=? GROUP BY j.key ORDER BY j.key",
            (audience_id,),
        ).fetchall()
        return {
            "rows": total,
            "matched_rows": matched,
            "persons": self.recount(audience_id),
            "keys": {key: {"rows": rows, "matched": hits} for key, rows, hits in keys},
        }

    def recount(self, audience_id: int) -> int:
        """Distinct persons among the audience's rows, counted afresh (``audiences.persons`` must agree)."""
        sql = "SELECT COUNT(DISTINCT person) FROM members WHERE audience_id=?"
        return int(self._db.execute(sql, (audience_id,)).fetchone()[0])

    def clear(self) -> None:
        """Forget every row (admin reset)."""
        self._db.execute("DELETE FROM members")
        self._db.execute("DELETE FROM member_values")

    def _touch(self, audience_id: int, rows: int, persons: int, now: int) -> None:
        self._db.execute(
            "UPDATE audiences SET member_count = member_count + ?, persons = persons + ?, time_content_updated=?"
            " WHERE id=?",
            (rows, persons, now, audience_id),
        )
