"""Push-down (``hash_in_database: true``): normalize and SHA-256 Meta keys inside PostgreSQL.

:func:`plan_pushdown` decides, per Meta key, whether PostgreSQL can compute *exactly*
what :func:`fbsync.identity.hash_one` computes; :func:`rewrite` wraps the audience
query so that only hashes (and drop reasons) leave the database for those keys;
:func:`hash_chunk` turns the rewritten query's rows into the same
:class:`~fbsync.identity.HashedBatch` that :func:`~fbsync.identity.hash_batch` gives
on the original rows.  The SQL itself is built by :mod:`fbsync.sources.pushdown_sql`.  Rules, proof and
limits: ``docs/pushdown.md``.

How exactness is obtained (never "close enough"):

* Every table the SQL uses (lowercase mapping, whitespace, letters, digits, word
  characters, combining marks, country/gender/state names) is generated at import
  time from the *running* Python's ``unicodedata`` and from the identity engine's
  own tables, so the database applies Python's rules, not its locale's.  The
  database's ``lower()`` runs only under ``COLLATE "C"`` (ASCII only); other case
  mappings go through ``translate()``.
* The database's own Unicode data is used only for NFC/NFKD, and only on
  characters assigned in Unicode 3.2 (BMP), whose decompositions and combining
  classes Unicode's stability policy freezes: Python and every PostgreSQL ≥ 13
  agree on them.  A value holding any other character (emoji, recent scripts,
  ``Σ`` whose lowercase depends on context, …) is handed to Python unchanged in
  ``fbsync_p_<KEY>``: exact by construction, and rare.
* ``tests/test_pushdown.py`` checks every row of a table of tricky values and of
  the demo CRM, for every pushed key, against ``hash_one``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fbsync.errors import ConfigError
from fbsync.identity import KEYS, HashedBatch, geo
from fbsync.identity._text import EMPTY
from fbsync.identity.batch import MAX_EXAMPLES, finish, hash_column, hash_columns
from fbsync.identity.keys import BY_NAME, DISTINCT, PUSHDOWN_DATE, PUSHDOWN_PYTHON, PUSHDOWN_TEXT
from fbsync.identity.mask import mask
from fbsync.sources.pushdown_sql import BIND_PARAM, date_key, ident, text_key

TEXT_TYPES = frozenset({"text", "character varying", "character", "name", "citext"})
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
DATE_TYPES = frozenset({"date", "timestamp without time zone", "timestamp with time zone"})
#: Keys whose normalization runs in SQL when their column is text or integer (registry: pushdown "text").
TEXT_KEYS: tuple[str, ...] = PUSHDOWN_TEXT
PHONE_REASON = BY_NAME["PHONE"].python_reason
DOB_TEXT_REASON = "dates written as text come in many formats and month names; only date/timestamp columns are pushed"
SOURCE = "fbsync_src"
#: Keys whose values are nearly all distinct: normalized row by row (the others once per distinct value).
PER_ROW: frozenset[str] = DISTINCT.intersection(TEXT_KEYS)


# ----------------------------------------------------------------- database checks
def require_postgresql(dialect: str, audience: str | None = None) -> None:
    """Raise :class:`ConfigError` unless the CRM is PostgreSQL."""
    if dialect == "postgresql":
        return
    where = f" (audience {audience})" if audience else ""
    raise ConfigError(
        f"hash_in_database is only available for PostgreSQL CRMs; this CRM is {dialect}{where}, "
        "where fbsync hashes in Python: set hash_in_database to false."
    )


def check_server(conn: Any) -> None:
    """Raise :class:`ConfigError` unless the server can run the rewritten query exactly.

    Needs PostgreSQL 13+ (``normalize()``), UTF8 on both ends (the SQL carries
    non-ASCII tables) and ``standard_conforming_strings`` (backslashes in patterns).
    """

    def show(name: str) -> str:
        return str(conn.exec_driver_sql(f"SHOW {name}").scalar())

    problems = []
    version = int(show("server_version_num"))
    if version < 130000:
        problems.append(f"PostgreSQL 13 or later (this server is {version // 10000})")
    for name in ("server_encoding", "client_encoding"):
        if show(name).upper() not in ("UTF8", "UTF-8"):
            problems.append(f"{name} UTF8 (it is {show(name)})")
    if show("standard_conforming_strings") != "on":
        problems.append("standard_conforming_strings on")
    if problems:
        raise ConfigError(
            f"hash_in_database needs {', '.join(problems)}; fix the server or set hash_in_database to false."
        )


def describe(conn: Any, query: str) -> dict[str, str]:
    """The query's columns and their PostgreSQL types (``{"email": "text", …}``), without running it."""
    import sqlalchemy as sa

    inner = query.strip().rstrip(";")
    try:
        res = conn.execute(sa.text(f"SELECT * FROM ({inner}\n) AS fbsync_q LIMIT 0"))
        names = list(res.keys())
        res.close()
        if not names:
            return {}
        types = ", ".join(f"pg_typeof(fbsync_q.{ident(n)})::text" for n in names)
        row = conn.execute(
            sa.text(f"SELECT {types} FROM (SELECT 1) AS fbsync_one LEFT JOIN ({inner}\n) AS fbsync_q ON false")
        ).one()
    except sa.exc.SQLAlchemyError as exc:
        said = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        raise ConfigError(
            f"hash_in_database: cannot read the query's column types (the database said “{said}”); "
            "give every column a distinct name, or set hash_in_database to false."
        ) from None
    return dict(zip(names, row))


