"""Row attributes Meta takes beside the identifiers: Limited Data Use (LDU) flags.

A customer-list row may carry ``DATA_PROCESSING_OPTIONS`` (``["LDU"]`` or ``[]``),
``DATA_PROCESSING_OPTIONS_COUNTRY`` (1 for the United States, else 0) and
``DATA_PROCESSING_OPTIONS_STATE`` (1000 for California, else 0); Meta applies Limited Data Use to the
rows that say so (docs/meta-api.md §8, "Limited Data Use"; Meta's Data Processing Options page).  They
identify nobody, are never hashed and never matched on; they are sent as Meta's JSON types (a list, two
integers), converted at the edge (:func:`to_meta`).  Rows keep them as text like every other cell.
"""

from __future__ import annotations

from collections.abc import Callable

OPTIONS, COUNTRY, STATE = "DATA_PROCESSING_OPTIONS", "DATA_PROCESSING_OPTIONS_COUNTRY", "DATA_PROCESSING_OPTIONS_STATE"
#: In the order they follow the identifiers in a row's schema.
ATTRIBUTE_KEYS: tuple[str, ...] = (OPTIONS, COUNTRY, STATE)
_TRUE = {"ldu", '["ldu"]', "['ldu']", "1", "true", "yes", "oui"}
_FALSE = {"", "[]", "0", "false", "no", "non", "none", "null"}


def _options(text: str) -> tuple[str | None, str | None]:
    t = text.strip().lower().replace(" ", "")
    if t in _TRUE:
        return "LDU", None
    if t in _FALSE:
        return "", None
    return None, "not LDU or empty"


def _code(allowed: dict[str, str]) -> Callable[[str], tuple[str | None, str | None]]:
    def normalize(text: str) -> tuple[str | None, str | None]:
        t = text.strip().lower()
        if t.endswith(".0"):
            t = t[:-2]
        if t in allowed:
            return allowed[t], None
        return None, "not one of " + ", ".join(sorted(set(allowed.values())))

    return normalize


NORMALIZERS: dict[str, Callable[[str], tuple[str | None, str | None]]] = {
    OPTIONS: _options,
    COUNTRY: _code({"1": "1", "us": "1", "usa": "1", "0": "0", "": "0"}),
    STATE: _code({"1000": "1000", "ca": "1000", "california": "1000", "0": "0", "": "0"}),
}


def normalize(key: str, value: object) -> tuple[str | None, str | None]:
    """``(text to keep, None)`` or ``(None, reason)`` for one attribute cell (None and NaN count as empty)."""
    text = "" if value is None or value != value else str(value)  # NaN is not equal to itself
    return NORMALIZERS[key](text)


def to_meta(key: str, text: str) -> object:
    """The cell as Meta's payload wants it: a list for the options, integers for country and state."""
    if key == OPTIONS:
        return [text] if text else []
    return int(text or 0)
