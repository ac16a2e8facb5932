"""The CRM: a SQLAlchemy engine and read-only, streamed segment queries.

Every audience query runs in a transaction the *database* makes read-only
(SQLite ``PRAGMA query_only``, PostgreSQL/MySQL ``READ ONLY`` transactions), and
rows come back in chunks through a server-side cursor where the driver has one,
so a segment never sits whole in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from ..errors import ConfigError
from . import pgcopy
from .ahead import ahead

STATEMENT_TIMEOUT_S = 600


@dataclass
class Chunk:
    """Column-oriented rows: ``columns[name] -> list of values`` (all lists the same length; pyarrow arrays
    for text read through COPY when the caller asked for ``arrays``)."""

    columns: dict[str, Any]
    size: int


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


_WRITES = re.compile(
    r"^\s*(insert|update|delete|merge|upsert|replace|create|drop|alter|truncate|grant|revoke|copy|call|do|"
    r"vacuum|analyze|attach|detach|pragma|set|begin|commit|rollback|lock)\b",
    re.I,
)
_READ_ONLY_REFUSALS = ("read-only transaction", "readonly database", "read only transaction", "read only mode")


def _db_error(exc: BaseException, what: str, query: str | None = None) -> ConfigError:
    """The database's refusal as one sentence; a query that tries to write is named as such (the database, which
    runs every query in a read-only transaction, refused it; fbsync only explains)."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    writes = _WRITES.match(query or "")
    if writes or any(word in first.lower() for word in _READ_ONLY_REFUSALS):
        verb = f" starts with {writes.group(1).upper()}:" if writes else " tries to write:"
        return ConfigError(
            f"{what}: the database said “{first[:200]}”; the query{verb} fbsync runs queries "
            "read-only, so write a SELECT (or WITH … SELECT) that returns the mapped columns."
        )
    return ConfigError(f"{what}: the database said “{first[:300]}”; fix the query or the CRM URL.")


