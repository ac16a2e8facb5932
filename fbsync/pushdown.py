"""Push-down (``hash_in_database: true``): normalize and SHA-256 Meta keys inside PostgreSQL.

:func:`plan_pushdown` decides, per Meta key, whether PostgreSQL can compute *exactly*
what :func:`fbsync.identity.hash_one` computes; :func:`rewrite` wraps the audience
query so that only hashes (and drop reasons) leave the database for those keys;
:func:`hash_chunk` turns the rewritten query's rows into the same
:class:`~fbsync.identity.HashedBatch` that :func:`~fbsync.identity.hash_batch` gives
on the original rows.  Rules, proof and limits: ``docs/pushdown.md``.

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
import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fbsync.errors import ConfigError
from fbsync.identity import KEYS, UNHASHED_KEYS, HashedBatch, dates, geo, person
from fbsync.identity._text import _FOLD_SPECIAL, EMPTY, MAX_TEXT, TOO_LONG
from fbsync.identity.batch import MAX_EXAMPLES, finish, hash_column, hash_columns
from fbsync.identity.mask import mask

TEXT_TYPES = frozenset({"text", "character varying", "character", "name", "citext"})
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
DATE_TYPES = frozenset({"date", "timestamp without time zone", "timestamp with time zone"})
DOB_KEYS = {"DOBY": "YYYY", "DOBM": "MM", "DOBD": "DD"}
#: Keys whose normalization runs in SQL when their column is text or integer.
TEXT_KEYS = ("EXTERN_ID", "EMAIL", "GEN", "LN", "FN", "FI", "CT", "ST", "ZIP", "MADID", "COUNTRY")
PHONE_REASON = "national numbers need libphonenumber's numbering plans"
DOB_TEXT_REASON = "dates written as text come in many formats and month names; only date/timestamp columns are pushed"
SOURCE = "fbsync_src"
#: Keys whose values are nearly all distinct: normalized row by row (the others once per distinct value).
PER_ROW = frozenset({"EMAIL", "EXTERN_ID", "MADID"})


# ----------------------------------------------------------------- database checks
def require_postgresql(dialect: str, audience: str | None = None) -> None:
    """Raise :class:`ConfigError` unless the CRM is PostgreSQL."""
    if dialect == "postgresql":
        return
    where = f" (audience {audience})" if audience else ""
    raise ConfigError(f"hash_in_database is only available for PostgreSQL CRMs; this CRM is {dialect}{where}, "
                      "where fbsync hashes in Python: set hash_in_database to false.")


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
        raise ConfigError(f"hash_in_database needs {', '.join(problems)}; fix the server or set hash_in_database "
                          "to false.")


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
        types = ", ".join(f"pg_typeof(fbsync_q.{_ident(n)})::text" for n in names)
        row = conn.execute(sa.text(f"SELECT {types} FROM (SELECT 1) AS fbsync_one "
                                   f"LEFT JOIN ({inner}\n) AS fbsync_q ON false")).one()
    except sa.exc.SQLAlchemyError as exc:
        said = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        raise ConfigError(f"hash_in_database: cannot read the query's column types (the database said “{said}”); "
                          "give every column a distinct name, or set hash_in_database to false.") from None
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


def plan_pushdown(keys: Mapping[str, str], default_country: str | None,
                  column_types: Mapping[str, str] | None = None) -> Pushdown:
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
        ref = f"{SOURCE}.{_ident(name)}"
        if key == "PHONE":
            kept[key] = PHONE_REASON
        elif key in DOB_KEYS:
            if typ in DATE_TYPES:
                pushed[key], kinds[key] = ref, "date"
            else:
                kept[key] = DOB_TEXT_REASON if typ is None or typ in TEXT_TYPES else \
                    f"column {keys[key]!r} is {typ}; only date and timestamp columns are pushed"
        elif typ is None:
            pushed[key], kinds[key] = ref, "text"
        elif typ in TEXT_TYPES or typ in INTEGER_TYPES:
            pushed[key], kinds[key] = f"{ref}::text", "text" if key in PER_ROW else "distinct"
        else:
            kept[key] = (f"column {keys[key]!r} is {typ}; PostgreSQL's text form of it differs from Python's, "
                         "only text and integer columns are pushed")
    return Pushdown(dict(keys), default_country, pushed, kept, kinds)


# ----------------------------------------------------------------- Unicode tables (from Python)
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    if "\x00" in text:
        raise ValueError("NUL cannot be written in PostgreSQL text")
    return "'" + text.replace("'", "''") + "'"


def _ranges(chars: Iterable[str]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for code in sorted(set(map(ord, chars))):
        if out and out[-1][1] == code - 1:
            out[-1][1] = code
        else:
            out.append([code, code])
    return [(a, b) for a, b in out]


def _bchar(code: int) -> str:
    char = chr(code)
    return "\\" + char if char in "\\]^-[:%" else char


def bracket(chars: Iterable[str], *, negate: bool = False) -> str:
    """A PostgreSQL ARE bracket expression matching exactly ``chars`` (or everything else)."""
    items = []
    for a, b in _ranges(chars):
        if a == b:
            items.append(_bchar(a))
        elif b == a + 1:
            items += [_bchar(a), _bchar(b)]
        else:
            items.append(f"{_bchar(a)}-{_bchar(b)}")
    return "[" + ("^" if negate else "") + "".join(items) + "]"


def _base_ok(char: str) -> bool:
    """Assigned in Unicode 3.2, in the BMP, not NUL nor a surrogate, and not context-cased Σ."""
    code = ord(char)
    return (0 < code <= 0xFFFF and not 0xD800 <= code <= 0xDFFF and char != "\u03a3"
            and unicodedata.ucd_3_2_0.category(char) != "Cn")


def _in_domain(char: str) -> bool:
    """The character, its lowercase and its folded form stay within :func:`_base_ok` characters."""
    if not _base_ok(char) or not all(map(_base_ok, char.lower())):
        return False
    folded = unicodedata.normalize("NFKD", char.lower().translate(_FOLD_SPECIAL))
    return all(_base_ok(c) and all(map(_base_ok, c.lower())) for c in folded)


@dataclass(frozen=True)
class _Unicode:
    outside: str            # bracket: a character the SQL does not handle (row goes to Python)
    upper: str              # bracket: any non-ASCII character Python lowercases to one character
    lower_chunks: tuple[tuple[str, str, str], ...]   # (gate bracket, from, to)
    space: str              # the characters str.isspace() accepts (= Python's strip() and \s)
    s: str                  # bracket of space
    d: str                  # bracket: \d (Unicode Nd)
    w: str                  # bracket: \w (str.isalnum() or _)
    not_letter: str         # bracket: not a letter nor a mark (category L*/M*)
    marks: str              # bracket: combining class != 0 (what fold_ascii drops)


@functools.cache
def _unicode() -> _Unicode:
    bmp = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    domain = [c for c in bmp if _in_domain(c)]
    known = [c for c in bmp if _base_ok(c)]
    pairs = [(c, c.lower()) for c in domain if ord(c) > 0x7F and c.lower() != c and len(c.lower()) == 1]
    chunks = tuple((bracket(f), "".join(f), "".join(t)) for f, t in
                   (zip(*pairs[i:i + 40]) for i in range(0, len(pairs), 40)))
    space = "".join(c for c in bmp if c.isspace())
    return _Unicode(
        outside=bracket(domain, negate=True),
        upper=bracket(c for c, _ in pairs),
        lower_chunks=chunks,
        space=space,
        s=bracket(space),
        d=bracket(c for c in known if c.isdecimal()),
        w=bracket(c for c in known if c.isalnum() or c == "_"),
        not_letter=bracket((c for c in known if unicodedata.category(c)[0] in "LM"), negate=True),
        marks=bracket(c for c in known if unicodedata.combining(c)),
    )


# ----------------------------------------------------------------- SQL building blocks
class _Steps:
    """Nested one-row sub-selects (``OFFSET 0`` keeps PostgreSQL from inlining them), so a value
    used more than once is computed once per row; later layers see earlier ones as ``s.<name>``.

    :meth:`let` puts an expression in the innermost layer that does not define a name it uses,
    so the chain stays as shallow as its dependencies (each layer costs a sub-query scan per row).
    """

    _REF = re.compile(r"\bs\.([a-z]+[0-9]*)\b")

    def __init__(self) -> None:
        self.layers: list[list[tuple[str, str]]] = []
        self.count = 0

    def let(self, expr: str, name: str | None = None) -> str:
        if name is None:
            self.count += 1
            name = f"v{self.count}"
        used = set(self._REF.findall(expr))
        if self.layers and not used & {n for n, _ in self.layers[-1]}:
            self.layers[-1].append((name, expr))
        else:
            self.layers.append([(name, expr)])
        return f"s.{name}"

    def sql(self) -> str:
        inner = ""
        for layer in self.layers:
            cols = ", ".join(f"{expr} AS {name}" for name, expr in layer)
            inner = f"SELECT {cols} OFFSET 0" if not inner else f"SELECT s.*, {cols} FROM ({inner}) AS s OFFSET 0"
        return inner


def _sha(expr: str) -> str:
    return f"encode(sha256(convert_to({expr}, 'UTF8')), 'hex')"


def _ascii(expr: str) -> str:
    return f"(octet_length({expr}) = char_length({expr}))"


def _lower(steps: _Steps, expr: str) -> str:
    """Python's ``str.lower()`` of ``expr`` (Σ is outside the domain), as an expression to use once:
    ASCII by ``lower(COLLATE "C")``, İ by ``replace``, other letters by ``translate`` over only the
    chunks of the table the value needs (``translate`` scans its table for every character)."""
    u = _unicode()
    v = steps.let(f"replace(lower({expr} COLLATE \"C\"), 'İ', {_lit('i̇')})")
    sources = ", ".join(f"CASE WHEN {v} ~ {_lit(g)} THEN {_lit(src)} END" for g, src, _ in u.lower_chunks)
    targets = ", ".join(f"CASE WHEN {v} ~ {_lit(g)} THEN {_lit(dst)} END" for g, _, dst in u.lower_chunks)
    return f"CASE WHEN {v} ~ {_lit(u.upper)} THEN translate({v}, concat({sources}), concat({targets})) ELSE {v} END"


def _fold(steps: _Steps, expr: str) -> str:
    """``fold_ascii``: lower, special letters (ß → ss…), NFKD, drop combining marks, lower (use once)."""
    low = steps.let(_lower(steps, expr))
    special = {chr(k): v for k, v in _FOLD_SPECIAL.items()}
    singles = {k: v for k, v in special.items() if len(v) == 1}
    out = f"translate({low}, {_lit(''.join(singles))}, {_lit(''.join(singles.values()))})"
    for src, dst in special.items():
        if len(dst) != 1:
            out = f"replace({out}, {_lit(src)}, {_lit(dst)})"
    folded = (f"CASE WHEN {_ascii(low)} THEN {low} ELSE "
              f"regexp_replace(normalize({out}, NFKD), {_lit(_unicode().marks)}, '', 'g') END")
    return _lower(steps, folded)


# ----------------------------------------------------------------- per-key rules
@functools.cache
def _maps() -> dict[str, str]:
    """JSON objects (folded word → normalized value) built from the identity engine's own tables."""
    country = {w: geo.normalize_country(w)[0] for w in
               {*geo._ALPHA2, *geo._ALPHA3, *geo._NAMES, *geo._ALIASES}}
    return {
        "COUNTRY": json.dumps({w: c for w, c in sorted(country.items()) if c}, separators=(",", ":")),
        "GEN": json.dumps(dict(sorted(person._GENDERS.items())), separators=(",", ":")),
        "US": json.dumps(dict(sorted(geo._US_STATES.items())), separators=(",", ":")),
    }


