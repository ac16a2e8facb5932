"""Rate limits of the access tiers, and the usage headers that report them (docs/meta-api.md §4).

* ``X-App-Usage``: calls of the whole app in the last hour, as a percentage of
  ``app_calls_per_hour`` (``call_count``; ``total_time`` and ``total_cputime``
  are reported equal to it — the sandbox does not meter CPU).  Reported only.
* **Ad-account score** (``X-Ad-Account-Usage``): read = 1, write = 3, each point
  decays after 300 s; the tier's maximum is 60 (Limited) or 9000 (Full).  A call
  that would pass it blocks the account for 300 s (Limited) / 60 s (Full): every
  call of the account is then refused with 17/2446079 (§4 "Ad-account score"),
  and the block wipes the score (inf), so access is back when the block ends.
* **custom_audience quota** (``X-Business-Use-Case-Usage`` ``type: custom_audience``):
  audience calls of the account in a rolling hour, at most ``5000 + 40 × live
  audiences`` (Limited) or ``190000 + 40 × …`` (Full), never above 700,000;
  past it audience calls get 80003/2446079 until the oldest call leaves the hour.

Headers are sent on every call (Meta sends them "once enough calls have been
made").  Refusals carry ``estimated_time_to_regain_access`` (minutes) in the
BUC header and in ``error_data``.  Fault injection (``injector.py``) adds random
throttles and a per-minute budget on top, and rewrites these headers while its
budget is set.
"""

from __future__ import annotations

import json
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

HOUR = 3600.0


@dataclass(frozen=True)
class UsageBudget:
    """Budgets; the defaults are Meta's standard (Full) tier numbers, docs/meta-api.md §4 "Quotas"."""

    #: ``ads_api_access_tier`` header string: ``development_access`` = Limited, ``standard_access`` = Full.
    tier: str = "standard_access"
    app_calls_per_hour: int = 100_000
    score_decay_seconds: float = 300.0
    #: Overrides of the tier's numbers (None = Meta's): score ceiling, block length, and the base of the
    #: hourly custom_audience quota — tests shrink them to reach a refusal cheaply.
    score_limit: int | None = None
    block_seconds: float | None = None
    audience_base_per_hour: int | None = None
    #: False = report usage only, never refuse.
    enforce: bool = True

    @property
    def limited(self) -> bool:
        """Limited (``development_access``) tier?"""
        return self.tier == "development_access"

    @property
    def max_score(self) -> int:
        """Ad-account score ceiling: 60 in the Limited tier, 9000 in the Full tier."""
        if self.score_limit is not None:
            return self.score_limit
        return 60 if self.limited else 9000

    @property
    def block_for(self) -> float:
        """Seconds an account stays blocked once its score is reached: 300 (Limited) or 60 (Full)."""
        if self.block_seconds is not None:
            return self.block_seconds
        return 300.0 if self.limited else 60.0

    def audience_calls_per_hour(self, active_audiences: int) -> int:
        """custom_audience BUC quota per ad account per rolling hour."""
        base = self.audience_base_per_hour
        if base is None:
            base = 5000 if self.limited else 190_000
        return min(base + 40 * active_audiences, 700_000)


@dataclass
class Refusal:
    """A rate-limit refusal: the throttle key (``errors.THROTTLES``) and when access comes back."""

    key: str
    until: float

    def seconds_left(self, now: float) -> float:
        """Seconds until the call would be admitted again."""
        return max(self.until - now, 0.0)

    def minutes_left(self, now: float) -> int:
        """``estimated_time_to_regain_access``: minutes, rounded up, at least 1."""
        return max(1, math.ceil(self.seconds_left(now) / 60))