class CrmSource:
    """A CRM database reachable through one SQLAlchemy URL."""

    def __init__(
        self, url: str, *, base_dir: Path | None = None, statement_timeout: float = STATEMENT_TIMEOUT_S
    ) -> None:
        self.url = self._resolve(url, base_dir)
        self.timeout = statement_timeout
        self.copy = True  # PostgreSQL: read text columns through COPY (pgcopy.py); False: the cursor always
        try:
            self.engine: Engine = sa.create_engine(self.url, future=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                f"The CRM URL {safe_url(url)!r} is not usable ({exc.__class__.__name__}); "
                "use e.g. sqlite:///crm.db or postgresql+psycopg://user@host/db."
            ) from None
        self.dialect = self.engine.dialect.name

    @staticmethod
    def _resolve(url: str, base_dir: Path | None) -> str:
        """Relative SQLite paths are read beside the YAML; a missing SQLite file is an error, not a new DB."""
        try:
            u = make_url(url)
        except sa.exc.ArgumentError:
            raise ConfigError(
                f"The CRM URL {safe_url(url)!r} is not a SQLAlchemy URL; "
                "use e.g. sqlite:///crm.db or postgresql+psycopg://user@host/db."
            ) from None
        if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
            return url
        path = Path(u.database)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ConfigError(
                f"The CRM database file {path} does not exist; check crm.url or FBSYNC_CRM_URL "
                "(for the demo, run `make demo` to create it)."
            )
        return u.set(database=str(path)).render_as_string(hide_password=False)

    @contextmanager
    def read_only(self) -> Iterator[Connection]:
        """A connection inside a read-only transaction, enforced by the database itself."""
        try:
            conn = self.engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise _db_error(exc, f"Cannot connect to the CRM at {safe_url(self.url)}") from None
        try:
            # SQLAlchemy begins the transaction with the first statement; each of these makes it read-only.
            if self.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = 1")
            elif self.dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")
            elif self.dialect in ("mysql", "mariadb"):
                conn.exec_driver_sql("START TRANSACTION READ ONLY")
                if getattr(conn.dialect, "is_mariadb", False):
                    conn.exec_driver_sql(f"SET SESSION max_statement_time = {self.timeout:g}")
                else:
                    conn.exec_driver_sql(f"SET SESSION max_execution_time = {int(self.timeout * 1000)}")
            else:
                raise ConfigError(
                    f"fbsync reads CRMs on SQLite, PostgreSQL and MySQL/MariaDB; {self.dialect} is not supported yet."
                )
            yield conn
        finally:
            try:
                conn.rollback()
            finally:
                conn.close()

    def columns_of(self, query: str, what: str) -> list[str]:
        """The columns a query returns, without reading its rows."""
        with self.read_only() as conn:
            try:
                res = conn.execute(sa.text(f"SELECT * FROM ({query.strip().rstrip(';')}) fbsync_q WHERE 1 = 0"))
                cols = list(res.keys())
                res.close()
            except sa.exc.SQLAlchemyError as exc:
                raise _db_error(exc, what, query) from None
        return cols

    def check_columns(self, query: str, wanted: Mapping[str, str], what: str) -> None:
        """Every mapped column must be among the query's columns (case-insensitive)."""
        cols = self.columns_of(query, what)
        have = {c.lower() for c in cols}
        missing = [f"{col!r} (mapped to {key})" for key, col in wanted.items() if col.lower() not in have]
        if missing:
            raise ConfigError(
                f"{what}: the query returns no column {', '.join(missing)}; it returns "
                f"{', '.join(cols) or 'nothing'}; fix the query or the keys mapping."
            )

    def stream(
        self, query: str, columns: Sequence[str], what: str, chunk: int = 50_000, arrays: bool = False
    ) -> Iterator[Chunk]:
        """Yield the wanted columns of the query's rows, ``chunk`` rows at a time (on PostgreSQL, through
        COPY when every wanted column is text: :mod:`.pgcopy`; there, with ``arrays``, text columns come as
        pyarrow arrays for :func:`fbsync.sources.columnar.hash_members`)."""
        with self.read_only() as conn:
            names = self._copyable(conn, query, columns) if self.copy else None
            if names is not None:
                try:
                    raw = conn.connection.driver_connection
                    # read in a thread: the next chunk's COPY and parsing overlap this one's hashing
                    for part in ahead(pgcopy.chunks(raw, query, names, columns, chunk, arrays)):
                        yield Chunk(part, len(part[columns[0]]))
                except Exception as exc:  # the driver's or pyarrow's: one sentence, as for the cursor
                    if isinstance(exc, ConfigError):
                        raise
                    raise _db_error(exc, what, query) from None
                return
            try:
                res = conn.execution_options(stream_results=True, max_row_buffer=chunk).execute(
                    sa.text(query.strip().rstrip(";"))
                )
                keys = {k.lower(): i for i, k in enumerate(res.keys())}
                missing = [c for c in columns if c.lower() not in keys]
                if missing:
                    raise ConfigError(
                        f"{what}: the query returns no column {', '.join(map(repr, missing))}; "
                        "fix the query or the keys mapping."
                    )
                idx = [keys[c.lower()] for c in columns]
                while True:
                    rows = res.fetchmany(chunk)
                    if not rows:
                        break
                    yield Chunk({c: [r[i] for r in rows] for c, i in zip(columns, idx)}, len(rows))
                res.close()
            except sa.exc.SQLAlchemyError as exc:
                raise _db_error(exc, what, query) from None

    def _copyable(self, conn: Connection, query: str, columns: Sequence[str]) -> list[tuple[str, str]] | None:
        """The wanted columns' (real name, type) when COPY reads them exactly (PostgreSQL through psycopg)."""
        if self.dialect != "postgresql" or conn.dialect.driver != "psycopg" or not columns:
            return None
        from .pushdown import describe

        try:
            with conn.begin_nested():  # a failure here must not abort the read's transaction
                types = describe(conn, query)
        except (ConfigError, sa.exc.SQLAlchemyError):
            return None  # the cursor's read says what is wrong
        return pgcopy.usable(types, columns)

    def dispose(self) -> None:
        self.engine.dispose()
