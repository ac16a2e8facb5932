"""Typed results: what one run did, audience by audience (also the ``--json`` shape).

Each step returns its own frozen part (:class:`ReadResult` from reading, :class:`Sent` from the
applier or the plan, :class:`MetaSize` from the read-back) and :class:`AudienceResult` is their sum,
built once per audience.  Renderers (:mod:`fbsync.render`), the run log and the public API read
these; nothing parses a status back from text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .planning import Plan

AudienceStatus = Literal["ok", "failed", "refused", "skipped", "planned", "interrupted"]
RunStatus = Literal["running", "ok", "partial", "failed", "interrupted"]
Action = Literal["create", "update", "unchanged", "created", "updated", "skipped"]
Strategy = Literal["diff", "replace"]
AdSetStatus = Literal["ok", "updated", "planned", "skipped", "failed"]
OrphanAction = Literal["orphan", "pruned", "prune failed", "kept (upload)"]
#: The name and version of the run's JSON shape (docs/summary.md): a removed or renamed field makes a new version.
RUN_SCHEMA = "fbsync.run/1"
#: Statuses that make a run exit with code 1 (an audience failed, was refused or did not finish).
FAILED: frozenset[str] = frozenset({"failed", "refused", "interrupted"})

_LEFT_OUT = ("rows_no_consent", "rows_suppressed", "rows_excluded", "rows_not_intersecting", "rows_dropped")


@dataclass(frozen=True)
class ReadResult:
    """What reading one audience's rows gave: counts by reason, per-key drops, masked examples."""

    rows_read: int = 0
    rows_no_consent: int = 0
    rows_suppressed: int = 0  # opt-outs and forgotten people (suppression)
    rows_excluded: int = 0  # shared an identifier with an audience of `exclude`
    rows_not_intersecting: int = 0  # shared none with one of the `intersect` audiences
    rows_dropped: int = 0  # no usable identifier
    rows_duplicate: int = 0
    rows_desired: int = 0
    drops: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    empty: Mapping[str, int] = field(default_factory=dict)
    examples: Mapping[str, Sequence[str]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # how the rows were read (the push-down's plan)
    rows_staged: int = 0  # rows kept to send, before identical ones were merged (the key shares' base)
    carrying: Mapping[str, int] = field(default_factory=dict)  # key -> rows kept that carry it
    alone: Mapping[str, int] = field(default_factory=dict)  # key -> rows kept it alone identifies

    @property
    def rows_left_out(self) -> int:
        """Rows read but not sent: no consent, suppressed, excluded, outside an intersect, no usable key."""
        return sum(getattr(self, f) for f in _LEFT_OUT)

    @property
    def people(self) -> int:
        """The most people the rows kept can be on Meta: a CRM record with several identifiers (several rows)
        is one customer, and identical rows are one person; the match rate's denominator."""
        return max(0, min(self.rows_desired, self.rows_read - self.rows_left_out))

    def key_coverage(self) -> dict[str, dict[str, float | int]]:
        """Per identifier: rows carrying it, their share of the rows kept, and the rows it alone identifies
        (without it they could not match at all)."""
        base = self.rows_staged or 1
        return {
            k: {"rows": n, "share": round(n / base, 4), "alone": int(self.alone.get(k, 0))}
            for k, n in self.carrying.items()
        }

    @property
    def best_key(self) -> str | None:
        """The key that adds the most matches: the one that alone identifies the most rows (the most carried
        when every row has several)."""
        if not self.carrying:
            return None
        return max(self.carrying, key=lambda k: (self.alone.get(k, 0), self.carrying[k]))


@dataclass(frozen=True)
class Sent:
    """Rows sent to Meta (or, in a plan, to be sent), and what Meta said of them."""

    added: int = 0
    removed: int = 0
    replaced: int = 0
    invalid_on_meta: int = 0
    resent: int = 0  # of ``added``: kept rows sent again because a removal shares an identifier with them

    def __add__(self, other: Sent) -> Sent:
        return Sent(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Sent)))