# ----------------------------------------------------------------- plan
@dataclass(frozen=True)
class Pushdown:
    """Which Meta keys PostgreSQL hashes (``pushed``: key → source column expression) and which stay in Python."""

    keys: dict[str, str]
    default_country: str | None
    pushed: dict[str, str] = field(default_factory=dict)
    kept: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def hash_column(key: str) -> str:
        """Value to send: 64-hex hash, raw for EXTERN_ID/MADID; NULL when dropped or sent to Python."""
        return f"fbsync_h_{key}"

    @staticmethod
    def reason_column(key: str) -> str:
        """Python's drop reason (``empty``, ``invalid email``…) when dropped, else NULL."""
        return f"fbsync_r_{key}"

    @staticmethod
    def plain_column(key: str) -> str:
        """The raw value, only for the rare rows PostgreSQL cannot prove (characters outside the tables)."""
        return f"fbsync_p_{key}"

    def kept_columns(self) -> list[str]:
        """CRM columns returned unchanged, for the keys hashed in Python."""
        return list(dict.fromkeys(self.keys[k] for k in self.kept))

    def columns(self, keep: Sequence[str] = ()) -> list[str]:
        """Every column the rewritten query returns (what ``CrmSource.stream`` should ask for)."""
        out = [c for k in self.pushed for c in (self.hash_column(k), self.reason_column(k), self.plain_column(k))]
        return out + [c for c in dict.fromkeys([*self.kept_columns(), *keep]) if c not in out]

    def summary(self) -> str:
        """One line: ``EMAIL, FN, LN hashed in PostgreSQL; PHONE in Python: …``."""
        parts = []
        if self.pushed:
            parts.append(f"{', '.join(self.pushed)} hashed in PostgreSQL")
        parts += [f"{key} in Python: {reason}" for key, reason in self.kept.items()]
        return "; ".join(parts)

    def plan_lines(self) -> list[str]:
        """Lines for ``fbsync plan``: what is hashed where, and why."""
        lines = [f"push-down: {', '.join(self.pushed) or 'nothing'} hashed in PostgreSQL"]
        lines += [f"push-down: {key} in Python: {reason}" for key, reason in self.kept.items()]
        return lines


def _resolve(column: str, types: Mapping[str, str] | None) -> tuple[str, str | None, bool]:
    """(column name as the query spells it, its type or None, found)."""
    if types is None:
        return column, None, True
    found = {name.lower(): name for name in types}
    name = found.get(column.lower())
    return (name, types[name], True) if name is not None else (column, None, False)


