"""Shared text helpers for the identity engine: value → text, folding, reasons, SHA-256.

Only stdlib.  Every function here is pure.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import hashlib
import math
import numbers
import re
import unicodedata

# --- drop reasons (short, stable strings; users see them in run reports) ---------
EMPTY = "empty"
UNSUPPORTED = "unsupported type"
INVALID_TEXT = "invalid text"
TOO_LONG = "too long"

#: Longest text we look at; longer cells are junk (a pasted document, a blob).
MAX_TEXT = 1000

_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
_NA_TYPES = frozenset({"NAType", "NaTType", "NoneType"})

# Letters NFKD does not split into base + mark.  Lowercase forms only (we lower first).
_FOLD_SPECIAL = str.maketrans(
    {
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ŀ": "l",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "n",
        "ĸ": "k",
    }
)


def is_sha256(text: str) -> bool:
    """True for 64 hex characters, any case (an already-hashed value)."""
    return len(text) == 64 and _SHA256_RE.fullmatch(text) is not None


def sha256_hex(text: str) -> str:
    """SHA-256 of the UTF-8 bytes, lowercase hex (Meta DOC-CA "Hashing")."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def nfc(text: str) -> str:
    """Unicode NFC, so NFD input (macOS, some CRMs) hashes like NFC (Meta's Valéry vector is NFC)."""
    if text.isascii() or unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def fold_ascii(text: str) -> str:
    """Lowercase and transliterate to ASCII where a Roman equivalent exists.

    ``Saint-Étienne`` → ``saint-etienne``, ``Œuf`` → ``oeuf``, ``ﬁ`` → ``fi``.
    Characters with no Roman form (``東京``) are kept; callers filter them.
    """
    low = text.lower()
    if low.isascii():
        return low
    low = low.translate(_FOLD_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", low)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def is_missing(value: object) -> bool:
    """None, NaN (float, Decimal, numpy), pandas NA and NaT."""
    if type(value).__name__ in _NA_TYPES:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, decimal.Decimal):
        return value.is_nan()
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        try:
            return bool(value != value)  # numpy.float32 NaN and friends
        except (TypeError, ValueError):
            return False
    return False


def _number_text(value: object) -> str | None:
    """Integral numbers → their digits (75008.0 → "75008"); other reals → repr; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, decimal.Decimal):
        if value.is_infinite():
            return None
        return str(int(value)) if value == value.to_integral_value() else str(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isinf(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    return None


def to_text(value: object) -> tuple[str | None, str | None]:
    """Turn one cell into text: ``(text, None)`` or ``(None, reason)``.

    Missing cells (None, NaN, pandas NA/NaT, blank text) give ``(None, "empty")``.
    Numbers become their digits (spreadsheets store ZIP and phone as numbers).
    Booleans, containers and other objects give ``"unsupported type"``: never guessed.
    Outer whitespace is removed; nothing else is changed here.
    """
    if isinstance(value, str):
        text = value
    elif value is None or is_missing(value):
        return None, EMPTY
    elif isinstance(value, (bytes, bytearray, memoryview)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None, INVALID_TEXT
    elif isinstance(value, (_dt.date, _dt.time, _dt.timedelta)):
        return None, UNSUPPORTED
    else:
        number = _number_text(value)
        if number is None:
            return None, UNSUPPORTED
        text = number
    return clean_text(text)


def clean_text(text: str) -> tuple[str | None, str | None]:
    """Strip outer whitespace; reject blank, over-long and un-encodable text."""
    text = text.strip()
    if not text:
        return None, EMPTY
    if len(text) > MAX_TEXT:
        return None, TOO_LONG
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates cannot be hashed as UTF-8
            return None, INVALID_TEXT
    return text, None
