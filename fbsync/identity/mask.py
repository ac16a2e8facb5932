"""Masked examples of dropped values, for reports: enough to recognise a pattern, never the value.

``jean.dupont@example.com`` → ``j***@e***.com``; ``06 12 34 56 78`` →
``06 ** ** ** 78``; ``Frnace`` → ``Fr****``.  At least one letter or digit of the
input is always hidden, and long values are shortened, so a mask never contains
the raw value (tested for values with two or more letters or digits and no ``*``).
Control and invisible characters are written as escapes (``\\x00``, ``\\u202e``): a mask
never puts a raw NUL, escape sequence or bidi override on a terminal or in a report.
"""

from __future__ import annotations

import numbers
import unicodedata

from fbsync.identity._text import MAX_TEXT

_MAX_STARS = 8
_TLD_MAX = 6


#: Control (Cc), format (Cf: zero-width, bidi overrides), line/paragraph separators and lone surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def visible(text: str) -> str:
    """``text`` with every control or invisible character written as its escape (``\\x00``, ``\\u200b``)."""
    if text.isprintable():
        return text
    return "".join(
        c.encode("unicode_escape", "backslashreplace").decode("ascii")
        if unicodedata.category(c) in _HIDDEN_CATEGORIES
        else c
        for c in text
    )


def _shown(value: object) -> str | None:
    """Text to mask: strings and numbers; None for anything else (shown as its type)."""
    if isinstance(value, str):
        return value.strip()[:MAX_TEXT]
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    return None


def _mask_text(text: str) -> str:
    """Keep the first one or two characters, stars for the rest (at most 8)."""
    if len(text) <= 1:
        return "*"
    keep = 1 if len(text) <= 3 else 2
    return text[:keep] + "*" * min(len(text) - keep, _MAX_STARS)


def _mask_email(text: str) -> str:
    local, _, domain = text.rpartition("@")
    head, dot, tld = domain.rpartition(".")
    suffix = f".{tld}" if dot and head and 0 < len(tld) <= _TLD_MAX and tld.isalpha() else ""
    return f"{local[:1]}***@{domain[:1]}***{suffix}"


def _mask_phone(text: str) -> str:
    digits = sum(c.isdigit() for c in text)
    head, tail = (2, 2) if digits >= 8 else (1, 0)
    out, seen = [], 0
    for char in text[:40]:
        if char.isdigit():
            seen += 1
            out.append(char if seen <= head or seen > digits - tail else "*")
        else:
            out.append(char)
    return "".join(out)


def mask(key: str, value: object) -> str:
    """A masked, shortened rendering of ``value`` for key ``key`` (for drop-reason examples), with
    control characters escaped (:func:`visible`)."""
    text = _shown(value)
    if text is None:
        return f"<{type(value).__name__}>"
    if key == "EMAIL" and "@" in text:
        return visible(_mask_email(text))
    if key == "PHONE" and sum(c.isdigit() for c in text) >= 2:
        return visible(_mask_phone(text))
    return visible(_mask_text(text))