class UsageMeter:
    """Rolling per-app and per-account counters; not persisted (like Meta's, they decay)."""

    def __init__(self, clock: Callable[[], float], budget: UsageBudget | None = None) -> None:
        self.clock = clock
        self.budget = budget or UsageBudget()
        self._app: deque[float] = deque()
        self._score: dict[str, deque[tuple[float, int]]] = {}
        self._audience: dict[str, deque[float]] = {}
        #: Accounts blocked by their score: account id → the refusal in force.
        self.blocks: dict[str, Refusal] = {}
        #: Calls refused for a rate limit since start or reset, per throttle key ("17/2446079": 2, …).
        self.refused: Counter[str] = Counter()

    def admit(
        self, account_id: str | None, *, write: bool, audience_call: bool, active_audiences: int
    ) -> Refusal | None:
        """Count the call, or refuse it (a block in force, the score, the hourly custom_audience quota)."""
        now = self.clock()
        if account_id is None:
            self._app.append(now)
            return None
        refusal = self._refusal(account_id, now, write, audience_call, active_audiences)
        if refusal is not None:
            self.refused[refusal.key] += 1
            return refusal
        self.record(account_id, write=write, audience_call=audience_call)
        return None

    def _refusal(
        self, account_id: str, now: float, write: bool, audience_call: bool, active_audiences: int
    ) -> Refusal | None:
        block = self.blocks.get(account_id)
        if block is not None and block.until > now:
            return block
        self.blocks.pop(account_id, None)
        if not self.budget.enforce:
            return None
        if self.score(account_id) + (3 if write else 1) > self.budget.max_score:
            block = Refusal("17/2446079", now + self.budget.block_for)
            self.blocks[account_id] = block
            self._score.pop(account_id, None)  # the block pays for the points: a fresh score after it (inf)
            return block
        if audience_call:
            calls = self._audience.get(account_id, deque())
            self._trim(calls, HOUR)
            limit = self.budget.audience_calls_per_hour(active_audiences)
            if len(calls) >= limit:
                return Refusal("80003/2446079", calls[len(calls) - limit] + HOUR)
        return None

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

    def score(self, account_id: str) -> int:
        """The account's ad-account score: points of its calls in the last ``score_decay_seconds``."""
        calls = self._score.get(account_id, deque())
        self._trim(calls, self.budget.score_decay_seconds)
        return sum(weight for _, weight in calls)

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

    def headers(
        self, account_id: str | None, *, audience_call: bool, active_audiences: int, refusal: Refusal | None = None
    ) -> dict[str, str]:
        """Usage headers for one response; values are JSON strings as Meta sends them.

        While the account is blocked (or ``refusal`` is given) they say so: usage ≥ 100 %,
        ``reset_time_duration`` = seconds left, ``estimated_time_to_regain_access`` = minutes left.
        """
        now = self.clock()
        app = round(self.app_pct())
        out = {"X-App-Usage": _dump({"call_count": app, "total_time": app, "total_cputime": app})}
        if account_id is None:
            return out
        pct, reset = self.account_pct(account_id)
        block = self.blocks.get(account_id)
        if block is not None and block.until > now:
            pct, reset = max(pct, 100.0), max(reset, math.ceil(block.seconds_left(now)))
        else:
            block = None
        out["X-Ad-Account-Usage"] = _dump(
            {"acc_id_util_pct": round(pct, 2), "reset_time_duration": reset, "ads_api_access_tier": self.budget.tier}
        )
        regain = max((r.minutes_left(now) for r in (block, refusal) if r is not None), default=0)
        if audience_call:
            used = round(self.audience_pct(account_id, active_audiences))
            if refusal is not None and refusal.key == "80003/2446079":
                used = max(used, 100)
            out["X-Business-Use-Case-Usage"] = _dump({account_id: [self._entry("custom_audience", used, regain)]})
        elif regain:
            used = max(round(pct), 100)
            out["X-Business-Use-Case-Usage"] = _dump({account_id: [self._entry("ads_management", used, regain)]})
        return out

    def _entry(self, kind: str, used: int, regain: int) -> dict[str, object]:
        return {
            "type": kind,
            "call_count": used,
            "total_cputime": used,
            "total_time": used,
            "estimated_time_to_regain_access": regain,
            "ads_api_access_tier": self.budget.tier,
        }

    def snapshot(self) -> dict[str, object]:
        """Tier, score ceiling, and per account: score %, custom_audience calls this hour, block left (s)."""
        now = self.clock()
        accounts: dict[str, object] = {}
        for acc in sorted(set(self._score) | set(self._audience) | set(self.blocks)):
            calls = self._audience.get(acc, deque())
            self._trim(calls, HOUR)
            block = self.blocks.get(acc)
            accounts[f"act_{acc}"] = {
                "score_pct": round(self.account_pct(acc)[0], 2),
                "audience_calls_last_hour": len(calls),
                "blocked_seconds_left": round(block.seconds_left(now), 3) if block else 0,
                "blocked_code": block.key if block and block.until > now else None,
            }
        return {
            "tier": self.budget.tier,
            "max_score": self.budget.max_score,
            "accounts": accounts,
            "refused": dict(sorted(self.refused.items())),
        }

    def reset(self) -> None:
        """Forget every counter and block (``POST /__sandbox/reset``)."""
        self._app.clear()
        self._score.clear()
        self._audience.clear()
        self.blocks.clear()
        self.refused.clear()


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
