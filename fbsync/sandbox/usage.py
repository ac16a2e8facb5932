"""Rate-limit usage headers computed from rolling call counters (docs/meta-api.md §4).

* ``X-App-Usage``: calls of the whole app in the last hour, as a percentage of
  ``app_calls_per_hour`` (``call_count``; ``total_time`` and ``total_cputime``
  are reported equal to it — the sandbox does not meter CPU).
* ``X-Ad-Account-Usage``: the ad-account score (read = 1, write = 3, decay
  300 s) as a percentage of the tier's maximum (dev 60, standard 9000).
* ``X-Business-Use-Case-Usage`` with ``type: custom_audience``: audience calls of
  the account in the last hour, as a percentage of ``5000 + 40 × audiences``
  (development) or ``190000 + 40 × audiences`` (standard), never above 700,000.

Headers are sent on every call (Meta sends them "once enough calls have been
made").  Nothing here refuses calls: throttles, blocks and the per-minute
ad-account budget are fault injection (``injector.py``), which also rewrites
these headers while a budget is set.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

HOUR = 3600.0


@dataclass(frozen=True)
class UsageBudget:
    """Budgets; the defaults are Meta's standard (Full) tier numbers, docs/meta-api.md §4 "Quotas"."""

    tier: str = "standard_access"
    app_calls_per_hour: int = 100_000
    score_decay_seconds: float = 300.0

    @property
    def max_score(self) -> int:
        """Ad-account score ceiling: 60 in development tier, 9000 in standard tier."""
        return 60 if self.tier == "development_access" else 9000

    def audience_calls_per_hour(self, active_audiences: int) -> int:
        """custom_audience BUC quota per ad account per rolling hour."""
        base = 5000 if self.tier == "development_access" else 190_000
        return min(base + 40 * active_audiences, 700_000)


class UsageMeter:
    """Rolling per-app and per-account counters; not persisted (like Meta's, they decay)."""

    def __init__(self, clock: Callable[[], float], budget: UsageBudget | None = None) -> None:
        self.clock = clock
        self.budget = budget or UsageBudget()
        self._app: deque[float] = deque()
        self._score: dict[str, deque[tuple[float, int]]] = {}
        self._audience: dict[str, deque[float]] = {}

    def record(self, account_id: str | None, *, write: bool, audience_call: bool) -> None:
        """Count one call (of an ad account when ``account_id`` is known)."""
        now = self.clock()
        self._app.append(now)
        if account_id is None:
            return
        self._score.setdefault(account_id, deque()).append((now, 3 if write else 1))
        if audience_call:
            self._audience.setdefault(account_id, deque()).append(now)

    def _trim(self, calls: deque, horizon: float) -> None:
        cutoff = self.clock() - horizon
        while calls and (calls[0][0] if isinstance(calls[0], tuple) else calls[0]) <= cutoff:
            calls.popleft()

    def app_pct(self) -> float:
        """Share of the hourly app budget used, in percent."""
        self._trim(self._app, HOUR)
        return 100.0 * len(self._app) / self.budget.app_calls_per_hour

    def account_pct(self, account_id: str) -> tuple[float, int]:
        """(ad-account score in percent, seconds until the oldest scored call decays)."""
        calls = self._score.get(account_id, deque())
        self._trim(calls, self.budget.score_decay_seconds)
        score = sum(weight for _, weight in calls)
        reset = int(calls[0][0] + self.budget.score_decay_seconds - self.clock()) if calls else 0
        return 100.0 * score / self.budget.max_score, max(reset, 0)

    def audience_pct(self, account_id: str, active_audiences: int) -> float:
        """Share of the account's custom_audience hourly quota used, in percent."""
        calls = self._audience.get(account_id, deque())
        self._trim(calls, HOUR)
        return 100.0 * len(calls) / self.budget.audience_calls_per_hour(active_audiences)

    def headers(self, account_id: str | None, *, audience_call: bool, active_audiences: int) -> dict[str, str]:
        """Usage headers for one response; values are JSON strings as Meta sends them."""
        app = round(self.app_pct())
        out = {"X-App-Usage": _dump({"call_count": app, "total_time": app, "total_cputime": app})}
        if account_id is None:
            return out
        pct, reset = self.account_pct(account_id)
        out["X-Ad-Account-Usage"] = _dump(
            {"acc_id_util_pct": round(pct, 2), "reset_time_duration": reset, "ads_api_access_tier": self.budget.tier}
        )
        if audience_call:
            used = round(self.audience_pct(account_id, active_audiences))
            entry = {
                "type": "custom_audience",
                "call_count": used,
                "total_cputime": used,
                "total_time": used,
                "estimated_time_to_regain_access": 0,
                "ads_api_access_tier": self.budget.tier,
            }
            out["X-Business-Use-Case-Usage"] = _dump({account_id: [entry]})
        return out


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