def _email(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    value = steps.let(f"normalize({_lower(steps, f'normalize({u}, NFC)')}, NFC)")
    bad = set(_unicode().space) | set('@,;:<>()[]\\"\x7f\u200b\u200c\u200d\u2060\ufeff') | \
        {chr(c) for c in range(1, 0x20)}
    local, label = bracket(bad, negate=True), bracket(bad | {"."}, negate=True)
    pattern = f"^{local}+@({label}+\\.)+{label}+$"
    return f"CASE WHEN {value} ~ {_lit(pattern)} THEN {value} END", person.INVALID_EMAIL


def _letters(steps: _Steps, u: str) -> str:
    low = _lower(steps, f"normalize({u}, NFC)")
    return f"normalize(regexp_replace({low}, {_lit(_unicode().not_letter)}, '', 'g'), NFC)"


def _name(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    return f"NULLIF({_letters(steps, u)}, '')", person.INVALID_NAME


def _first_initial(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    return f"NULLIF(left({_letters(steps, u)}, 1), '')", person.INVALID_NAME


def _gender(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    word = f"regexp_replace({_fold(steps, u)}, '[^a-z]', '', 'g')"
    return f"({_lit(_maps()['GEN'])}::jsonb ->> {word})", person.UNKNOWN_GENDER


def _country(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    word = f"regexp_replace({_fold(steps, f'normalize({u}, NFC)')}, '[^a-z]', '', 'g')"
    return f"({_lit(_maps()['COUNTRY'])}::jsonb ->> {word})", geo.UNKNOWN_COUNTRY


def _state(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    word = f"regexp_replace({_fold(steps, f'normalize({u}, NFC)')}, '[^a-z0-9]', '', 'g')"
    if region == "US":
        word = steps.let(word)
        word = f"coalesce({_lit(_maps()['US'])}::jsonb ->> {word}, {word})"
    return f"NULLIF({word}, '')", geo.INVALID_STATE


def _city(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    t = _unicode()
    s, d, w = t.s, t.d, t.w
    suffix = f"{s}+(cedex({s}*{d}+)?|{d}{{1,2}}{s}*(er|e|eme|ieme)?({s}*arr(ondissement|\\.)?)?){s}*$"
    value = f"regexp_replace({_fold(steps, f'normalize({u}, NFC)')}, {_lit(suffix)}, '')"
    if region in geo._FRENCH_COMMUNES:
        saint = f"(?<!{w})st(e?)(?!{w})\\.?(?={bracket(set(t.space) | set('-.'))}|$)"
        value = f"regexp_replace({value}, {_lit(saint)}, 'saint\\1', 'g')"
    return f"NULLIF(regexp_replace({value}, '[^a-z]', '', 'g'), '')", geo.INVALID_CITY


def _zip(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    t = _unicode()
    s, d, w = t.s, t.d, t.w
    sep = bracket(set(t.space) | {"-"})
    cedex = f"{s}*(?<!{w})cedex(?!{w})[^\n]*(?=\n?$)"
    value = steps.let(f"regexp_replace({_fold(steps, f'normalize({u}, NFC)')}, {_lit(cedex)}, '')")
    value = (f"CASE WHEN {value} ~ {_lit(f'^fr?{s}*{sep}{s}*{d}{{5}}$')} THEN right({value}, 5) "
             f"WHEN {value} ~ {_lit(f'^{d}{{5}}{s}*-{s}*{d}{{4}}$')} THEN left({value}, 5) ELSE {value} END")
    value = steps.let(f"regexp_replace({value}, {_lit(sep + '+')}, '', 'g')")
    if region == "US":
        value = steps.let(f"CASE WHEN {value} ~ {_lit(f'^{d}{{9}}$')} THEN left({value}, 5) ELSE {value} END")
    ok = f"{value} ~ '^[a-z0-9]{{2,10}}$' AND {value} !~ {_lit(f'^2[ab]{d}{{3}}$')}"
    return f"CASE WHEN {ok} THEN {value} END", geo.INVALID_ZIP


def _madid(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    value = steps.let(f"translate({u}, 'ABCDEF', 'abcdef')")
    uuid = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    return (f"CASE WHEN {value} ~ '{uuid}' AND {value} <> {_lit(person._ZERO_UUID)} THEN {value} END",
            person.INVALID_MADID)


def _extern_id(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    return u, EMPTY  # never dropped once trimmed and non-empty


RULES = {
    "EXTERN_ID": _extern_id, "EMAIL": _email, "GEN": _gender, "LN": _name, "FN": _name,
    "FI": _first_initial, "CT": _city, "ST": _state, "ZIP": _zip, "MADID": _madid, "COUNTRY": _country,
}
#: Keys whose rule sees every character (no case, Unicode or class tables): never sent to Python.
_ANY_TEXT = frozenset({"EXTERN_ID", "MADID"})


def _text_key(key: str, source: str, region: str | None) -> str:
    """The sub-select computing ``h``, ``r``, ``p`` for one text key.

    ``st`` classifies the trimmed value like ``to_text``/``normalize_value`` do: ``e`` empty,
    ``l`` too long, ``h`` already a SHA-256, ``p`` needs Python, ``k`` normalized here.  The
    rule runs on every row (cheaper than another layer); only ``k`` rows use its result.
    """
    u = _unicode()
    steps = _Steps()
    steps.let(source, "x")
    t = steps.let(f"btrim({source}, {_lit(u.space)})", "t")
    hashed = key not in UNHASHED_KEYS
    state = (f"CASE WHEN {t} IS NULL OR {t} = '' THEN 'e' WHEN char_length({t}) > {MAX_TEXT} THEN 'l' "
             + (f"WHEN {t} ~ '^[0-9a-fA-F]{{64}}$' THEN 'h' " if hashed else "")
             + ("" if key in _ANY_TEXT else f"WHEN NOT {_ascii(t)} AND {t} ~ {_lit(u.outside)} THEN 'p' ")
             + "ELSE 'k' END")
    st = steps.let(state, "st")
    value, reason = RULES[key](steps, t, region)
    nv = steps.let(value, "nv")
    sent = nv if key in UNHASHED_KEYS else _sha(nv)
    steps.let(f"CASE {st} WHEN 'h' THEN translate({t}, 'ABCDEF', 'abcdef') WHEN 'k' THEN {sent} END", "h")
    steps.let(f"CASE {st} WHEN 'e' THEN '{EMPTY}' WHEN 'l' THEN '{TOO_LONG}' "
              f"WHEN 'k' THEN CASE WHEN {nv} IS NULL THEN {_lit(reason)} END END", "r")
    steps.let(f"CASE WHEN {st} = 'p' THEN s.x END", "p")
    return steps.sql()


def _date_key(key: str, source: str, year: int) -> str:
    """DOBY/DOBM/DOBD from a date or timestamp column: ``split_date`` on the calendar date."""
    steps = _Steps()
    ok = f"extract(year FROM {source}) BETWEEN {dates.FIRST_YEAR} AND {year}"
    steps.let(f"CASE WHEN {ok} THEN {_sha(f'to_char({source}, {_lit(DOB_KEYS[key])})')} END", "h")
    steps.let(f"CASE WHEN {source} IS NULL THEN '{EMPTY}' WHEN NOT ({ok}) THEN '{dates.INVALID_DATE}' END", "r")
    steps.let("NULL::text", "p")
    return steps.sql()


_BIND = re.compile(r"(?<![:\w\\]):\w")


def _checked(key: str, sql: str) -> str:
    if "%" in sql or _BIND.search(sql):
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
    year = (today or _dt.date.today()).year
    selects: list[str] = []
    ctes: list[str] = []
    joins: list[str] = []
    for key, source in pushdown.pushed.items():
        h, r, p = (_ident(c(key)) for c in (pushdown.hash_column, pushdown.reason_column, pushdown.plain_column))
        kind = pushdown.kinds[key]
        if kind == "distinct":
            alias = f"fbsync_d_{key.lower()}"
            value = f"({source}) COLLATE \"C\""
            sub = _checked(key, _text_key(key, "fbsync_dv.v", region))
            ctes.append(f"{alias} AS (SELECT fbsync_dv.v AS fbsync_v, k.h, k.r, k.p FROM "
                        f"(SELECT DISTINCT {value} AS v FROM {SOURCE} WHERE {source} IS NOT NULL) AS fbsync_dv "
                        f"CROSS JOIN LATERAL ({sub}) AS k)")
            joins.append(f"LEFT JOIN {alias} ON {alias}.fbsync_v = {value}")
            selects += [f"{alias}.h AS {h}", f"{alias}.p AS {p}",
                        f"coalesce({alias}.r, CASE WHEN {alias}.fbsync_v IS NULL THEN '{EMPTY}' END) AS {r}"]
        else:
            alias = f"fbsync_k_{key.lower()}"
            sub = _date_key(key, source, year) if kind == "date" else _text_key(key, source, region)
            joins.append(f"CROSS JOIN LATERAL ({_checked(key, sub)}) AS {alias}")
            selects += [f"{alias}.h AS {h}", f"{alias}.p AS {p}", f"{alias}.r AS {r}"]
    taken = {c.lower() for k in pushdown.pushed for c in (pushdown.hash_column(k), pushdown.reason_column(k),
                                                           pushdown.plain_column(k))}
    for column in dict.fromkeys([*pushdown.kept_columns(), *keep]):
        if column.lower() not in taken:
            selects.append(f"{SOURCE}.{_ident(column)} AS {_ident(column)}")
            taken.add(column.lower())
    inner = query.strip().rstrip(";")   # the newline before ")" survives a trailing "-- comment"
    select = f"SELECT {', '.join(selects) or 'NULL AS fbsync_none'}\n"
    if not ctes:
        return select + f"FROM ({inner}\n) AS {SOURCE}\n" + "\n".join(joins)
    return (f"WITH {SOURCE} AS MATERIALIZED ({inner}\n),\n" + ",\n".join(ctes) + "\n" + select
            + f"FROM {SOURCE}\n" + "\n".join(joins))


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