@dataclass(frozen=True)
class MetaSize:
    """What Meta says of an audience after the run: size bounds and delivery status."""

    lower: int | None = None
    upper: int | None = None
    delivery: str | None = None
    operation: str | None = None  # Meta's operation_status in one sentence, when a person should know it
    code: int | None = None  # Meta's operation_status code (200 normal, 100 expiring, 450 out of date…)


@dataclass(frozen=True)
class AudienceResult:
    """What happened to one audience in one run."""

    name: str
    status: AudienceStatus = "ok"
    meta_id: str | None = None
    action: Action = "unchanged"
    updated: tuple[str, ...] = ()  # fields an "update" changes (name, description)
    tiers: int = 0  # lookalike tiers a "create" makes
    strategy: Strategy = "diff"
    read: ReadResult | None = None  # None: nothing was read (lookalikes, forget, purge)
    sent: Sent = Sent()
    size: MetaSize = MetaSize()
    message: str | None = None
    notes: tuple[str, ...] = ()
    record: Mapping[str, Any] = field(default_factory=dict)  # extra facts for the run history (upload's file…)
    gates: tuple[Mapping[str, Any], ...] = ()  # the data-quality gates measured (quality.Gate.to_dict())
    seconds: float | None = None  # how long the audience took in this run
    api: Mapping[str, float] = field(default_factory=dict)  # its Marketing API calls, retries, waits, usage
    account: str | None = None  # the ad account (``name`` is then the state's slot: ``vip@act_…`` off the home one)
    sharing: Mapping[str, Any] = field(default_factory=dict)  # share_with: accounts shared, unshared, refused

    @property
    def action_text(self) -> str:
        """``created``, ``update name, description``, ``create 3 tiers``…"""
        if self.action == "update" and self.updated:
            return "update " + ", ".join(self.updated)
        if self.action == "create" and self.tiers:
            return f"create {self.tiers} tier{'s' if self.tiers != 1 else ''}"
        return self.action

    @property
    def failed(self) -> bool:
        return self.status in FAILED

    @property
    def match_rate(self) -> tuple[float, float] | None:
        """Meta's size after the run over the people sent (a range, as Meta's size is one), or None when
        either is unknown (a plan, a lookalike, a failed run, no estimate from Meta)."""
        return match_range(self.size.lower, self.size.upper, self.read.people if self.read else 0)

    def to_dict(self) -> dict[str, Any]:
        r = self.read or ReadResult()
        rate = self.match_rate if self.status == "ok" else None
        return {
            "name": self.name,
            "account": self.account,
            "status": self.status,
            "meta_id": self.meta_id,
            "action": self.action_text,
            "strategy": self.strategy,
            "rows_read": r.rows_read,
            "rows_no_consent": r.rows_no_consent,
            "rows_suppressed": r.rows_suppressed,
            "rows_excluded": r.rows_excluded,
            "rows_not_intersecting": r.rows_not_intersecting,
            "rows_dropped": r.rows_dropped,
            "rows_duplicate": r.rows_duplicate,
            "rows_left_out": r.rows_left_out,
            "rows_desired": r.rows_desired,
            "added": self.sent.added,
            "removed": self.sent.removed,
            "replaced": self.sent.replaced,
            "invalid_on_meta": self.sent.invalid_on_meta,
            "resent": self.sent.resent,
            "size_lower": self.size.lower,
            "size_upper": self.size.upper,
            "delivery": self.size.delivery,
            "drops": {k: dict(v) for k, v in r.drops.items()},
            "empty": dict(r.empty),
            "examples": {k: list(v) for k, v in r.examples.items()},
            "message": self.message,
            "notes": list(r.notes) + list(self.notes),
            "quality": [dict(g) for g in self.gates],
            "people": r.people,
            "keys": r.key_coverage(),
            "best_key": r.best_key,
            "match_rate": round(sum(rate) / 2, 4) if rate else None,
            "match_range": [round(x, 4) for x in rate] if rate else None,
            "operation_status": self.size.code,
            "seconds": round(self.seconds, 3) if self.seconds is not None else None,
            "api": dict(self.api),
            "sharing": dict(self.sharing),
        }