def plan_pushdown(
    keys: Mapping[str, str], default_country: str | None, column_types: Mapping[str, str] | None = None
) -> Pushdown:
    """Decide, per Meta key of ``keys`` (key → column), whether PostgreSQL hashes it exactly.

    ``column_types`` (from :func:`describe`) makes the choice type-aware: text and
    integer columns are pushed for text keys, date/timestamp columns for DOB keys;
    anything else stays in Python.  Without it every column is taken for text
    (the rewritten query then fails on a non-text column rather than differ).
    """
    try:
        geo.default_region(default_country)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    pushed: dict[str, str] = {}
    kept: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for key in (k for k in KEYS if k in keys):
        name, typ, found = _resolve(keys[key], column_types)
        if not found:
            raise ConfigError(f"{key}: the query returns no column {keys[key]!r}; fix the query or the keys mapping.")
        ref = f"{SOURCE}.{ident(name)}"
        if key in PUSHDOWN_PYTHON:
            kept[key] = BY_NAME[key].python_reason
        elif key in PUSHDOWN_DATE:
            if typ in DATE_TYPES:
                pushed[key], kinds[key] = ref, "date"
            else:
                kept[key] = (
                    DOB_TEXT_REASON
                    if typ is None or typ in TEXT_TYPES
                    else f"column {keys[key]!r} is {typ}; only date and timestamp columns are pushed"
                )
        elif typ is None:
            pushed[key], kinds[key] = ref, "text"
        elif typ in TEXT_TYPES or typ in INTEGER_TYPES:
            pushed[key], kinds[key] = f"{ref}::text", "text" if key in PER_ROW else "distinct"
        else:
            kept[key] = (
                f"column {keys[key]!r} is {typ}; PostgreSQL's text form of it differs from Python's, "
                "only text and integer columns are pushed"
            )
    return Pushdown(dict(keys), default_country, pushed, kept, kinds)


def _checked(key: str, sql: str) -> str:
    if "%" in sql or BIND_PARAM.search(sql):
        raise AssertionError(f"generated SQL for {key} is not safe for sqlalchemy.text")
    return sql


def rewrite(query: str, pushdown: Pushdown, *, keep: Sequence[str] = (), today: _dt.date | None = None) -> str:
    """Wrap ``query`` so PostgreSQL normalizes and hashes the pushed keys.

    Returns, per pushed key, ``fbsync_h_<KEY>`` (value to send or NULL),
    ``fbsync_r_<KEY>`` (Python's drop reason or NULL) and ``fbsync_p_<KEY>`` (the raw
    value for the rare rows left to Python, else NULL); then the columns of the keys
    kept in Python and ``keep`` (e.g. the consent column), unchanged.  Row order is
    not kept.  The SQL is meant for ``sqlalchemy.text`` (no ``:name`` binds, no
    ``%``).  ``today`` fixes the current year for DOBY's range (default: today).

    Keys with few distinct values (``kinds[key] == "distinct"``: names, cities, ZIPs…)
    are normalized once per distinct value, like the Python engine's memo: the query
    is then materialized once (``WITH … AS MATERIALIZED``) and joined back.
    """
    region = geo.default_region(pushdown.default_country)
    year = (today or _dt.date.today()).year  # noqa: DTZ011 - the same local year as the Python engine
    selects: list[str] = []
    ctes: list[str] = []
    joins: list[str] = []
    for key, source in pushdown.pushed.items():
        h, r, p = (ident(c(key)) for c in (pushdown.hash_column, pushdown.reason_column, pushdown.plain_column))
        kind = pushdown.kinds[key]
        if kind == "distinct":
            alias = f"fbsync_d_{key.lower()}"
            value = f'({source}) COLLATE "C"'
            sub = _checked(key, text_key(key, "fbsync_dv.v", region))
            ctes.append(
                f"{alias} AS (SELECT fbsync_dv.v AS fbsync_v, k.h, k.r, k.p FROM "
                f"(SELECT DISTINCT {value} AS v FROM {SOURCE} WHERE {source} IS NOT NULL) AS fbsync_dv "
                f"CROSS JOIN LATERAL ({sub}) AS k)"
            )
            joins.append(f"LEFT JOIN {alias} ON {alias}.fbsync_v = {value}")
            selects += [
                f"{alias}.h AS {h}",
                f"{alias}.p AS {p}",
                f"coalesce({alias}.r, CASE WHEN {alias}.fbsync_v IS NULL THEN '{EMPTY}' END) AS {r}",
            ]
        else:
            alias = f"fbsync_k_{key.lower()}"
            sub = date_key(key, source, year) if kind == "date" else text_key(key, source, region)
            joins.append(f"CROSS JOIN LATERAL ({_checked(key, sub)}) AS {alias}")
            selects += [f"{alias}.h AS {h}", f"{alias}.p AS {p}", f"{alias}.r AS {r}"]
    taken = {
        c.lower()
        for k in pushdown.pushed
        for c in (pushdown.hash_column(k), pushdown.reason_column(k), pushdown.plain_column(k))
    }
    for column in dict.fromkeys([*pushdown.kept_columns(), *keep]):
        if column.lower() not in taken:
            selects.append(f"{SOURCE}.{ident(column)} AS {ident(column)}")
            taken.add(column.lower())
    inner = query.strip().rstrip(";")  # the newline before ")" survives a trailing "-- comment"
    select = f"SELECT {', '.join(selects) or 'NULL AS fbsync_none'}\n"
    if not ctes:
        return select + f"FROM ({inner}\n) AS {SOURCE}\n" + "\n".join(joins)
    return (
        f"WITH {SOURCE} AS MATERIALIZED ({inner}\n),\n"
        + ",\n".join(ctes)
        + "\n"
        + select
        + f"FROM {SOURCE}\n"
        + "\n".join(joins)
    )


