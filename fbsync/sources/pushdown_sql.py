"""The SQL of the push-down (:mod:`fbsync.sources.pushdown`): PostgreSQL expressions that normalize and hash
each Meta key exactly as :func:`fbsync.identity.hash_one` does.

Every table the SQL uses (lowercase mapping, whitespace, letters, digits, combining marks,
country/gender/state names) is generated here from the running Python's ``unicodedata`` and
the identity engine's own tables; :mod:`fbsync.sources.pushdown` decides which keys are pushed and
wraps the audience query.  Rules, proof and limits: ``docs/pushdown.md``.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from fbsync.identity import UNHASHED_KEYS, dates, geo, person
from fbsync.identity._text import _FOLD_SPECIAL, EMPTY, MAX_TEXT, TOO_LONG
from fbsync.identity.keys import DATE_PART

#: ``to_char`` format of each date-part key (registry ``date_part``: 0 year, 1 month, 2 day).
DOB_KEYS: dict[str, str] = {key: ("YYYY", "MM", "DD")[part] for key, part in DATE_PART.items()}


# ----------------------------------------------------------------- Unicode tables (from Python)
def ident(name: str) -> str:
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
    return (
        0 < code <= 0xFFFF
        and not 0xD800 <= code <= 0xDFFF
        and char != "\u03a3"
        and unicodedata.ucd_3_2_0.category(char) != "Cn"
    )


def _in_domain(char: str) -> bool:
    """The character, its lowercase and its folded form stay within :func:`_base_ok` characters."""
    if not _base_ok(char) or not all(map(_base_ok, char.lower())):
        return False
    folded = unicodedata.normalize("NFKD", char.lower().translate(_FOLD_SPECIAL))
    return all(_base_ok(c) and all(map(_base_ok, c.lower())) for c in folded)


@dataclass(frozen=True)
class _Unicode:
    outside: str  # bracket: a character the SQL does not handle (row goes to Python)
    upper: str  # bracket: any non-ASCII character Python lowercases to one character
    lower_chunks: tuple[tuple[str, str, str], ...]  # (gate bracket, from, to)
    space: str  # the characters str.isspace() accepts (= Python's strip() and \s)
    s: str  # bracket of space
    d: str  # bracket: \d (Unicode Nd)
    w: str  # bracket: \w (str.isalnum() or _)
    not_letter: str  # bracket: not a letter nor a mark (category L*/M*)
    marks: str  # bracket: combining class != 0 (what fold_ascii drops)


@functools.cache
def _unicode() -> _Unicode:
    bmp = [chr(c) for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    domain = [c for c in bmp if _in_domain(c)]
    known = [c for c in bmp if _base_ok(c)]
    pairs = [(c, c.lower()) for c in domain if ord(c) > 0x7F and c.lower() != c and len(c.lower()) == 1]
    chunks = tuple(
        (bracket(f), "".join(f), "".join(t)) for f, t in (zip(*pairs[i : i + 40]) for i in range(0, len(pairs), 40))
    )
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
    folded = (
        f"CASE WHEN {_ascii(low)} THEN {low} ELSE "
        f"regexp_replace(normalize({out}, NFKD), {_lit(_unicode().marks)}, '', 'g') END"
    )
    return _lower(steps, folded)


# ----------------------------------------------------------------- per-key rules
@functools.cache
def _maps() -> dict[str, str]:
    """JSON objects (folded word → normalized value) built from the identity engine's own tables."""
    country = {w: geo.normalize_country(w)[0] for w in {*geo._ALPHA2, *geo._ALPHA3, *geo._NAMES, *geo._ALIASES}}
    return {
        "COUNTRY": json.dumps({w: c for w, c in sorted(country.items()) if c}, separators=(",", ":")),
        "GEN": json.dumps(dict(sorted(person._GENDERS.items())), separators=(",", ":")),
    }


@functools.cache
def _state_map(region: str | None) -> str:
    """JSON object of :func:`fbsync.identity.geo.state_table` for ``region`` ("" when it has none)."""
    table = geo.state_table(region)
    return json.dumps(dict(sorted(table.items())), separators=(",", ":")) if table else ""


