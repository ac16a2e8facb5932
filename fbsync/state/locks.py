"""One run per audience at a time: across threads, processes and (on PostgreSQL) hosts.

Two backends, picked from where the state store lives:

* **PostgreSQL state** (``FBSYNC_STATE_URL=postgresql…``): a session-level
  ``pg_try_advisory_lock(key)`` on a dedicated connection held for the whole
  block, ``key`` being a stable signed 64-bit hash of ``"fbsync:" + name``.
  Every host that shares the state store shares the lock; the server releases
  it when the connection closes, also when the holder dies.
* **Anything else** (the default SQLite file, another SQLAlchemy URL):
  ``fcntl.flock(LOCK_EX | LOCK_NB)`` on ``<folder>/locks/<name>.lock`` (file
  0600, folder 0700), the folder being the one of the SQLite database file
  (``FBSYNC_STATE_DIR`` by default).  The kernel releases it when the holder
  dies, even on ``kill -9``.  It works between processes of one host only.

A lock that is taken is refused at once (never waited for) with
:class:`LockBusy`, which names the audience and, when known, the holder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from ..errors import AudienceError, ConfigError
from ..settings import Settings

if TYPE_CHECKING:
    from .store import StateStore

Target = Union[Settings, "StateStore"]

_NAME = re.compile(r"^[a-z0-9_]+(@act_\d+)?$")  # an audience, or its slot on another ad account
SCHEDULER_KEY = "fbsync-scheduler"  # never "fbsync:<name>": audience names have no "-"
SCHEDULER_FILE = ".scheduler.lock"  # never "<name>.lock": audience names do not start with "."


class LockBusy(AudienceError):
    """Another run holds the lock: exit code 1, and in a sync the other audiences still run."""

    def __init__(self, message: str, *, holder: str | None = None) -> None:
        super().__init__(message)
        self.holder = holder


def advisory_key(text: str) -> int:
    """A stable signed 64-bit key for ``pg_try_advisory_lock`` (first 8 bytes of SHA-256)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@contextmanager
def audience_lock(target: Target, name: str, *, state_dir: Path | None = None) -> Iterator[None]:
    """Hold the lock of audience ``name`` for the block, or raise :class:`LockBusy` at once.

    ``target`` is the :class:`~fbsync.settings.Settings` (or an open
    :class:`~fbsync.state.store.StateStore`) whose state store the runs share.
    ``state_dir`` names the lock folder when ``target`` is a store that is
    neither PostgreSQL nor a SQLite file.
    """
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not an audience name (lowercase letters, digits and _ only).")
    with _lock(
        target,
        key=f"fbsync:{name}",
        filename=f"{name}.lock",
        busy=f"audience {name!r} is already being synced",
        state_dir=state_dir,
    ):
        yield


@contextmanager
def scheduler_lock(target: Target, *, state_dir: Path | None = None) -> Iterator[None]:
    """Hold the lock that lets one ``fbsync schedule`` run per state store, or raise :class:`LockBusy`."""
    with _lock(
        target,
        key=SCHEDULER_KEY,
        filename=SCHEDULER_FILE,
        busy="another fbsync schedule is already running on this state store",
        state_dir=state_dir,
    ):
        yield


# --------------------------------------------------------------------------- backend choice


def _lock(target: Target, *, key: str, filename: str, busy: str, state_dir: Path | None) -> Any:
    """The context manager of the backend that fits ``target``."""
    url, folder = _where(target, state_dir)
    if url is not None:
        return _pg_lock(url, advisory_key(key), busy)
    assert folder is not None
    return _file_lock(folder, filename, busy)


def _where(target: Target, state_dir: Path | None) -> tuple[URL | None, Path | None]:
    """(PostgreSQL URL, None) or (None, folder that holds the ``locks`` folder)."""
    if isinstance(target, Settings):
        if not target.state_url:
            return None, state_dir or target.state_dir
        try:
            url = make_url(target.state_url)
        except sa.exc.ArgumentError:
            raise ConfigError(
                "FBSYNC_STATE_URL is not a usable SQLAlchemy URL; use e.g. postgresql+psycopg://user@host/db."
            ) from None
        fallback: Path | None = state_dir or target.state_dir
    else:
        url = target.engine.url
        fallback = state_dir
    if url.get_backend_name() == "postgresql":
        return url, None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return None, Path(url.database).resolve().parent
    if fallback is None:
        raise ConfigError("Cannot tell where to keep lock files for this state store; pass state_dir.")
    return None, fallback


