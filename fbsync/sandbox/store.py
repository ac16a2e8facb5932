"""SQLite persistence of the sandbox: accounts, audiences, members, sessions, ad sets, the person graph.

A file path keeps state across restarts (``--data FILE``); ``None`` keeps it in
memory.  One re-entrant lock guards the single connection, so the store is
safe to share between the HTTP server's threads; :meth:`SandboxStore.lock` is
public so the app can make a whole request atomic.

Members (the uploaded rows and the people they matched) live in :mod:`.members`,
the person graph in :mod:`.persons`; ``audiences.member_count`` counts an
audience's rows and ``audiences.persons`` its distinct matched people.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .campaigns import CampaignStore
from .members import MemberStore
from .persons import PersonGraph
from .sessions import SessionStore
from .store_keys import digest, row_key, value_digest

if TYPE_CHECKING:
    from .matching import Matcher

__all__ = ["FIRST_AUDIENCE_ID", "AdSet", "Audience", "SandboxStore", "digest", "row_key", "value_digest"]

FIRST_AUDIENCE_ID = 23850000000000001

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (id TEXT PRIMARY KEY, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audiences (
  id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, subtype TEXT NOT NULL,
  data TEXT NOT NULL, kind TEXT, schema TEXT NOT NULL DEFAULT '[]',
  member_count INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
  time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL, time_content_updated INTEGER NOT NULL,
  persons INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS audiences_account ON audiences (account_id, deleted);
CREATE TABLE IF NOT EXISTS adsets (
  id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, targeting TEXT NOT NULL,
  status TEXT NOT NULL, time_created INTEGER NOT NULL, time_updated INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS adsets_account ON adsets (account_id);
CREATE TABLE IF NOT EXISTS shares (
  audience_id INTEGER NOT NULL, account_id TEXT NOT NULL, permissions TEXT NOT NULL,
  PRIMARY KEY (audience_id, account_id));
"""


@dataclass
class Audience:
    """One stored audience; ``data`` holds the Graph fields set at create/update time."""

    id: int
    account_id: str
    subtype: str
    data: dict[str, Any]
    kind: str | None
    schema: list[str]
    #: Stored rows (admin ``member_count``).
    member_count: int
    time_created: int
    time_updated: int
    time_content_updated: int
    #: Distinct matched people among the rows: the audience's size.
    persons: int = 0


@dataclass
class AdSet:
    """One stored ad set (admin-created); ``targeting`` is the whole targeting object as last set."""

    id: int
    account_id: str
    name: str
    targeting: dict[str, Any]
    status: str
    time_created: int
    time_updated: int

    def raw(self) -> dict[str, Any]:
        """The stored record, as ``GET /__sandbox/adsets/{id}`` returns it."""
        return {
            "id": str(self.id),
            "account_id": self.account_id,
            "name": self.name,
            "targeting": self.targeting,
            "status": self.status,
            "time_created": self.time_created,
            "time_updated": self.time_updated,
        }


