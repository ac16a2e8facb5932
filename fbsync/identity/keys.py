"""The registry of Meta's customer-file keys: every fact fbsync relies on about a key, in one place.

Each :class:`MetaKey` says how the key is normalized, whether it is hashed, whether it identifies
one person, how its column is hashed (value by value or through a memo) and whether
``hash_in_database`` can compute it in SQL.  Every consumer reads the sets derived here: the
identity engine (normalizers, hashing, worker processes), ``audiences.yaml`` validation, suppression,
``forget`` and exclusions (identifying keys), the push-down, file sources and the sandbox's
``MULTI_KEYS``.  Before, each kept its own list, and forgetting one (say the identifying keys)
silently weakened suppression.

**To add a key: one entry in** :data:`REGISTRY` **(at Meta's documented place), plus its normalizer's
tests.**  ``tests/identity/test_keys.py`` then asks for the rest: the key's row in ``docs/identity.md``,
its place in the pinned sets, and, for ``pushdown="text"``, its SQL rule in
``fbsync.sources.pushdown_sql.RULES`` (``pushdown="python"`` with a ``python_reason`` needs none).

Imports only identity's own modules and the standard library, so any module can read it without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from fbsync.identity import dates, geo, person, phone

#: ``(trimmed non-empty text, phone region or None)`` → ``(normalized, None)`` or ``(None, reason)``.
Normalizer = Callable[[str, "str | None"], "tuple[str | None, str | None]"]
#: How ``hash_in_database`` treats a key: normalized in SQL from a text/integer column, from a
#: date/timestamp column only, or never (kept in Python, for :attr:`MetaKey.python_reason`).
PushdownMode = Literal["text", "date", "python"]


@dataclass(frozen=True)
class MetaKey:
    """One Meta customer-file key and the facts every part of fbsync reads about it."""

    name: str
    #: SHA-256 before sending.  MADID and EXTERN_ID go raw (docs/meta-api.md §1.5 "Hashing").
    hashed: bool
    #: Identifies one person: suppression, ``forget`` and exclusions match on these keys only.  Names,
    #: places, dates and gender are shared by many people: matching on them would suppress every
    #: "Marie" of Paris.
    identifies: bool
    #: Values nearly all distinct: hashed value by value (by the worker processes, row by row in SQL)
    #: instead of once per distinct value through a memo that would only grow.
    distinct: bool
    pushdown: PushdownMode
    normalizer: Normalizer
    #: One line for people (the key table of ``docs/identity.md``, checked by the tests).
    description: str
    #: Index in :func:`~fbsync.identity.dates.split_date`'s (year, month, day) for the keys a date
    #: value fills; ``None`` for the others.
    date_part: int | None = None
    #: Why ``hash_in_database`` leaves the key to Python (``pushdown == "python"`` only).
    python_reason: str = ""

    def __post_init__(self) -> None:
        """Refuse an entry whose facts contradict each other (checked once, at import)."""
        if (self.pushdown == "date") != (self.date_part is not None):
            raise ValueError(f"{self.name}: pushdown 'date' goes with a date_part, and only with one")
        if (self.pushdown == "python") != bool(self.python_reason):
            raise ValueError(f"{self.name}: pushdown 'python' goes with a python_reason, and only with one")


#: In Meta's documented order for multi-key schemas (DOC-CA, R-USERS): that order IS the schema order of
#: every row fbsync sends and stores.
REGISTRY: tuple[MetaKey, ...] = (
    MetaKey(
        "EXTERN_ID",
        hashed=False,
        identifies=True,
        distinct=True,
        pushdown="text",
        normalizer=person.normalize_extern_id,
        description="your own customer ID, sent exactly as written",
    ),
    MetaKey(
        "EMAIL",
        hashed=True,
        identifies=True,
        distinct=True,
        pushdown="text",
        normalizer=person.normalize_email,
        description="email address",
    ),
    MetaKey(
        "PHONE",
        hashed=True,
        identifies=True,
        distinct=True,
        pushdown="python",
        normalizer=phone.normalize_phone,
        description="phone number, with its country code",
        python_reason="national numbers need libphonenumber's numbering plans",
    ),
    MetaKey(
        "GEN",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=person.normalize_gender,
        description="gender: m or f",
    ),
    MetaKey(
        "DOBY",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="date",
        normalizer=dates.normalize_birth_year,
        description="year of birth (YYYY)",
        date_part=0,
    ),
    MetaKey(
        "DOBM",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="date",
        normalizer=dates.normalize_birth_month,
        description="month of birth (MM)",
        date_part=1,
    ),
    MetaKey(
        "DOBD",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="date",
        normalizer=dates.normalize_birth_day,
        description="day of birth (DD)",
        date_part=2,
    ),
    MetaKey(
        "LN",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=person.normalize_name,
        description="last name",
    ),
    MetaKey(
        "FN",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=person.normalize_name,
        description="first name",
    ),
    MetaKey(
        "FI",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=person.normalize_first_initial,
        description="first initial",
    ),
    MetaKey(
        "CT",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=geo.normalize_city,
        description="city",
    ),
    MetaKey(
        "ST",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=geo.normalize_state,
        description="state, province or region",
    ),
    MetaKey(
        "ZIP",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=geo.normalize_zip,
        description="postal code",
    ),
    MetaKey(
        "MADID",
        hashed=False,
        identifies=True,
        distinct=True,
        pushdown="text",
        normalizer=person.normalize_madid,
        description="mobile advertiser ID (IDFA or AAID)",
    ),
    MetaKey(
        "COUNTRY",
        hashed=True,
        identifies=False,
        distinct=False,
        pushdown="text",
        normalizer=geo.normalize_country,
        description="country (ISO 3166-1 alpha-2)",
    ),
)

KEYS: tuple[str, ...] = tuple(k.name for k in REGISTRY)
BY_NAME: Mapping[str, MetaKey] = {k.name: k for k in REGISTRY}
if len(BY_NAME) != len(REGISTRY):
    raise ValueError("a key appears twice in REGISTRY")

HASHED: frozenset[str] = frozenset(k.name for k in REGISTRY if k.hashed)
UNHASHED: frozenset[str] = frozenset(k.name for k in REGISTRY if not k.hashed)
IDENTIFYING: frozenset[str] = frozenset(k.name for k in REGISTRY if k.identifies)
DISTINCT: frozenset[str] = frozenset(k.name for k in REGISTRY if k.distinct)
#: In Meta's order (the push-down's plans list keys in it).
PUSHDOWN_TEXT: tuple[str, ...] = tuple(k.name for k in REGISTRY if k.pushdown == "text")
PUSHDOWN_DATE: frozenset[str] = frozenset(k.name for k in REGISTRY if k.pushdown == "date")
PUSHDOWN_PYTHON: frozenset[str] = frozenset(k.name for k in REGISTRY if k.pushdown == "python")
NORMALIZERS: Mapping[str, Normalizer] = {k.name: k.normalizer for k in REGISTRY}
#: Key → index in ``split_date``'s (year, month, day), for the keys a date value fills.
DATE_PART: Mapping[str, int] = {k.name: k.date_part for k in REGISTRY if k.date_part is not None}
