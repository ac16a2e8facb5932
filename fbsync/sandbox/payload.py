"""Validating ``payload`` and ``session`` of ``/users`` and ``/usersreplace``.

Rules from docs/meta-api.md §1.5 (schema names, row shape, 10,000-row limit, which
keys are hashed, the session object) and §2 (hashes are 64 lowercase hex).
A member is kept as a dict ``{KEY: value}`` of its non-empty identifier values,
so the same row sent with the columns in another order is the same member; its
LOOKALIKE_VALUE, when kept, travels beside it (``Parsed.values``, :mod:`.valuebased`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..identity.keys import REGISTRY
from . import errors
from .params import to_bool, to_int
from .valuebased import VALUE_KEY, lookalike_value, value_required

MAX_ROWS = 10_000
MAX_SAMPLES = 100
INT64_MAX = 2**63 - 1
MULTI = "MULTI_HASHES"
SINGLE = "HASHES_OR_USER_IDS"
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# docs/meta-api.md §1.5 "schema": string schemas (single key) and list keys (multi-key).
SINGLE_KEYS = {
    "EMAIL_SHA256": True,  # True = must be a SHA-256 hex digest
    "PHONE_SHA256": True,
    "MOBILE_ADVERTISER_ID": False,
    "EXTERN_ID": False,
    "UID": False,
}
# The customer-file keys (and whether each is hashed) come from fbsync's key registry, which follows §1.5;
# the app-scoped and page-scoped user IDs are keys fbsync never sends, so only the sandbox knows them.
MULTI_KEYS = {**{k.name: k.hashed for k in REGISTRY}, "APPUID": False, "PAGEUID": False}
# Accepted in a multi-key schema but not identifiers: never stored, never matched.
ATTRIBUTE_KEYS = frozenset(
    {"LOOKALIKE_VALUE", "DATA_PROCESSING_OPTIONS", "DATA_PROCESSING_OPTIONS_COUNTRY", "DATA_PROCESSING_OPTIONS_STATE"}
)
NEEDS_IDS = {"UID": ("app_ids", "page_ids"), "APPUID": ("app_ids",), "PAGEUID": ("page_ids",)}
# Limited Data Use columns (docs/meta-api.md §8 "Limited Data Use"; G-CFCA's example ``["LDU"], 1, 1000``):
# the values each may take, "" meaning not given.  Anything else refuses the request with 100.
LDU_VALUES: dict[str, tuple[Any, ...]] = {
    "DATA_PROCESSING_OPTIONS": ([], ["LDU"]),
    "DATA_PROCESSING_OPTIONS_COUNTRY": (0, 1),
    "DATA_PROCESSING_OPTIONS_STATE": (0, 1000),
}


@dataclass
class Head:
    """A payload whose schema and row shapes are valid, before its values are checked."""

    kind: str
    schema: list[str]
    rows: list[list[Any]]


@dataclass
class Parsed:
    """A validated payload: its kind, schema, the storable members and the invalid count."""

    kind: str
    schema: list[str]
    members: list[dict[str, str]]
    received: int
    invalid: int
    samples: dict[str, str] = field(default_factory=dict)
    #: LOOKALIKE_VALUE of each member (canonical JSON text) when kept, else empty.
    values: list[str | None] = field(default_factory=list)

    @property
    def identity_keys(self) -> list[str]:
        """Schema keys that identify people (attribute columns removed)."""
        return [k for k in self.schema if k not in ATTRIBUTE_KEYS]


@dataclass
class Session:
    """The ``session`` parameter (docs/meta-api.md §1.5 "session")."""

    session_id: int
    batch_seq: int
    last_batch_flag: bool
    estimated_num_total: int | None = None


def parse_payload(raw: Any, *, value_based: bool = False, unknown_error_above: int | None = None) -> Parsed:
    """Validate ``payload`` and split its rows into storable members and invalid entries.

    ``value_based``: LOOKALIKE_VALUE is required.  A LOOKALIKE_VALUE column is validated and kept.
    """
    head = parse_head(raw, unknown_error_above=unknown_error_above)
    if value_based and VALUE_KEY not in head.schema:
        raise value_required()
    return parse_rows(head, keep_values=VALUE_KEY in head.schema)


def parse_head(raw: Any, *, unknown_error_above: int | None = None) -> Head:
    """Schema, ids and row shapes of ``payload``.

    More than 10,000 rows (or than ``unknown_error_above``, Meta's undocumented limit on large batches)
    → 1/99 (docs/meta-api.md §1.5 "Limits").
    """
    if raw is None or raw == "":
        raise errors.required("payload")
    if not isinstance(raw, dict):
        raise errors.param("Param payload must be a JSON object")
    kind, schema = _parse_schema(raw.get("schema"))
    _check_ids(schema, raw)
    data = raw.get("data")
    if not isinstance(data, list) or not data:
        raise errors.schema_mismatch()
    if len(data) > MAX_ROWS or (unknown_error_above is not None and len(data) > unknown_error_above):
        raise errors.too_many_rows()
    return Head(kind, schema, [_row(entry, schema, kind) for entry in data])


def parse_rows(head: Head, *, keep_values: bool) -> Parsed:
    """Members and invalid entries of a checked payload; ``keep_values``: validate and keep LOOKALIKE_VALUE
    (a bad value refuses the whole request with 100), else the column is ignored."""
    parsed = Parsed(head.kind, head.schema, [], len(head.rows), 0)
    _classify(head.rows, head.schema, parsed, keep_values)
    return parsed


def _parse_schema(schema: Any) -> tuple[str, list[str]]:
    if isinstance(schema, str):
        if schema not in SINGLE_KEYS:
            raise errors.param(f"Invalid schema: {schema} is not a supported schema type")
        return SINGLE, [schema]
    if not isinstance(schema, list) or not schema:
        raise errors.param("Param payload[schema] must be a schema type or a non-empty list of keys")
    for key in schema:
        if not isinstance(key, str) or (key not in MULTI_KEYS and key not in ATTRIBUTE_KEYS):
            raise errors.param(f"Invalid schema: {key} is not a supported multi-key schema field")
    if len(set(schema)) != len(schema):
        raise errors.param("Invalid schema: the same key appears more than once")
    if all(key in ATTRIBUTE_KEYS for key in schema):
        raise errors.param("Invalid schema: it has no identifier key")
    return MULTI, list(schema)


def _check_ids(schema: list[str], raw: dict[str, Any]) -> None:
    for key in schema:
        wanted = NEEDS_IDS.get(key)
        if wanted and not any(raw.get(name) for name in wanted):
            raise errors.param(f"{' or '.join(wanted)} is required in the payload for {key}")


def _row(entry: Any, schema: list[str], kind: str) -> list[Any]:
    """One data entry as a list of ``len(schema)`` values (single key: a string or ``[string]``)."""
    if kind == SINGLE and not isinstance(entry, list):
        entry = [entry]
    if not isinstance(entry, list) or len(entry) != len(schema):
        raise errors.schema_mismatch()
    return entry


def _modes(schema: list[str]) -> list[tuple[str, str]]:
    """How each column is checked: ``hash`` (64 lowercase hex), ``raw``, ``value`` (LOOKALIKE_VALUE), ``attr``."""
    modes = []
    for key in schema:
        if key == "LOOKALIKE_VALUE":
            modes.append((key, "value"))
        elif key in LDU_VALUES:
            modes.append((key, "ldu"))
        elif key in ATTRIBUTE_KEYS:
            modes.append((key, "attr"))
        else:
            modes.append((key, "hash" if SINGLE_KEYS.get(key, MULTI_KEYS.get(key, False)) else "raw"))
    return modes


def _classify(rows: list[list[Any]], schema: list[str], parsed: Parsed, keep_values: bool) -> None:
    """Keep rows whose every value is acceptable; count (and sample) the others."""
    modes = _modes(schema)
    match = HEX64.match
    for row in rows:
        member: dict[str, str] = {}
        bad: tuple[str, str] | None = None
        kept: str | None = None
        for (key, mode), value in zip(modes, row):
            if mode == "hash" and type(value) is str and (value == "" or match(value)):
                ok = True
            elif mode == "ldu":
                ok = _check_ldu(key, value)
            elif mode == "value":
                kept, ok = (lookalike_value(value) if keep_values else None), True
            else:
                ok = _acceptable(mode, value)
            if not ok:
                bad = bad or (str(value), key)
            elif value != "" and mode in ("hash", "raw"):
                member[key] = str(value)
        if bad or not member:
            parsed.invalid += 1
            if bad and len(parsed.samples) < MAX_SAMPLES:
                parsed.samples[bad[0]] = bad[1]
        else:
            parsed.members.append(member)
            if keep_values:
                parsed.values.append(kept)


def _check_ldu(key: str, value: Any) -> bool:
    """A Limited Data Use value: one of ``LDU_VALUES[key]`` (numbers also as digit strings) or ""; else 100."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if value == "" or (
        not isinstance(value, bool) and any(value == v and type(value) is type(v) for v in LDU_VALUES[key])
    ):
        return True
    allowed = " or ".join(json.dumps(v) for v in LDU_VALUES[key])
    raise errors.param(f"Invalid value {json.dumps(value)} for {key}: it must be {allowed}")


def _acceptable(mode: str, value: Any) -> bool:
    """Slow path of the per-value check (docs/meta-api.md §1.5 "Hashing", §2 lowercase hex)."""
    if mode == "attr":
        return True
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return False
    return mode == "raw"


def parse_session(raw: Any, *, needed: bool) -> Session | None:
    """Validate ``session`` (docs/meta-api.md §1.5): int64 id, batch_seq ≥ 1, boolean flag."""
    if raw is None or raw == "":
        if needed:
            raise errors.required("session")
        return None
    if not isinstance(raw, dict):
        raise errors.param("Param session must be a JSON object")
    for name in ("session_id", "batch_seq"):
        if raw.get(name) in (None, ""):
            raise errors.param(f"session[{name}] is required")
    total = raw.get("estimated_num_total")
    return Session(
        session_id=to_int(raw["session_id"], "session[session_id]", lo=1, hi=INT64_MAX),
        batch_seq=to_int(raw["batch_seq"], "session[batch_seq]", lo=1, hi=INT64_MAX),
        last_batch_flag=to_bool(raw.get("last_batch_flag", False), "session[last_batch_flag]"),
        estimated_num_total=None if total in (None, "") else to_int(total, "session[estimated_num_total]", lo=0),
    )
