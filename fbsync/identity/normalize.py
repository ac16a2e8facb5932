"""One value at a time: :func:`normalize` and :func:`hash_one` for every Meta key.

The per-key rules, with their sources, are the docstrings of the functions in
:data:`NORMALIZERS` (and ``docs/identity.md``).  Common to all keys:

* Input: any object.  ``None``, NaN, pandas NA/NaT and blank text are *empty*
  (``(None, "empty")``), counted apart from invalid values.  Numbers become their
  digits; booleans and other objects are ``"unsupported type"``.
* Outer whitespace is trimmed, then Unicode NFC is applied (except EXTERN_ID,
  sent byte for byte), so NFD input hashes like NFC.
* A hashed key whose value already is a SHA-256 (64 hex, any case) passes through
  lowercased: the docs do not cover detection; Meta's CAPI SDKs, PB and SEG do it.
* Hash: SHA-256 of the UTF-8 bytes of the normalized value, lowercase hex
  (DOC-CA).  MADID and EXTERN_ID are sent unhashed (DOC-CA "Do not hash" /
  "Hashing not needed"); Meta's Python SDK hashes MADID, we do not.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping

from fbsync.identity import dates, geo, keys
from fbsync.identity._text import is_missing, is_sha256, sha256_hex, to_text
from fbsync.identity.keys import Normalizer

#: Meta's documented key order for multi-key schemas (DOC-CA, R-USERS), from :mod:`fbsync.identity.keys`.
KEYS: tuple[str, ...] = keys.KEYS
UNHASHED_KEYS: frozenset[str] = keys.UNHASHED
NORMALIZERS: Mapping[str, Normalizer] = keys.NORMALIZERS
DOB_PART: Mapping[str, int] = keys.DATE_PART


def check_key(key: str) -> str:
    """Return ``key`` if it is one of :data:`KEYS`, else raise ``ValueError``."""
    if key not in NORMALIZERS:
        raise ValueError(f"unknown Meta key {key!r}; expected one of {', '.join(KEYS)}")
    return key


def normalize_value(key: str, value: object, region: str | None) -> tuple[str | None, str | None, bool]:
    """``(normalized, reason, already_hashed)`` for a checked key and region."""
    if key in DOB_PART and isinstance(value, _dt.date) and not is_missing(value):
        part = dates.split_date(value)[DOB_PART[key]]
        return (part, None, False) if part else (None, dates.INVALID_DATE, False)
    text, reason = to_text(value)
    if text is None:
        return None, reason, False
    if key not in UNHASHED_KEYS and is_sha256(text):
        return text.lower(), None, True
    normalized, reason = NORMALIZERS[key](text, region)
    return normalized, reason, False


def normalize(key: str, value: object, default_country: str | None = None) -> tuple[str | None, str | None]:
    """Normalize one value for Meta key ``key``: ``(normalized, None)`` or ``(None, reason)``.

    ``default_country`` (ISO alpha-2) is the audience's country for national phone
    numbers (and US state names / ZIP+4).  An already-hashed value of a hashed
    key returns ``(lowercased hash, None)``.  Never raises for a bad *value*;
    raises ``ValueError`` for an unknown key or default country.
    """
    region = geo.default_region(default_country)
    normalized, reason, _ = normalize_value(check_key(key), value, region)
    return normalized, reason


def send_value(key: str, value: object, region: str | None) -> tuple[str | None, str | None]:
    """What goes to Meta for a checked key and region: hash, raw (MADID/EXTERN_ID) or passthrough."""
    normalized, reason, hashed = normalize_value(key, value, region)
    if normalized is None:
        return None, reason
    if hashed or key in UNHASHED_KEYS:
        return normalized, None
    return sha256_hex(normalized), None


def hash_one(key: str, value: object, default_country: str | None = None) -> tuple[str | None, str | None]:
    """The value to send for one cell: SHA-256 hex, raw for MADID/EXTERN_ID, or a passed-through hash.

    Returns ``(value, None)`` or ``(None, reason)`` like :func:`normalize`.
    """
    return send_value(check_key(key), value, geo.default_region(default_country))
