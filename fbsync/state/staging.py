"""Per-run scratch space for set operations on millions of rows in constant memory.

A temporary SQLite file (mode 0600, in the state dir) holds the desired rows of
one audience, keyed by fingerprint and encrypted with the state key (so a file
left behind by a crash is no more readable than the ledger itself), and the
fingerprints the ledger holds; adds and removes are then two anti-joins.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

PREFIX = "staging-"


def clean_stale(state_dir: Path) -> None:
    """Remove scratch files a killed run left behind."""
    for p in state_dir.glob(PREFIX + "*.db*"):
        try:
            p.unlink()
        except OSError:
            pass


class Staging:
    """Desired (fp → encrypted row) and acknowledged (fp) sets for one audience."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = state_dir / f"{PREFIX}{uuid.uuid4().hex}.db"
        os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self.db = sqlite3.connect(self.path)
        # desired is a rowid table with an index on fp: its rows (an encrypted row, ~300 bytes) are too wide for
        # a WITHOUT ROWID tree, where each insert moves them around (1 M rows: 6.3 s -> 3.5 s to insert).
        self.db.executescript(
            "PRAGMA page_size=16384; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA temp_store=FILE;"
            "PRAGMA cache_size=-32768;"
            "CREATE TABLE desired(fp BLOB PRIMARY KEY, row BLOB NOT NULL);"
            "CREATE TABLE acked(fp BLOB PRIMARY KEY) WITHOUT ROWID;"
            "CREATE TABLE forced(fp BLOB PRIMARY KEY) WITHOUT ROWID;"
        )
        self._valued = False

    def add_desired(self, rows: Iterable[tuple[bytes, bytes]]) -> None:
        """Insert (fingerprint, encrypted row); duplicates of one row are kept once.

        A chunk is inserted in fingerprint order: random keys made every insert land on
        a random page of the table, sorted ones walk it once (1 M-member refresh: 26-31 s
        -> 20-24 s, for one chunk of pairs held in memory at a time).
        """
        self.db.executemany("INSERT OR IGNORE INTO desired VALUES (?, ?)", sorted(rows))

    def add_valued(self, rows: Iterable[tuple[bytes, bytes, bytes, float]]) -> None:
        """Value-based rows (identity fingerprint, fingerprint, encrypted row, value): rows with the same
        identifiers are one person for Meta, so one is kept, the one with the highest value; :meth:`settle`
        then makes them the desired rows."""
        if not self._valued:
            self.db.execute(
                "CREATE TABLE valued(idfp BLOB PRIMARY KEY, fp BLOB NOT NULL, row BLOB NOT NULL, value REAL NOT NULL)"
                " WITHOUT ROWID"
            )
            self._valued = True
        self.db.executemany(
            "INSERT INTO valued VALUES (?, ?, ?, ?) ON CONFLICT(idfp) DO UPDATE SET fp = excluded.fp,"
            " row = excluded.row, value = excluded.value WHERE excluded.value > valued.value",
            sorted(rows),
        )

    def settle(self) -> None:
        """The value-based rows become the desired rows (after the last :meth:`add_valued`)."""
        if self._valued:
            self.db.execute("INSERT OR IGNORE INTO desired SELECT fp, row FROM valued ORDER BY fp")
            self.db.execute("DROP TABLE valued")
            self._valued = False

    def add_acked(self, fps: Iterable[bytes]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO acked VALUES (?)", ((f,) for f in fps))

    def clear_acked(self) -> None:
        self.db.execute("DELETE FROM acked")

    def clear_forced(self) -> None:
        self.db.execute("DELETE FROM forced")

    def add_forced(self, fps: Iterable[bytes]) -> None:
        """Removals every mode makes (rows of suppressed people)."""
        self.db.executemany("INSERT OR IGNORE INTO forced VALUES (?)", ((f,) for f in fps))

    @property
    def forced(self) -> int:
        return self.count("SELECT count(*) FROM forced")

    def count(self, sql: str) -> int:
        return int(self.db.execute(sql).fetchone()[0])

    @property
    def desired(self) -> int:
        return self.count("SELECT count(*) FROM desired")

    @property
    def adds(self) -> int:
        return self.count("SELECT count(*) FROM desired WHERE fp NOT IN (SELECT fp FROM acked)")

    @property
    def removes(self) -> int:
        return self.count("SELECT count(*) FROM acked WHERE fp NOT IN (SELECT fp FROM desired)")

    def _batches(self, sql: str, size: int) -> Iterator[list[tuple]]:
        """Keyset-paginated batches, so writes between batches never disturb the cursor."""
        last = b""
        while True:
            rows = self.db.execute(sql, (last, size)).fetchall()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def iter_adds(self, size: int) -> Iterator[list[tuple[bytes, bytes]]]:
        return self._batches(
            "SELECT fp, row FROM desired WHERE fp > ? AND fp NOT IN (SELECT fp FROM acked) ORDER BY fp LIMIT ?", size
        )

    def iter_desired(self, size: int) -> Iterator[list[tuple[bytes, bytes]]]:
        return self._batches("SELECT fp, row FROM desired WHERE fp > ? ORDER BY fp LIMIT ?", size)

    def count_desired(self, fps: Iterable[bytes]) -> int:
        """How many of these fingerprints are desired."""
        return sum(self.db.execute("SELECT count(*) FROM desired WHERE fp = ?", (f,)).fetchone()[0] for f in fps)

    def unack(self, fps: Iterable[bytes]) -> None:
        """These rows are no longer known to be on Meta: they become adds."""
        self.db.executemany("DELETE FROM acked WHERE fp = ?", ((f,) for f in fps))

    def iter_forced(self, size: int) -> Iterator[list[tuple[bytes]]]:
        """Removals that every mode makes (suppressed people), marked in the ``forced`` table."""
        return self._batches("SELECT fp FROM forced WHERE fp > ? ORDER BY fp LIMIT ?", size)

    def iter_removes(self, size: int) -> Iterator[list[tuple[bytes]]]:
        return self._batches(
            "SELECT fp FROM acked WHERE fp > ? AND fp NOT IN (SELECT fp FROM desired) ORDER BY fp LIMIT ?", size
        )

    def close(self) -> None:
        self.db.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            try:
                os.unlink(str(self.path) + suffix)
            except FileNotFoundError:
                pass

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