class SandboxStore:
    """Thread-safe SQLite store.  ``path=None`` keeps everything in memory."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        self._db.create_function("fbsync_digest", 1, digest, deterministic=True)
        if path:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA cache_size=-65536")
        self._db.executescript(_SCHEMA)
        if "persons" not in [row[1] for row in self._db.execute("PRAGMA table_info(audiences)")]:
            self._db.execute("ALTER TABLE audiences ADD COLUMN persons INTEGER NOT NULL DEFAULT 0")  # older --data
        self._depth = 0
        self.sessions = SessionStore(self._db, self.transaction)
        self.campaigns = CampaignStore(self._db, self.transaction)
        self.graph = PersonGraph(self._db, self.transaction)
        self.memberships = MemberStore(self._db, self.transaction, self.graph)
        self._requests: dict[str, int] = {}

    # --- plumbing ---

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run a block atomically under the store lock; nested blocks join the outer one."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN")
            self._depth = 1
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        """Close the database connection."""
        with self.lock:
            self._db.close()

    def reset(self) -> None:
        """Forget every account, audience, member, session, ad set and request count."""
        with self.transaction() as db:
            for table in ("meta", "accounts", "audiences", "adsets", "shares"):
                db.execute(f"DELETE FROM {table}")
            self.memberships.clear()
            self.graph.clear()
            self.sessions.clear()
            self.campaigns.clear()
        with self.lock:
            self._requests.clear()

    # --- request counters (admin: GET /__sandbox/requests) ---

    def count_request(self, endpoint: str) -> None:
        """Count one Graph call under ``endpoint`` (e.g. ``"POST /users"``)."""
        with self.lock:
            self._requests[endpoint] = self._requests.get(endpoint, 0) + 1

    def request_count(self) -> dict[str, Any]:
        """``{"total": N, "by_endpoint": {...}}`` of Graph calls since start or reset."""
        with self.lock:
            return {"total": sum(self._requests.values()), "by_endpoint": dict(sorted(self._requests.items()))}

    # --- accounts ---

    def ensure_account(self, account_id: str, now: int) -> int:
        """Create the ad account on first use; return its creation time."""
        with self.lock:
            self._db.execute("INSERT OR IGNORE INTO accounts (id, created) VALUES (?, ?)", (account_id, now))
            return int(self._db.execute("SELECT created FROM accounts WHERE id=?", (account_id,)).fetchone()[0])

    # --- audiences ---

    def _next_id(self, db: sqlite3.Connection) -> int:
        """Next free object id; audiences and ad sets share one id space (an id names one node)."""
        row = db.execute("SELECT value FROM meta WHERE key='next_audience_id'").fetchone()
        next_id = int(row[0]) if row else FIRST_AUDIENCE_ID
        taken = "SELECT 1 FROM adsets WHERE id=?1 UNION ALL SELECT 1 FROM campaigns WHERE id=?1"
        while db.execute(taken, (next_id,)).fetchone():  # admin-chosen ad set / campaign ids
            next_id += 1
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('next_audience_id', ?)", (str(next_id + 1),))
        return next_id

    def create_audience(self, account_id: str, subtype: str, data: dict[str, Any], now: int) -> int:
        """Insert an audience and return its new numeric id (ids are never reused)."""
        with self.transaction() as db:
            new_id = self._next_id(db)
            db.execute(
                "INSERT INTO audiences (id, account_id, subtype, data, time_created, time_updated,"
                " time_content_updated) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (new_id, account_id, subtype, json.dumps(data), now, now, now),
            )
        return new_id

    def _row(self, sql: str, object_id: int) -> Any:
        """The row ``sql`` (one ``?`` for the id) finds, or None; ids beyond SQLite's INTEGER cannot exist."""
        if not 0 < object_id < 2**63:
            return None
        with self.lock:
            return self._db.execute(sql, (object_id,)).fetchone()

    def get_audience(self, audience_id: int) -> Audience | None:
        """The live (not deleted) audience with this id, or None."""
        row = self._row(_SELECT + " WHERE id=? AND deleted=0", audience_id)
        return _audience(row) if row else None

    def list_audiences(self, account_id: str | None = None) -> list[Audience]:
        """Live audiences, newest first; of one account when given."""
        where, args = (
            ("WHERE deleted=0", ()) if account_id is None else ("WHERE account_id=? AND deleted=0", (account_id,))
        )
        with self.lock:
            rows = self._db.execute(f"{_SELECT} {where} ORDER BY id DESC", args).fetchall()
        return [_audience(r) for r in rows]

    def count_audiences(self, account_id: str, subtype: str) -> int:
        """Live audiences of one subtype in an account (for the per-account caps)."""
        with self.lock:
            sql = "SELECT COUNT(*) FROM audiences WHERE account_id=? AND subtype=? AND deleted=0"
            return int(self._db.execute(sql, (account_id, subtype)).fetchone()[0])

    def count_live(self, account_id: str) -> int:
        """Live audiences of an account, all subtypes (the "active CAs" of the usage quota)."""
        with self.lock:
            sql = "SELECT COUNT(*) FROM audiences WHERE account_id=? AND deleted=0"
            return int(self._db.execute(sql, (account_id,)).fetchone()[0])

    def update_audience(self, audience_id: int, changes: dict[str, Any], now: int, *, touch: bool = True) -> None:
        """Merge ``changes`` into the audience's stored fields (``touch``: and move ``time_updated``)."""
        with self.transaction() as db:
            data = json.loads(db.execute("SELECT data FROM audiences WHERE id=?", (audience_id,)).fetchone()[0])
            data.update(changes)
            db.execute("UPDATE audiences SET data=? WHERE id=?", (json.dumps(data), audience_id))
            if touch:
                db.execute("UPDATE audiences SET time_updated=? WHERE id=?", (now, audience_id))

    def delete_audience(self, audience_id: int) -> None:
        """Delete an audience and its members (its id stays reserved)."""
        with self.transaction() as db:
            db.execute("UPDATE audiences SET deleted=1 WHERE id=?", (audience_id,))
            self.memberships.clear_audience(audience_id)
            self.sessions.drop_audience(audience_id)

    def lock_schema(self, audience_id: int, kind: str, keys: Iterable[str]) -> list[str]:
        """Lock the audience to ``kind`` and append keys it has not seen; return the schema."""
        with self.transaction() as db:
            row = db.execute("SELECT schema FROM audiences WHERE id=?", (audience_id,)).fetchone()
            schema: list[str] = json.loads(row[0])
            schema += [k for k in keys if k not in schema]
            db.execute("UPDATE audiences SET kind=?, schema=? WHERE id=?", (kind, json.dumps(schema), audience_id))
        return schema

    def set_schema(self, audience_id: int, schema: list[str]) -> None:
        """Set the audience's column order (a replace swaps in its session's schema)."""
        with self.transaction() as db:
            db.execute("UPDATE audiences SET schema=? WHERE id=?", (json.dumps(schema), audience_id))

    # --- ad sets (created through the admin endpoint; Graph reads and updates them) ---

    def node_kind(self, object_id: int) -> str | None:
        """``"audience"``, ``"adset"`` or ``"campaign"`` for a live object with this numeric id, else None."""
        if self._row("SELECT 1 FROM audiences WHERE id=? AND deleted=0", object_id):
            return "audience"
        if self._row("SELECT 1 FROM adsets WHERE id=?", object_id):
            return "adset"
        if self._row("SELECT 1 FROM campaigns WHERE id=?", object_id):
            return "campaign"
        return None

    def id_taken(self, object_id: int) -> bool:
        """Is this id used by an audience (deleted ones included: ids are never reused), ad set or campaign?"""
        with self.lock:
            return any(
                self._db.execute(f"SELECT 1 FROM {table} WHERE id=?", (object_id,)).fetchone()
                for table in ("audiences", "adsets", "campaigns")
            )

    # --- sharing (POST/DELETE /{audience-id}/adaccounts) ---

    def recipients(self, audience_id: int) -> list[str]:
        """The ad accounts (digits) an audience is shared with, its owner excluded."""
        with self.lock:
            q = "SELECT account_id FROM shares WHERE audience_id=? ORDER BY account_id"
            return [r[0] for r in self._db.execute(q, (audience_id,))]

    def share(self, audience_id: int, accounts: list[str], permissions: str, *, replace: bool) -> None:
        with self.transaction() as db:
            if replace:
                db.execute("DELETE FROM shares WHERE audience_id=?", (audience_id,))
            db.executemany(
                "INSERT OR REPLACE INTO shares (audience_id, account_id, permissions) VALUES (?, ?, ?)",
                [(audience_id, a, permissions) for a in accounts],
            )

    def unshare(self, audience_id: int, accounts: list[str]) -> None:
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM shares WHERE audience_id=? AND account_id=?", [(audience_id, a) for a in accounts]
            )

    def usable_by(self, audience: Audience, account_id: str) -> bool:
        """Whether ``account_id`` may target ``audience``: it owns it, or the audience is shared with it."""
        return audience.account_id == account_id or account_id in self.recipients(audience.id)

    def claim_id(self, wanted: Any = None) -> int:
        """An id for a new admin-created node: ``wanted`` (numeric and free, else ``ValueError``) or the next one."""
        with self.transaction() as db:
            if wanted in (None, ""):
                return self._next_id(db)
            if isinstance(wanted, bool) or not str(wanted).isdigit() or not 0 < int(str(wanted)) < 2**63:
                raise ValueError("id must be a numeric string")
            if self.id_taken(int(str(wanted))):
                raise ValueError(f"id {wanted} is already used by an audience, an ad set or a campaign")
            return int(str(wanted))

    def create_adset(
        self,
        account_id: str,
        name: str | None,
        targeting: dict[str, Any],
        status: str,
        now: int,
        adset_id: int | None = None,
    ) -> int:
        """Insert an ad set (``adset_id`` given: that id, which must be free) and return its id."""
        with self.transaction() as db:
            new_id = adset_id if adset_id is not None else self._next_id(db)
            db.execute(
                "INSERT INTO adsets (id, account_id, name, targeting, status, time_created, time_updated)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (new_id, account_id, name or f"Sandbox ad set {new_id}", json.dumps(targeting), status, now, now),
            )
        return new_id

    def get_adset(self, adset_id: int) -> AdSet | None:
        """The ad set with this id, or None."""
        row = self._row(_SELECT_ADSET + " WHERE id=?", adset_id)
        return _adset(row) if row else None

    def list_adsets(self) -> list[AdSet]:
        """Every ad set, oldest (lowest id) first."""
        with self.lock:
            rows = self._db.execute(_SELECT_ADSET + " ORDER BY id").fetchall()
        return [_adset(r) for r in rows]

    def active_targeted_ids(self) -> set[str]:
        """Ids of the audiences an ACTIVE ad set targets (included or excluded): they are "in use"."""
        ids: set[str] = set()
        for adset in self.list_adsets():
            if adset.status == "ACTIVE":
                for key in ("custom_audiences", "excluded_custom_audiences"):
                    ids.update(str(e.get("id")) for e in adset.targeting.get(key) or [] if isinstance(e, dict))
        return ids

    def update_adset(self, adset_id: int, changes: dict[str, Any], now: int) -> None:
        """Set ``name``, ``status`` and/or ``targeting`` (the targeting object is replaced whole)."""
        columns = {
            k: (json.dumps(v) if k == "targeting" else v)
            for k, v in changes.items()
            if k in ("name", "status", "targeting")
        }
        if not columns:
            return
        sets = ", ".join(f"{k}=?" for k in columns)
        with self.transaction() as db:
            db.execute(f"UPDATE adsets SET {sets}, time_updated=? WHERE id=?", (*columns.values(), now, adset_id))

    # --- members (rows and persons: members.py) ---

    def members(self, audience_id: int) -> dict[str, Any]:
        """``{"schema": [...], "rows": [[...], ...]}``: rows in the locked schema order, sorted; a value-based
        audience's rows end with their LOOKALIKE_VALUE (the schema then ends with ``LOOKALIKE_VALUE``)."""
        with self.lock:
            audience = self.get_audience(audience_id)
            if audience is None:
                return {"schema": [], "rows": []}
            valued = bool(audience.data.get("is_value_based"))
            rows = self.memberships.rows(audience_id, audience.schema, valued)
        return {"schema": audience.schema + (["LOOKALIKE_VALUE"] if valued else []), "rows": rows}

    def rematch(self, matcher: Matcher) -> None:
        """Match the rows of a ``--data`` file written before matching existed (once, when the app starts)."""
        if not self.memberships.legacy:
            return
        with self.transaction():
            for audience in self.list_audiences():
                rows = self.memberships.raw_rows(audience.id)
                self.memberships.clear_audience(audience.id)
                members = [json.loads(key) for key, _ in rows]
                keys, values = [key for key, _ in rows], [value for _, value in rows]
                when = audience.time_content_updated
                self.memberships.add(audience.id, audience.account_id, members, values, matcher, when, keys)
            self.memberships.legacy = False

    def match_stats(self, audience_id: int) -> dict[str, Any]:
        """Rows, matched rows, persons and per-key counts of an audience (admin ``/match``)."""
        with self.lock:
            return self.memberships.stats(audience_id)


_SELECT = (
    "SELECT id, account_id, subtype, data, kind, schema, member_count, time_created, time_updated,"
    " time_content_updated, persons FROM audiences"
)


def _audience(row: tuple[Any, ...]) -> Audience:
    return Audience(
        id=row[0],
        account_id=row[1],
        subtype=row[2],
        data=json.loads(row[3]),
        kind=row[4],
        schema=json.loads(row[5]),
        member_count=row[6],
        time_created=row[7],
        time_updated=row[8],
        time_content_updated=row[9],
        persons=row[10],
    )


_SELECT_ADSET = "SELECT id, account_id, name, targeting, status, time_created, time_updated FROM adsets"


def _adset(row: tuple[Any, ...]) -> AdSet:
    return AdSet(
        id=row[0],
        account_id=row[1],
        name=row[2],
        targeting=json.loads(row[3]),
        status=row[4],
        time_created=row[5],
        time_updated=row[6],
    )