# --------------------------------------------------------------------------- file lock (one host)


def _holder_of(fd: int) -> str | None:
    """What the holder wrote in the lock file: ``pid 123 on host web-1 since …``."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096) or b"{}")
        return f"pid {int(data['pid'])} on host {data['host']} since {data['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _busy(busy: str, holder: str | None) -> LockBusy:
    """``busy`` says what is refused (``audience 'vip' is already being synced``); the holder is added."""
    by = f"held by {holder}" if holder else "held by another run"
    return LockBusy(f"{busy} ({by}); wait for that run to finish or stop it, then try again.", holder=holder)


def _lock_folder(base: Path) -> Path:
    """``<base>/locks``, created 0700 (``base`` too when it is new)."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = base / "locks"
    folder.mkdir(exist_ok=True, mode=0o700)
    try:
        os.chmod(folder, 0o700)
    except PermissionError:  # someone else's folder: the open below says whether we may use it
        pass
    return folder


@contextmanager
def _file_lock(base: Path, filename: str, busy: str) -> Iterator[None]:
    path = _lock_folder(base) / filename
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(busy, _holder_of(fd)) from None
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(me).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- PostgreSQL (every host)

_HOLDER_SQL = sa.text(
    "SELECT a.application_name, host(a.client_addr) AS addr, a.backend_start "
    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.classid::bigint = :hi AND l.objid::bigint = :lo LIMIT 1"
)


def _pg_engine(url: URL) -> sa.Engine:
    """An engine whose one connection names this process and survives long idle periods."""
    me = f"fbsync pid {os.getpid()} on {socket.gethostname()}"[:63]
    args: dict[str, Any] = {}
    if url.get_driver_name() in ("psycopg", "psycopg2"):
        args = {
            "application_name": me,
            "keepalives": 1,
            "keepalives_idle": 60,
            "keepalives_interval": 10,
            "keepalives_count": 6,
        }
    return sa.create_engine(url, poolclass=NullPool, connect_args=args)


def _pg_holder(conn: sa.Connection, key: int) -> str | None:
    """Who holds advisory lock ``key`` (best effort: pg_stat_activity may hide other roles' sessions)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    try:
        row = conn.execute(_HOLDER_SQL, {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF}).first()
    except sa.exc.DBAPIError:
        conn.rollback()
        return None
    if row is None:
        return None
    parts = [row.application_name or "a PostgreSQL session"]
    if row.addr:
        parts.append(f"connected from {row.addr}")
    if row.backend_start:
        parts.append(f"since {row.backend_start.isoformat(timespec='seconds')}")
    return " ".join(parts)


def _pg_try(engine: sa.Engine, key: int, busy: str) -> sa.Connection:
    """A connection that holds advisory lock ``key``, or :class:`LockBusy`."""
    conn: sa.Connection | None = None
    try:
        conn = engine.connect()
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        holder = None if got else _pg_holder(conn, key)
        conn.commit()  # never sit "idle in transaction" while holding the lock
    except sa.exc.DBAPIError as exc:
        if conn is not None:
            conn.close()
        raise AudienceError(
            f"Could not take the run lock on the PostgreSQL state store ({type(exc).__name__}); "
            "check FBSYNC_STATE_URL and that the server answers."
        ) from None
    if not got:
        conn.close()
        raise _busy(busy, holder)
    return conn


@contextmanager
def _pg_lock(url: URL, key: int, busy: str) -> Iterator[None]:
    engine = _pg_engine(url)
    try:
        with _pg_try(engine, key, busy) as conn:
            try:
                yield
            finally:
                try:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except sa.exc.DBAPIError:  # connection lost: the server already released the lock
                    pass
    finally:
        engine.dispose()
