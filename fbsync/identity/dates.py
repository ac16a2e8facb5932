"""Date-of-birth keys (DOBY, DOBM, DOBD) and :func:`split_date` for full-date columns.

DOC-CA: DOBY ``YYYY`` from 1900 to the current year, DOBM ``MM`` 01-12, DOBD
``DD`` 01-31.  Parts are validated separately (a DOBD of 31 with a DOBM of 02 in
another column is not cross-checked); a full date given to one part key, or to
:func:`split_date`, must be a real calendar date.
"""

from __future__ import annotations

import datetime as _dt
import re

from fbsync.identity._text import fold_ascii, is_missing, to_text

Result = tuple[str | None, str | None]
Parts = tuple[str | None, str | None, str | None]

INVALID_DATE = "invalid date"
FIRST_YEAR = 1900

_MONTH_WORDS = (
    "jan janv janvier january|feb fev fevr fevrier february|mar mars march|"
    "apr avr avril april|may mai|jun juin june|jul juil juillet july|"
    "aug aou aout august|sep sept septembre september|oct octobre october|"
    "nov novembre november|dec decembre december"
)
_MONTHS = {word: number for number, words in enumerate(_MONTH_WORDS.split("|"), start=1) for word in words.split()}

_TIME_TAIL = r"(?:[t\s].*)?"
_ISO = re.compile(rf"(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_TIME_TAIL}")
_COMPACT = re.compile(rf"(\d{{4}})(\d{{2}})(\d{{2}}){_TIME_TAIL}")
_DAY_FIRST = re.compile(rf"(\d{{1,2}})[-/.](\d{{1,2}})[-/.](\d{{4}}){_TIME_TAIL}")
_DAY_WORD = re.compile(r"(\d{1,2})(?:er|st|nd|rd|th)?[\s\-/.]*([a-z]+)\.?[\s\-/.,]*(\d{4})")
_WORD_DAY = re.compile(r"([a-z]+)\.?\s*(\d{1,2})(?:st|nd|rd|th)?,?\s*(\d{4})")
_NUMBER = re.compile(r"(\d{1,2})(?:er|st|nd|rd|th)?")
_YEAR = re.compile(r"\d{4}")


def _current_year() -> int:
    return _dt.date.today().year  # noqa: DTZ011 - the calendar year where fbsync runs, as in SQL


def _year_ok(year: int) -> bool:
    return FIRST_YEAR <= year <= _current_year()


def _parse_text(text: str) -> tuple[int, int, int] | None:
    """(year, month, day) from the formats we accept, without range checks."""
    for pattern, order in ((_ISO, "ymd"), (_COMPACT, "ymd"), (_DAY_FIRST, "dmy")):
        match = pattern.fullmatch(text)
        if match:
            values = dict(zip(order, map(int, match.groups())))
            return values["y"], values["m"], values["d"]
    match = _DAY_WORD.fullmatch(text)
    if match and match.group(2) in _MONTHS:
        return int(match.group(3)), _MONTHS[match.group(2)], int(match.group(1))
    match = _WORD_DAY.fullmatch(text)
    if match and match.group(1) in _MONTHS:
        return int(match.group(3)), _MONTHS[match.group(1)], int(match.group(2))
    return None


def split_date(value: object) -> Parts:
    """Split a full date into normalized ``(DOBY, DOBM, DOBD)``; ``(None, None, None)`` if invalid.

    Accepts ``date``/``datetime`` objects (pandas ``Timestamp`` included; the
    calendar date as stored, never shifted by time zone) and text:
    ``1985-03-07``, ``1985/03/07``, ``19850307``, ``1985-03-07T00:00:00``,
    ``07/03/1985``, ``07-03-1985``, ``07.03.1985`` (always **day first**, the French
    and European order; ``03/07/1985`` is 3 July), ``7 mars 1985``,
    ``1er janvier 1990``, ``March 7, 1985``.  The year must be 1900..this year
    (DOC-CA) and the date must exist (no 31 February).
    """
    if isinstance(value, _dt.date) and not is_missing(value):
        parts = (value.year, value.month, value.day)
    else:
        text, _ = to_text(value)
        parsed = _parse_text(fold_ascii(text)) if text else None
        if parsed is None:
            return None, None, None
        parts = parsed
    year, month, day = parts
    try:
        _dt.date(year, month, day)
    except ValueError:
        return None, None, None
    if not _year_ok(year):
        return None, None, None
    return f"{year:04d}", f"{month:02d}", f"{day:02d}"


def normalize_birth_year(text: str, region: str | None = None) -> Result:
    """DOBY: ``YYYY``, 1900 to the current year (DOC-CA).

    A full date (``1985-03-07``, ``07/03/1985``) gives its year.  Two-digit years
    (``85``) are dropped: the century would be a guess.  Differs from Meta's CAPI
    SDKs (accept ``0000``-``9999``) and PY-CA (any digits).
    """
    if _YEAR.fullmatch(text):
        return (text, None) if _year_ok(int(text)) else (None, INVALID_DATE)
    year = split_date(text)[0]
    return (year, None) if year else (None, INVALID_DATE)


def normalize_birth_month(text: str, region: str | None = None) -> Result:
    """DOBM: ``MM``, 01-12 (DOC-CA), padded: ``3`` → ``03``.

    Month names in French and English, full or abbreviated, accents and dots
    ignored (``mars``, ``Mars``, ``March``, ``févr.``, ``déc``) → their number
    (SEG converts English names only; PHP-CAPI rejects names).  A full date gives
    its month.  Out of range → "invalid date" (PY-CA pads ``13`` and sends it).
    """
    word = fold_ascii(text).rstrip(".")
    match = _NUMBER.fullmatch(word)
    if match:
        month = int(match.group(1))
        return (f"{month:02d}", None) if 1 <= month <= 12 else (None, INVALID_DATE)
    if word in _MONTHS:
        return f"{_MONTHS[word]:02d}", None
    month_text = split_date(text)[1]
    return (month_text, None) if month_text else (None, INVALID_DATE)


def normalize_birth_day(text: str, region: str | None = None) -> Result:
    """DOBD: ``DD``, 01-31 (DOC-CA), padded: ``7`` → ``07``; ``1er`` → ``01``.

    A full date gives its day.  Out of range → "invalid date" (SEG and PY-CA do
    not check the range; SEG does not pad).
    """
    match = _NUMBER.fullmatch(fold_ascii(text))
    if match:
        day = int(match.group(1))
        return (f"{day:02d}", None) if 1 <= day <= 31 else (None, INVALID_DATE)
    day_text = split_date(text)[2]
    return (day_text, None) if day_text else (None, INVALID_DATE)
