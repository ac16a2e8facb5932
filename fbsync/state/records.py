"""The state store's records, typed: an audience fbsync manages, a run, an audience's part in a run.

:class:`~fbsync.state.store.StateStore` returns these instead of database rows; ``from_row``
tolerates what older versions wrote (JSON text in ``extra``/``summary``/``details``, naive UTC
datetimes from SQLite, loosely typed counts), so readers never parse a row themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

from ..util import as_int

Subtype = Literal["CUSTOM", "LOOKALIKE"]
RunStatus = Literal["running", "ok", "partial", "failed", "interrupted"]
AudienceRunStatus = Literal["ok", "failed", "refused", "skipped", "planned", "interrupted"]
#: A row as ``from_row`` reads it, by column name: a dict, or SQLAlchemy's ``RowMapping`` (a Mapping
#: whose keys may also be Column objects, hence ``Any`` keys).
RowLike = Mapping[Any, Any]
_RUN = ("running", "ok", "partial", "failed", "interrupted")
_AUD = ("ok", "failed", "refused", "skipped", "planned", "interrupted")


def _json_object(raw: Any) -> dict[str, Any]:
    """A JSON object from a column that holds one as text (or already as a dict); {} for anything else."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if not raw:
        return {}
    try:
        out = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _when(v: Any) -> datetime | None:
    """An aware UTC datetime (SQLite keeps them naive, in UTC); ISO text is read too."""
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v)
        except ValueError:
            return None
    if not isinstance(v, datetime):
        return None
    return v if v.tzinfo else v.replace(tzinfo=UTC)


def _status(v: Any, allowed: tuple[str, ...], default: str) -> Any:
    s = str(v or "")
    return s if s in allowed else default


@dataclass(frozen=True)
class AudienceRecord:
    """What fbsync remembers of one audience (or one lookalike tier) it manages."""

    name: str
    account_id: str | None = None
    meta_id: str | None = None
    display_name: str | None = None
    description: str | None = None
    subtype: str | None = None
    schema: tuple[str, ...] = ()  # the Meta keys the ledger's rows are in, in order
    key_id: str | None = None  # which state key wrote the ledger
    created_by_fbsync: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # lookalike spec, replace session…

    @classmethod
    def from_row(cls, row: RowLike) -> AudienceRecord:
        return cls(
            name=str(row["name"]),
            account_id=row.get("account_id"),
            meta_id=str(row["meta_id"]) if row.get("meta_id") else None,
            display_name=row.get("display_name"),
            description=row.get("description"),
            subtype=row.get("subtype"),
            schema=tuple(k for k in str(row.get("schema") or "").split(",") if k),
            key_id=row.get("key_id"),
            created_by_fbsync=bool(row.get("created_by_fbsync")),
            created_at=_when(row.get("created_at")),
            updated_at=_when(row.get("updated_at")),
            extra=_json_object(row.get("extra")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "account_id": self.account_id,
            "meta_id": self.meta_id,
            "display_name": self.display_name,
            "description": self.description,
            "subtype": self.subtype,
            "schema": ",".join(self.schema),
            "key_id": self.key_id,
            "created_by_fbsync": self.created_by_fbsync,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "extra": dict(self.extra),
        }


@dataclass(frozen=True)
class AudienceRunRecord:
    """One audience's line in one run: counts and outcome (never an identifier)."""

    run_id: int
    audience: str
    status: AudienceRunStatus
    meta_id: str | None = None
    rows_read: int = 0
    rows_dropped: int = 0
    rows_added: int = 0
    rows_removed: int = 0
    size_lower: int | None = None
    size_upper: int | None = None
    message: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # drop reasons per key, strategy, action…
    started_at: datetime | None = None  # the run's, when read with it (last_audience_run)
    finished_at: datetime | None = None

    @classmethod
    def from_row(cls, row: RowLike) -> AudienceRunRecord:
        return cls(
            run_id=as_int(row.get("run_id")) or 0,
            audience=str(row.get("audience") or ""),
            status=_status(row.get("status"), _AUD, "failed"),
            meta_id=str(row["meta_id"]) if row.get("meta_id") else None,
            rows_read=as_int(row.get("rows_read")) or 0,
            rows_dropped=as_int(row.get("rows_dropped")) or 0,
            rows_added=as_int(row.get("rows_added")) or 0,
            rows_removed=as_int(row.get("rows_removed")) or 0,
            size_lower=as_int(row.get("size_lower")),
            size_upper=as_int(row.get("size_upper")),
            message=None if row.get("message") is None else str(row.get("message")),
            details=_json_object(row.get("details")),
            started_at=_when(row.get("started_at")),
            finished_at=_when(row.get("finished_at")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The history's JSON shape (``details`` as the JSON text the store keeps)."""
        return {
            "run_id": self.run_id,
            "audience": self.audience,
            "status": self.status,
            "meta_id": self.meta_id,
            "rows_read": self.rows_read,
            "rows_dropped": self.rows_dropped,
            "rows_added": self.rows_added,
            "rows_removed": self.rows_removed,
            "size_lower": self.size_lower,
            "size_upper": self.size_upper,
            "message": self.message,
            "details": json.dumps(dict(self.details), sort_keys=True),
        }


@dataclass(frozen=True)
class RunRecord:
    """One run of one command, with each audience's line."""

    id: int
    command: str
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    config_digest: str | None = None
    user: str | None = None
    host: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    audiences: tuple[AudienceRunRecord, ...] = ()

    @classmethod
    def from_row(cls, row: RowLike) -> RunRecord:
        auds = row.get("audiences") or ()
        return cls(
            id=as_int(row.get("id")) or 0,
            command=str(row.get("command") or ""),
            status=_status(row.get("status"), _RUN, "failed"),
            started_at=_when(row.get("started_at")),
            finished_at=_when(row.get("finished_at")),
            config_digest=row.get("config_digest"),
            user=row.get("user"),
            host=row.get("host"),
            summary=_json_object(row.get("summary")),
            audiences=tuple(
                a
                if isinstance(a, AudienceRunRecord)
                else AudienceRunRecord.from_row({"run_id": row.get("id"), **cast(Mapping[str, Any], a)})
                for a in auds
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``history --json`` shape (``summary`` as the JSON text the store keeps)."""
        return {
            "id": self.id,
            "command": self.command,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "status": self.status,
            "config_digest": self.config_digest,
            "user": self.user,
            "host": self.host,
            "summary": json.dumps(dict(self.summary), sort_keys=True),
            "audiences": [a.to_dict() for a in self.audiences],
        }