# ----------------------------------------------------------------- consume the rewritten rows
def hash_chunk(columns: Mapping[str, Sequence[Any]], pushdown: Pushdown) -> HashedBatch:
    """The :class:`HashedBatch` ``hash_batch`` would give on the original rows, from rewritten rows.

    ``columns`` maps the rewritten query's column names (any case) to equally long
    lists.  Pushed keys take the database's values and reasons; their rare
    ``fbsync_p_`` values and the kept keys go through the Python engine.  Masked
    examples exist only for values Python saw (the database never sends the others).
    """
    region = geo.default_region(pushdown.default_country)
    by_name = {name.lower(): values for name, values in columns.items()}
    values: dict[str, Sequence[Any]] = {}
    done: dict[str, tuple[list[str], dict[int, str]]] = {}
    for key in pushdown.pushed:
        sent = by_name[pushdown.hash_column(key).lower()]
        reasons = by_name[pushdown.reason_column(key).lower()]
        plain = list(by_name[pushdown.plain_column(key).lower()])
        out = ["" if v is None else v for v in sent]
        bad = {i: r for i, r in enumerate(reasons) if r is not None}
        rows = [i for i, v in enumerate(plain) if v is not None]
        if rows:
            sub_out, sub_bad = hash_column(key, [plain[i] for i in rows], region)
            for j, i in enumerate(rows):
                out[i] = sub_out[j]
                if j in sub_bad:
                    bad[i] = sub_bad[j]
        done[key] = (out, bad)
        values[key] = plain
    for key in pushdown.kept:
        values[key] = by_name[pushdown.keys[key].lower()]
    batch, outs, dropped = hash_columns(values, region, done)
    for key in pushdown.pushed:
        _python_examples(batch, key, values[key], done[key][1])
    return finish(batch, outs, dropped)


def _python_examples(batch: HashedBatch, key: str, plain: Sequence[Any], bad: Mapping[int, str]) -> None:
    """Masked examples for a pushed key: only from the values the database handed to Python."""
    for reason_key in [k for k in batch.examples if k[0] == key]:
        del batch.examples[reason_key]
    for index, reason in bad.items():
        if reason == EMPTY or plain[index] is None:
            continue
        bucket = batch.examples.setdefault((key, reason), [])
        masked = mask(key, plain[index])
        if len(bucket) < MAX_EXAMPLES and masked not in bucket:
            bucket.append(masked)


def plan_for(crm: Any, query: str, keys: Mapping[str, str], default_country: str | None, what: str) -> Pushdown:
    """Which keys PostgreSQL normalizes and hashes itself for this query (from its column types), after
    checking the server can; a query the database refuses is a :class:`ConfigError` naming it."""
    import sqlalchemy as sa

    with crm.read_only() as conn:
        try:
            check_server(conn)
            types = describe(conn, query)
        except sa.exc.SQLAlchemyError as exc:
            raise ConfigError(
                f"{what}: the database said “{str(getattr(exc, 'orig', exc)).splitlines()[0]}”; fix the query."
            ) from None
    return plan_pushdown(keys, default_country, types)
