"""One customer, several rows: the fan-out of several identifiers per key, and what links rows on Meta.

Meta's ``/users`` payload takes one value per key in a row and documents no multi-value form
(docs/meta-api.md §1.5), so a customer with two e-mails goes as two rows that share the other keys
(``EMAIL: [email, email_pro]``, an array column, or ``{column: emails, split: ";"}``).  :func:`expand`
makes those rows from a chunk of CRM columns and says which customer each came from.

Meta keeps people, not rows: a removal row takes off the **person** it matches, with whatever else of
theirs was uploaded.  A row that stays wanted may therefore leave Meta with a removal that shares an
identifier with it (the customer's old e-mail with the same phone; one of a customer's several
e-mails; two customers sharing a phone).  :class:`Links` tells which kept rows a removal may have
taken along, so the applier sends them again after the removals (docs/sandbox.md models this).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .config_types import MAX_VALUES_PER_KEY
from .identity._text import is_missing
from .identity.keys import IDENTIFYING

#: Column name of a fanned key's values in an expanded chunk (never a CRM column name: ``*`` is not SQL).
FANNED = "{}*"


@dataclass(frozen=True)
class Fan:
    """A key that may give one customer several values: its columns and the separator of a delimited one."""

    key: str
    columns: tuple[str, ...]
    split: str | None = None

    @property
    def column(self) -> str:
        return FANNED.format(self.key)


def values_of(cell: Any, split: str | None) -> list[Any]:
    """The values one cell holds: an array's items, a delimited text's parts, or the value itself."""
    if isinstance(cell, (list, tuple, set, frozenset)):
        items: Iterable[Any] = cell
    elif split is not None and isinstance(cell, str):
        items = cell.split(split)
    else:
        items = (cell,)
    out = (v.strip() if isinstance(v, str) else v for v in items if not is_missing(v))
    return [v for v in out if v != ""]


def expand(
    cols: Mapping[str, Sequence[Any]], fans: Sequence[Fan], size: int
) -> tuple[dict[str, list[Any]], list[int], Counter[str]]:
    """One row per value of the fanned keys, the other columns repeated on each.

    A customer with values ``[a, b]`` for one key and ``[c]`` for another gives rows ``(a, c)`` and
    ``(b, "")``: as many rows as its longest list, at most :data:`MAX_VALUES_PER_KEY`.  Returns the
    expanded columns (each fanned key under ``KEY*``), the customer (input position) of each row, and
    how many values per key were left out beyond the maximum.
    """
    per_fan: list[list[list[Any]]] = []
    over: Counter[str] = Counter()
    for fan in fans:
        lists = []
        for i in range(size):
            vals: list[Any] = []
            for c in fan.columns:
                for v in values_of(cols[c][i], fan.split):
                    if v not in vals:
                        vals.append(v)
            if len(vals) > MAX_VALUES_PER_KEY:
                over[fan.key] += len(vals) - MAX_VALUES_PER_KEY
                del vals[MAX_VALUES_PER_KEY:]
            lists.append(vals)
        per_fan.append(lists)
    width = [max([1] + [len(lists[i]) for lists in per_fan]) for i in range(size)]
    origin = [i for i in range(size) for _ in range(width[i])]
    out: dict[str, list[Any]] = {c: [vals[i] for i in origin] for c, vals in cols.items()}
    for fan, lists in zip(fans, per_fan):
        out[fan.column] = [lists[i][j] if j < len(lists[i]) else None for i in range(size) for j in range(width[i])]
    return out, origin, over


def customers_of(origin: Sequence[int], kept: Sequence[int]) -> list[int]:
    """The customer of each kept row (``kept`` indexes expanded rows; ``origin`` maps them to customers)."""
    return [origin[j] for j in kept]


def drop_customers(
    rows: list[tuple[str, ...]], owners: list[int], doomed: Iterable[int]
) -> tuple[list[tuple[str, ...]], list[int], int]:
    """The rows and owners whose customer is not ``doomed``, and how many customers went."""
    gone = set(doomed)
    if not gone:
        return rows, owners, 0
    kept = [(r, o) for r, o in zip(rows, owners) if o not in gone]
    return [r for r, _ in kept], [o for _, o in kept], len(gone)


#: The hidden last column of a fanned audience's rows: a keyed hash of the customer's identifiers.  It is
#: never sent to Meta (the applier trims it); it ties a customer's rows together in the ledger, so a customer
#: whose identifiers change has all its rows sent again, and ``forget`` finds every row of the customer.
CUSTOMER = "_customer"


def customer_tags(rows: Sequence[tuple[str, ...]], owners: Sequence[int], tag: Callable[[str], str]) -> list[str]:
    """The tag of each row: ``tag`` of the sorted values of all the rows of its customer."""
    values: dict[int, set[str]] = {}
    for row, owner in zip(rows, owners):
        values.setdefault(owner, set()).update(v for v in row if v)
    tags = {owner: tag("\x1f".join(sorted(vals))) for owner, vals in values.items()}
    return [tags[o] for o in owners]


@dataclass(frozen=True)
class Links:
    """Which values of a row may make Meta take it along with a removal: its identifying values, and (for a
    fanned audience) the tag its customer's other rows carry too."""

    identifying: tuple[int, ...]  # positions of EMAIL, PHONE, MADID, EXTERN_ID in the schema
    customer: tuple[int, ...] = ()  # position of the customer tag, when the rows carry one

    @classmethod
    def of(cls, schema: Sequence[str]) -> Links:
        ident = tuple(i for i, k in enumerate(schema) if k in IDENTIFYING)
        return cls(ident, tuple(i for i, k in enumerate(schema) if k == CUSTOMER))

    @property
    def width(self) -> int:
        """The most link keys one row can have."""
        return len(self.identifying) + len(self.customer)

    def keys_of(self, row: Sequence[str]) -> set[tuple[Any, ...]]:
        """The link keys of one row: ``(position, value)`` per identifying value, and its customer tag."""
        out: set[tuple[Any, ...]] = {(i, row[i]) for i in self.identifying if row[i]}
        out.update(("customer", row[i]) for i in self.customer if i < len(row) and row[i])
        return out

    def linked(self, row: Sequence[str], removed: set[tuple[Any, ...]]) -> bool:
        """Whether ``row`` shares a link key with the removed rows'."""
        return not removed.isdisjoint(self.keys_of(row))
