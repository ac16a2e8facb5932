"""The run history as the HTML report draws it: one series of points per audience.  Pure.

:func:`audience_series` turns :class:`~fbsync.state.records.RunRecord` s into :class:`AudienceSeries`, each
point one audience in one run, with the match rate's denominator (the rows fbsync holds as sent to
Meta) worked out from the history.  Messages are scrubbed of anything e-mail- or hash-like.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import redact
from ..results import match_range
from ..state.records import RunRecord
from ..util import as_int

_SAFE_ID = re.compile(r"[^a-z0-9_-]+")


def utc(v: Any) -> datetime | None:
    """A run timestamp as an aware UTC datetime (SQLite gives naive UTC ones, JSON gives strings)."""
    if v is None or v == "":
        return None
    if isinstance(v, str):
        try:
            v = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(v, datetime):
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def scrub(text: Any) -> str:
    """Free text (messages) through the one redaction path: the page holds counts only."""
    return redact.scrub(text)


def size_or_none(v: Any) -> int | None:
    """Meta answers -1 (or nothing) when it has no estimate."""
    n = as_int(v)
    return n if n is not None and n >= 0 else None


@dataclass
class Point:
    """One audience in one run."""

    run_id: int
    when: datetime | None
    status: str
    run_status: str
    meta_id: str | None
    read: int
    dropped: int  # rows not sent: no consent + no usable identifier
    no_consent: int
    added: int  # for a replace run: the rows sent by /usersreplace
    removed: int
    lower: int | None
    upper: int | None
    strategy: str
    action: str
    drops: dict[str, dict[str, int]]
    empty: dict[str, int]
    message: str
    desired: int | None = None  # rows the run meant Meta to hold, when the run recorded it
    held: int | None = None  # rows fbsync holds as sent to Meta after this run (its ledger)
    held_exact: bool = True  # False: read − dropped, an upper bound (duplicates are merged)
    invalid_on_meta: int = 0  # entries Meta counted invalid (num_invalid_entries; a range's lower bound)
    invalid_samples: tuple[str, ...] = ()  # Meta's samples of them, masked before they were recorded
    gates: tuple[dict[str, Any], ...] = ()  # the data-quality gates measured in this run (quality.Gate.to_dict())
    people: int | None = None  # the most people the rows sent can be (a customer with several rows counts once)
    keys: dict[str, dict[str, float]] = field(default_factory=dict)  # key -> rows, share, alone (run details)

    @property
    def replace(self) -> bool:
        return self.strategy == "replace"

    @property
    def no_identifier(self) -> int:
        return max(0, self.dropped - self.no_consent)

    @property
    def base(self) -> int | None:
        """The match rate's denominator: the people the run sent when it recorded them, else the rows held."""
        return self.people if self.people and self.status == "ok" else self.held

    @property
    def base_exact(self) -> bool:
        return bool(self.people and self.status == "ok") or self.held_exact

    @property
    def match(self) -> tuple[float, float] | None:
        return match_range(self.lower, self.upper, self.base)


@dataclass
class AudienceSeries:
    name: str
    anchor: str
    display_name: str | None = None
    points: list[Point] = field(default_factory=list)  # oldest first

    @property
    def latest(self) -> Point:
        return self.points[-1]


def counts(d: Any) -> dict[str, int]:
    if not isinstance(d, dict):
        return {}
    return {str(k): n for k, v in d.items() if (n := as_int(v)) is not None}


def _keys(raw: Any) -> dict[str, dict[str, float]]:
    """A run's key coverage (``details.keys``) with only numbers kept: key -> rows, share, alone."""
    if not isinstance(raw, dict):
        return {}
    out: dict[str, dict[str, float]] = {}
    for k, v in raw.items():
        if isinstance(v, dict):
            nums = {f: float(x) for f in ("rows", "share", "alone") if isinstance(x := v.get(f), (int, float))}
            if "rows" in nums:
                out[str(k)] = nums
    return out


def audience_series(runs: Sequence[RunRecord], display_names: Mapping[str, str]) -> list[AudienceSeries]:
    by_name: dict[str, AudienceSeries] = {}
    for run in sorted(runs, key=lambda r: r.id):
        for a in run.audiences:
            d = a.details
            drops_raw = d.get("drops")
            if not isinstance(drops_raw, dict):
                drops_raw = {}
            drops = {str(k): c for k, v in sorted(drops_raw.items()) if (c := counts(v))}
            p = Point(
                run_id=run.id,
                when=utc(run.started_at),
                status=a.status,
                run_status=run.status,
                meta_id=a.meta_id,
                read=a.rows_read,
                dropped=a.rows_dropped,
                no_consent=as_int(d.get("no_consent")) or 0,
                added=a.rows_added,
                removed=a.rows_removed,
                lower=size_or_none(a.size_lower),
                upper=size_or_none(a.size_upper),
                strategy=str(d.get("strategy") or "diff"),
                action=str(d.get("action") or ""),
                drops=drops,
                empty=counts(d.get("empty")),
                message=scrub(a.message),
                desired=as_int(d.get("desired", d.get("rows_desired"))),
                invalid_on_meta=as_int(d.get("invalid_on_meta")) or 0,
                invalid_samples=tuple(scrub(str(x)) for x in d.get("invalid_samples") or () if isinstance(x, str)),
                gates=tuple(
                    g for g in d.get("quality") or () if isinstance(g, dict) and isinstance(g.get("name"), str)
                ),
                people=as_int(d.get("people")),
                keys=_keys(d.get("keys")),
            )
            if a.audience not in by_name:
                by_name[a.audience] = AudienceSeries(a.audience, "", display_names.get(a.audience))
            by_name[a.audience].points.append(p)
    out = [by_name[n] for n in sorted(by_name)]
    used: set[str] = set()
    for s in out:
        base = "aud-" + (_SAFE_ID.sub("-", s.name.lower()).strip("-") or "x")
        anchor, i = base, 2
        while anchor in used:
            anchor, i = f"{base}-{i}", i + 1
        used.add(anchor)
        s.anchor = anchor
        fill_held(s.points)
    return out


def fill_held(points: list[Point]) -> None:
    """The match rate's denominator: the rows fbsync has sent and not removed (its ledger) after each run.

    Exact when the run recorded it (details ``desired``), or when the history shows where the ledger
    started: a run that created the audience (empty ledger) or a finished replace (the replaced rows),
    then every later run's adds minus removes (only acknowledged batches are counted, so a failed run
    counts too).  A replace that did not finish leaves the ledger as it was; the run that resumes it
    sends only the rest, so the count is lost there.  Where it is unknown, it falls back to rows read
    minus rows dropped for a successful run: an upper bound, since duplicate rows are merged before sending.
    """
    ledger: int | None = None
    resumed = False  # an unfinished replace: the next replace run sends only the rest
    for p in points:
        if p.desired is not None and p.status == "ok":
            ledger = p.desired
        elif p.replace:
            if p.status == "ok":
                ledger = None if resumed else p.added
                resumed = False
            else:
                resumed = True
        elif p.action == "created":
            ledger = p.added - p.removed
        elif ledger is not None:
            ledger += p.added - p.removed
        if ledger is not None and ledger < 0:
            ledger = None
        if ledger is not None:
            p.held, p.held_exact = ledger, True
        elif p.status == "ok" and p.read:
            p.held, p.held_exact = max(0, p.read - p.dropped), False
