"""Persistence of upload sessions (``/users``) and replace sessions (``/usersreplace``).

Session state lives in SQLite beside the audiences so that a restarted sandbox
(``--data FILE``) still knows which batches of a session it has seen
(docs/meta-api.md §1.5 "session", §1.6 "Session rules").  Rows of a running replace
are staged in ``replace_rows`` (with the person each matched, :mod:`.members`) until
the last batch swaps them in.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

USERS = "users"
REPLACE = "replace"
RUNNING = "running"
FINISHED = "finished"
TIMED_OUT = "timed_out"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS upload_sessions (
  audience_id INTEGER NOT NULL, op TEXT NOT NULL, session_id INTEGER NOT NULL, started INTEGER NOT NULL,
  seqs TEXT NOT NULL, schema TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
  received INTEGER NOT NULL, invalid INTEGER NOT NULL, extra TEXT NOT NULL DEFAULT '{}',
  PRIMARY KEY (audience_id, op, session_id));
CREATE TABLE IF NOT EXISTS replace_rows (
  audience_id INTEGER NOT NULL, row_hash INTEGER NOT NULL, row_key TEXT NOT NULL, person INTEGER, value TEXT,
  PRIMARY KEY (audience_id, row_hash)) WITHOUT ROWID;
"""


@dataclass
class SessionState:
    """One session of one audience: batches seen, its schema, cumulative counts."""

    audience_id: int
    op: str
    session_id: int
    started: int
    schema: list[str]
    kind: str
    seqs: list[int] = field(default_factory=list)
    status: str = RUNNING
    received: int = 0
    invalid: int = 0
    #: Rows that resolved to a person (``num_matched``).
    matched: int = 0
    #: ``estimated_num_total`` of the first batch that gave one, and when the last batch arrived.
    estimated: int | None = None
    last_batch: int = 0

    def stage(self, now: int, limit: float) -> tuple[str, int | None]:
        """``GET /{id}/sessions`` stage and end time: "processing" while batches may come, else "finished"
        (a session past its 90 minutes is finished at ``started + limit``)."""
        if self.status != RUNNING:
            return "finished", self.last_batch or self.started
        if now - self.started > limit:
            return "finished", self.started + int(limit)
        return "processing", None


class TablesOnStore:
    """Tables of one edge kept on the store's connection (its own ``SCHEMA``); callers hold the store lock."""

    SCHEMA = ""

    def __init__(
        self, db: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    ) -> None:
        self._db = db
        self._transaction = transaction
        db.executescript(self.SCHEMA)


class SessionStore(TablesOnStore):
    """Session rows on the store's connection; callers hold the store lock."""

    SCHEMA = _SCHEMA

    def __init__(
        self, db: sqlite3.Connection, transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]
    ) -> None:
        super().__init__(db, transaction)
        columns = [row[1] for row in db.execute("PRAGMA table_info(upload_sessions)")]
        if "extra" not in columns:  # a --data file from before the sessions edge
            db.execute("ALTER TABLE upload_sessions ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'")
        if "value" not in [row[1] for row in db.execute("PRAGMA table_info(replace_rows)")]:  # before matching
            db.execute("ALTER TABLE replace_rows ADD COLUMN person INTEGER")
            db.execute("ALTER TABLE replace_rows ADD COLUMN value TEXT")
        db.execute("CREATE INDEX IF NOT EXISTS replace_rows_person ON replace_rows (person) WHERE person IS NOT NULL")

    def get(self, audience_id: int, op: str, session_id: int) -> SessionState | None:
        """The session, or None when this audience never saw it."""
        row = self._db.execute(
            "SELECT started, seqs, schema, kind, status, received, invalid, extra FROM upload_sessions"
            " WHERE audience_id=? AND op=? AND session_id=?",
            (audience_id, op, session_id),
        ).fetchone()
        if row is None:
            return None
        extra = json.loads(row[7])
        return SessionState(
            audience_id,
            op,
            session_id,
            started=row[0],
            seqs=json.loads(row[1]),
            schema=json.loads(row[2]),
            kind=row[3],
            status=row[4],
            received=row[5],
            invalid=row[6],
            matched=extra.get("matched", row[5] - row[6]),
            estimated=extra.get("estimated"),
            last_batch=extra.get("last_batch", 0),
        )

    def of_audience(self, audience_id: int) -> list[SessionState]:
        """Every session of an audience (both kinds), newest first."""
        rows = self._db.execute(
            "SELECT op, session_id FROM upload_sessions WHERE audience_id=? ORDER BY started DESC, session_id DESC",
            (audience_id,),
        ).fetchall()
        found = [self.get(audience_id, op, session_id) for op, session_id in rows]
        return [s for s in found if s is not None]

    def running_replace(self, audience_id: int) -> SessionState | None:
        """The replace session currently running on the audience, if any."""
        row = self._db.execute(
            "SELECT session_id FROM upload_sessions WHERE audience_id=? AND op=? AND status=?",
            (audience_id, REPLACE, RUNNING),
        ).fetchone()
        return self.get(audience_id, REPLACE, row[0]) if row else None

    def save(self, state: SessionState) -> None:
        """Insert or update a session."""
        self._db.execute(
            "INSERT OR REPLACE INTO upload_sessions (audience_id, op, session_id, started, seqs, schema, kind,"
            " status, received, invalid, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                state.audience_id,
                state.op,
                state.session_id,
                state.started,
                json.dumps(state.seqs),
                json.dumps(state.schema),
                state.kind,
                state.status,
                state.received,
                state.invalid,
                json.dumps({"estimated": state.estimated, "last_batch": state.last_batch, "matched": state.matched}),
            ),
        )

    def clear_staged(self, audience_id: int) -> None:
        """Forget the staged rows of an audience."""
        self._db.execute("DELETE FROM replace_rows WHERE audience_id=?", (audience_id,))

    def drop_audience(self, audience_id: int) -> None:
        """Forget every session of a deleted audience."""
        self._db.execute("DELETE FROM upload_sessions WHERE audience_id=?", (audience_id,))
        self.clear_staged(audience_id)

    def clear(self) -> None:
        """Forget all sessions (admin reset)."""
        self._db.execute("DELETE FROM upload_sessions")
        self._db.execute("DELETE FROM replace_rows")
