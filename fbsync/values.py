"""The ``value:`` column of a value-based customer list: checked, transformed, and written as Meta's
``LOOKALIKE_VALUE``.

Meta takes any non-negative integer or decimal, with no currency and no upper bound documented
(docs/meta-api.md §1.5 "Value-based audiences", §1.7).  fbsync refuses an audience whose value column
holds what Meta would refuse (a negative number, text that is not a number, or nothing on a row that has
identifiers) before anything is sent, with how many rows and which rule; ``value_transform`` clips to
bounds (numbers, or percentiles of the audience's own values such as ``p01``/``p99``) and then takes
``ln(1 + x)`` when ``log: true``.  The value is kept in the row (so the ledger holds it): a changed value
is a changed row, removed and sent again.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .config_types import ValueTransform, percentile_of
from .identity._text import is_missing

VALUE = "LOOKALIKE_VALUE"
NO_VALUE, NOT_A_NUMBER, NEGATIVE = "no value", "not a number", "negative"
REASONS = {
    NO_VALUE: "holds nothing (NULL or empty)",
    NOT_A_NUMBER: "is not a number",
    NEGATIVE: "is negative (Meta takes 0 and more)",
}


def parse(cell: Any) -> tuple[float | None, str | None]:
    """``(number, None)`` or ``(None, reason)`` for one cell of the value column."""
    if cell is None or is_missing(cell):
        return None, NO_VALUE
    if isinstance(cell, bool):
        return None, NOT_A_NUMBER
    if isinstance(cell, (int, float, Decimal)):
        v = float(cell)
    elif isinstance(cell, str):
        t = cell.strip().replace("\u00a0", "").replace(" ", "")
        if not t:
            return None, NO_VALUE
        if "," in t and "." not in t and t.count(",") == 1:
            t = t.replace(",", ".")  # French decimals: 12,5
        try:
            v = float(t)
        except ValueError:
            return None, NOT_A_NUMBER
    else:
        try:
            v = float(cell)  # numpy numbers and the like
        except (TypeError, ValueError):
            return None, NOT_A_NUMBER
    if not math.isfinite(v):
        return None, NOT_A_NUMBER
    if v < 0:
        return None, NEGATIVE
    return v, None


def text(v: float) -> str:
    """The value as the row keeps it: at most 4 decimals, no trailing zeros (``12.5``, ``300``)."""
    out = f"{v:.4f}".rstrip("0").rstrip(".")
    return out if out not in ("", "-0") else "0"


def to_meta(cell: str) -> int | float:
    """The kept text as Meta's number."""
    v = float(cell)
    return int(v) if v.is_integer() else v


@dataclass(frozen=True)
class ValueRule:
    """How a valid value becomes the value sent: clipped to ``[lo, hi]``, then ``ln(1 + x)`` when ``log``."""

    column: str
    lo: float | None = None
    hi: float | None = None
    log: bool = False

    def apply(self, v: float) -> str:
        if self.lo is not None:
            v = max(v, self.lo)
        if self.hi is not None:
            v = min(v, self.hi)
        if self.log:
            v = math.log1p(v)
        return text(v)

    def describe(self) -> str | None:
        """One line for the plan, or None when values go as they are."""
        parts = []
        if self.lo is not None or self.hi is not None:
            lo = "−∞" if self.lo is None else f"{self.lo:,.2f}"
            hi = "+∞" if self.hi is None else f"{self.hi:,.2f}"
            parts.append(f"clipped to [{lo}, {hi}]")
        if self.log:
            parts.append("then ln(1 + value)")
        return f"{self.column}: " + " ".join(parts) if parts else None


class ValueProfile:
    """What one pass over the value column found: invalid values on rows that have identifiers, by reason,
    and the valid values (numbers only, never an identifier) for the percentiles of ``clip``."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.bad: Counter[str] = Counter()
        self.values = array("d")

    def feed(self, cells: Sequence[Any], has_ids: Iterable[bool]) -> None:
        for cell, ids in zip(cells, has_ids):
            if not ids:
                continue  # never sent: its value does not matter
            v, reason = parse(cell)
            if reason:
                self.bad[reason] += 1
            else:
                self.values.append(v)  # type: ignore[arg-type]

    def problem(self, name: str) -> str | None:
        """Why Meta would refuse this audience's values (one sentence with counts and the fix), or None."""
        if not self.bad:
            return None
        found = "; ".join(
            f"{n:,} row{'s' if n != 1 else ''} where it {REASONS[r]}" for r, n in sorted(self.bad.items())
        )
        return (
            f"audience {name}: the value column {self.column!r} must hold a number of 0 or more on every row "
            f"that has identifiers, as Meta requires: {found}; fix the query (for example COALESCE({self.column}, 0) "
            "or a WHERE clause), nothing was sent."
        )

    def rule(self, transform: ValueTransform | None) -> ValueRule:
        """The rule with its percentiles resolved on the values seen."""
        if transform is None:
            return ValueRule(self.column)
        lo = hi = None
        if transform.clip is not None:
            lo, hi = (self._bound(b) for b in transform.clip)
        return ValueRule(self.column, lo, hi, transform.log)

    def _bound(self, b: str | float) -> float | None:
        if not isinstance(b, str):
            return float(b)
        if not self.values:
            return None
        import numpy as np

        return float(np.percentile(np.frombuffer(self.values, dtype="d"), percentile_of(b)))
