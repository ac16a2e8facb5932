"""Small helpers shared across layers."""

from __future__ import annotations

from typing import Any


def as_int(v: Any) -> int | None:
    """An int from Meta's or the state store's loosely typed values; None for None, "", booleans, junk."""
    if v is None or v == "" or isinstance(v, bool):
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None