def _email(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    value = steps.let(f"normalize({_lower(steps, f'normalize({u}, NFC)')}, NFC)")
    bad = (
        set(_unicode().space)
        | set('@,;:<>()[]\\"\x7f\u200b\u200c\u200d\u2060\ufeff')
        | {chr(c) for c in range(1, 0x20)}
    )
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
    table = _state_map(region)
    if table:  # names → codes, with the table Python uses for this default country
        word = steps.let(word)
        word = f"coalesce({_lit(table)}::jsonb ->> {word}, {word})"
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
    value = (
        f"CASE WHEN {value} ~ {_lit(f'^fr?{s}*{sep}{s}*{d}{{5}}$')} THEN right({value}, 5) "
        f"WHEN {value} ~ {_lit(f'^{d}{{5}}{s}*-{s}*{d}{{4}}$')} THEN left({value}, 5) ELSE {value} END"
    )
    value = steps.let(f"regexp_replace({value}, {_lit(sep + '+')}, '', 'g')")
    if region == "US":
        value = steps.let(f"CASE WHEN {value} ~ {_lit(f'^{d}{{9}}$')} THEN left({value}, 5) ELSE {value} END")
    ok = f"{value} ~ '^[a-z0-9]{{2,10}}$' AND {value} !~ {_lit(f'^2[ab]{d}{{3}}$')}"
    return f"CASE WHEN {ok} THEN {value} END", geo.INVALID_ZIP


def _madid(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    value = steps.let(f"translate({u}, 'ABCDEF', 'abcdef')")
    uuid = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    return (
        f"CASE WHEN {value} ~ '{uuid}' AND {value} <> {_lit(person._ZERO_UUID)} THEN {value} END",
        person.INVALID_MADID,
    )


def _extern_id(steps: _Steps, u: str, region: str | None) -> tuple[str, str]:
    return u, EMPTY  # never dropped once trimmed and non-empty


RULES = {
    "EXTERN_ID": _extern_id,
    "EMAIL": _email,
    "GEN": _gender,
    "LN": _name,
    "FN": _name,
    "FI": _first_initial,
    "CT": _city,
    "ST": _state,
    "ZIP": _zip,
    "MADID": _madid,
    "COUNTRY": _country,
}
#: Keys whose rule sees every character (no case, Unicode or class tables): never sent to Python.
_ANY_TEXT = frozenset({"EXTERN_ID", "MADID"})


def text_key(key: str, source: str, region: str | None) -> str:
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
    state = (
        f"CASE WHEN {t} IS NULL OR {t} = '' THEN 'e' WHEN char_length({t}) > {MAX_TEXT} THEN 'l' "
        + (f"WHEN {t} ~ '^[0-9a-fA-F]{{64}}$' THEN 'h' " if hashed else "")
        + ("" if key in _ANY_TEXT else f"WHEN NOT {_ascii(t)} AND {t} ~ {_lit(u.outside)} THEN 'p' ")
        + "ELSE 'k' END"
    )
    st = steps.let(state, "st")
    value, reason = RULES[key](steps, t, region)
    nv = steps.let(value, "nv")
    sent = nv if key in UNHASHED_KEYS else _sha(nv)
    steps.let(f"CASE {st} WHEN 'h' THEN translate({t}, 'ABCDEF', 'abcdef') WHEN 'k' THEN {sent} END", "h")
    steps.let(
        f"CASE {st} WHEN 'e' THEN '{EMPTY}' WHEN 'l' THEN '{TOO_LONG}' "
        f"WHEN 'k' THEN CASE WHEN {nv} IS NULL THEN {_lit(reason)} END END",
        "r",
    )
    steps.let(f"CASE WHEN {st} = 'p' THEN s.x END", "p")
    return steps.sql()


def date_key(key: str, source: str, year: int) -> str:
    """DOBY/DOBM/DOBD from a date or timestamp column: ``split_date`` on the calendar date."""
    steps = _Steps()
    ok = f"extract(year FROM {source}) BETWEEN {dates.FIRST_YEAR} AND {year}"
    steps.let(f"CASE WHEN {ok} THEN {_sha(f'to_char({source}, {_lit(DOB_KEYS[key])})')} END", "h")
    steps.let(f"CASE WHEN {source} IS NULL THEN '{EMPTY}' WHEN NOT ({ok}) THEN '{dates.INVALID_DATE}' END", "r")
    steps.let("NULL::text", "p")
    return steps.sql()


BIND_PARAM = re.compile(r"(?<![:\w\\]):\w")