def match_range(lower: int | None, upper: int | None, people: int | None) -> tuple[float, float] | None:
    """Meta's size bounds over the people sent, each capped at 1 (Meta rounds its estimates), or None."""
    if lower is None or lower < 0 or not people:
        return None
    hi = upper if upper is not None and upper >= lower else lower
    return min(1.0, lower / people), min(1.0, hi / people)


def planned(done: AudienceResult, p: Plan, *, dry_run: bool) -> AudienceResult:
    """The result of a plan (dry run), or of a sync the plan refused (shrink guard, empty replace, limits)."""
    if not dry_run:
        return replace(done, status="refused", message=p.refused)
    action: Action = "create" if p.create else ("update" if p.update else "unchanged")
    return replace(
        done,
        status="refused" if p.refused else "planned",
        message=p.refused,
        action=action,
        updated=tuple(p.update),
        sent=Sent(p.adds, p.removes, p.replace_rows, resent=p.resent),
    )


@dataclass(frozen=True)
class AdSetResult:
    """One ad set's targeting change: the ids added to and removed from each audience list."""

    id: str
    status: AdSetStatus = "ok"
    name: str | None = None
    changes: Mapping[str, Sequence[str]] = field(default_factory=dict)
    message: str | None = None
    notes: tuple[str, ...] = ()  # what a special-category campaign refuses, and whether Advantage+ audience is on

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "changes": {k: list(v) for k, v in self.changes.items()},
        }
        if self.name is not None:
            out["name"] = self.name
        if self.message is not None:
            out["message"] = self.message
        if self.notes:
            out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class OrphanResult:
    """An audience fbsync created that the YAML no longer declares: listed, or deleted by ``--prune``."""

    name: str
    meta_id: str
    display_name: str | None
    action: OrphanAction = "orphan"
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "meta_id": self.meta_id,
            "display_name": self.display_name,
            "action": self.action,
        }
        if self.message is not None:
            out["message"] = self.message
        return out


@dataclass(frozen=True)
class RunResult:
    """One run of one command: every audience's result, ad-set wiring and orphans."""

    command: str
    run_id: int | None
    audiences: tuple[AudienceResult, ...]
    dry_run: bool = False
    orphans: tuple[OrphanResult, ...] = ()
    ad_sets: tuple[AdSetResult, ...] = ()
    run_status: RunStatus | None = None  # set by the run log once the run is recorded (interrupted, failed…)
    error: str | None = None  # what stopped the run, in one sentence (an expired token…), set by the run log
    error_code: int | None = None  # that error's exit code (3: authentication, permission or terms)

    @property
    def exit_code(self) -> int:
        """0 all done; 1 an audience (or an ad set) failed or was refused; 130 the run was interrupted; the
        error's code when one stopped the run (2 configuration, 3 authentication)."""
        if self.status == "interrupted":
            return 130
        if self.error_code:
            return self.error_code
        failed = any(a.failed for a in self.audiences) or any(s.status == "failed" for s in self.ad_sets)
        return 1 if failed else 0

    @property
    def status(self) -> RunStatus:
        """The run's status for the history: ok, interrupted (asked to stop), partial (some audiences failed)
        or failed (all did)."""
        if self.run_status is not None:
            return self.run_status
        if any(a.status == "interrupted" for a in self.audiences):
            return "interrupted"
        failed = any(a.failed for a in self.audiences) or any(s.status == "failed" for s in self.ad_sets)
        if not failed:
            return "ok"
        return "partial" if any(a.status == "ok" for a in self.audiences) else "failed"

    def audience(self, name: str) -> AudienceResult:
        return next(a for a in self.audiences if a.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The run's JSON (``--json``, ``--summary-file``): schema ``fbsync.run/1`` (docs/summary.md)."""
        return {
            "schema": RUN_SCHEMA,
            "command": self.command,
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "status": "planned" if self.dry_run else self.status,
            "exit_code": self.exit_code,
            "error": self.error,
            "audiences": [a.to_dict() for a in self.audiences],
            "orphans": [o.to_dict() for o in self.orphans],
            "ad_sets": [s.to_dict() for s in self.ad_sets],
        }
