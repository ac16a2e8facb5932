"""What in a run deserves a person's attention (pure): a run's result and the facts around it → events.

An event is one sentence about one audience (or the run), with its kind and severity.  Kinds
(docs/alerts.md): ``audience_failed``, ``audience_refused`` (shrink guard, quality gate, integrity flag,
too many audiences…), ``auth`` (a token, permission or terms problem: exit 3), ``run_failed``,
``run_interrupted``, ``token_expiring``, ``api_version_expiring``, ``audience_expiring`` and
``audience_inactive`` (Meta's operation status), ``drop_share``, ``match_rate`` and ``recovered`` (the
first good run after a failure).  Sentences are scrubbed: no token, no identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ..redact import scrub
from ..results import FAILED, RunResult
from .config import AlertsConfig

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
KINDS = (
    "audience_failed",
    "audience_refused",
    "auth",
    "run_failed",
    "run_interrupted",
    "token_expiring",
    "api_version_expiring",
    "audience_expiring",
    "audience_inactive",
    "drop_share",
    "match_rate",
    "recovered",
)
#: Meta's operation_status codes that mean an audience is going away or no longer delivers.
EXPIRING, INACTIVE = frozenset({100}), frozenset({450, 470})


@dataclass(frozen=True)
class Event:
    kind: str
    severity: Severity
    message: str
    audience: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "severity": self.severity, "audience": self.audience, "message": self.message}


@dataclass(frozen=True)
class Facts:
    """What the hook knows besides the run's result: each audience's status in its previous run, the run
    before this one, and how many days the token and the API version have left (None: unknown or never)."""

    previous: Mapping[str, str]
    previous_run: str | None = None
    token_days_left: float | None = None
    api_version: str | None = None
    version_days_left: int | None = None


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def collect(run: RunResult, facts: Facts, cfg: AlertsConfig) -> list[Event]:
    """The events of one recorded run, errors first, in the order of the run's audiences."""
    out: list[Event] = []
    if run.error:
        kind = "auth" if run.error_code == 3 else "run_failed"
        out.append(Event(kind, "error", scrub(run.error)))
    interrupted = [a.name for a in run.audiences if a.status == "interrupted"]
    if run.status == "interrupted" or interrupted:
        left = f" ({len(interrupted)} audience(s) not finished)" if interrupted else ""
        out.append(Event("run_interrupted", "warning", f"the run was stopped before the end{left}; run it again"))
    for a in run.audiences:
        if a.status == "failed" and not (run.error and a.message and scrub(a.message) == scrub(run.error)):
            out.append(Event("audience_failed", "error", scrub(a.message or "failed"), a.name))
        elif a.status == "refused":
            out.append(Event("audience_refused", "error", scrub(a.message or "refused"), a.name))
        elif a.status == "ok" and facts.previous.get(a.name) in FAILED:
            was = facts.previous[a.name]
            out.append(Event("recovered", "info", f"synced again after a {was} run", a.name))
        code = a.size.code
        if code in EXPIRING or code in INACTIVE:
            kind = "audience_expiring" if code in EXPIRING else "audience_inactive"
            out.append(Event(kind, "warning", f"Meta says {a.size.operation or f'operation status {code}'}", a.name))
        read = a.read
        if cfg.max_drop_share is not None and read is not None and read.rows_read:
            share = read.rows_left_out / read.rows_read
            if share > cfg.max_drop_share:
                out.append(
                    Event(
                        "drop_share",
                        "warning",
                        f"{_pct(share)} of the {read.rows_read:,} rows read were left out "
                        f"(alert above {_pct(cfg.max_drop_share)}); see the summary's drop reasons",
                        a.name,
                    )
                )
        rate = a.match_rate
        if cfg.min_match_rate is not None and a.status == "ok" and rate and a.action != "created":
            mid = sum(rate) / 2
            if mid < cfg.min_match_rate:
                out.append(
                    Event(
                        "match_rate",
                        "warning",
                        f"Meta matched ≈ {_pct(mid)} of the people sent (alert below {_pct(cfg.min_match_rate)}); "
                        "send more keys per row",
                        a.name,
                    )
                )
    again = not run.error and run.status == "ok" and facts.previous_run in ("failed", "partial", "interrupted")
    if again and not any(e.kind == "recovered" for e in out):
        out.append(Event("recovered", "info", f"the run is ok again after a {facts.previous_run} run"))
    days = facts.token_days_left
    if days is not None and days <= cfg.token_expiry_days:
        when = "has expired" if days <= 0 else f"expires in {max(1, round(days))} day(s)"
        out.append(
            Event(
                "token_expiring",
                "error" if days <= 0 else "warning",
                f"the access token {when}; generate a non-expiring System User token and set FB_ACCESS_TOKEN",
            )
        )
    vdays = facts.version_days_left
    if vdays is not None and vdays <= cfg.api_version_days:
        out.append(
            Event(
                "api_version_expiring",
                "warning",
                f"Marketing API {facts.api_version or 'version'} expires in {max(0, vdays)} day(s); upgrade fbsync "
                "(or set FBSYNC_API_VERSION to a newer version)",
            )
        )
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(out, key=lambda e: order[e.severity])
