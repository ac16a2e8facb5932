"""Quota governor: read Meta's usage headers on every response and slow down *before* the limit.

Headers (docs/meta-api.md §4, RL-G, RL-M), each a JSON string, present only once
"enough calls have been made":

* ``X-App-Usage``: ``{"call_count", "total_time", "total_cputime"}`` in percent;
* ``X-Ad-Account-Usage``: ``{"acc_id_util_pct", "reset_time_duration" (s), …}``;
* ``X-Business-Use-Case-Usage``: ``{"<id>": [{"type", "call_count", "total_time", "total_cputime",
  "estimated_time_to_regain_access" (minutes)}]}``.

The governor keeps the highest percentage seen in the latest response and, above
``slow_from`` percent, spaces calls out so that the usage can decay: the pause
grows linearly to ``window`` seconds at 100 %.  One governor is shared by every
audience of a run (the quota is the account's, not the audience's).

It also says how many member batches may be in flight at once (:meth:`Governor.allowed`): one, unless
the latest headers say Full access and leave room below ``slow_from`` for every call in flight to land;
then up to ``cap``.  A throttle answer brings it back to one for a whole usage window.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def _load(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _pct(v: Any) -> float:
    try:
        return float(v or 0)
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True)
class Tier:
    """A Marketing API access tier (renamed in 2026: Limited, formerly standard; Full, formerly advanced).

    docs/meta-api.md §4 and §8: the ad-account score costs 1 point per read and 3 per write and decays
    over 300 s; past its maximum the account is blocked; the custom_audience use case also has an hourly
    call quota per ad account.
    """

    name: str
    max_score: int
    decay_seconds: float
    block_seconds: float
    hourly_calls: int

    def writes_per_window(self) -> int:
        return self.max_score // 3

    def first_sync_minutes(self, rows: int, seconds_per_call: float = 1.5) -> float:
        """About how long sending ``rows`` new members takes: the score (writes of 10,000 rows each, 3 points)
        bounds it on Limited; Meta's own latency (about ``seconds_per_call``) on Full."""
        calls = -(-rows // 10_000)
        by_score = calls / self.writes_per_window() * self.decay_seconds
        by_quota = calls / self.hourly_calls * 3600
        return max(by_score, by_quota, calls * seconds_per_call) / 60


TIERS = {
    "limited": Tier("Limited", 60, 300, 300, 5_000),
    "full": Tier("Full", 9_000, 300, 60, 190_000),
}
#: ads_api_access_tier as the headers spell it: the 2026 rename did not change the strings (docs/meta-api.md §4).
TIER_NAMES = {
    "development_access": "limited",
    "limited_access": "limited",
    "standard_access": "full",
    "full_access": "full",
    "advanced_access": "full",
}


@dataclass
class Usage:
    """The usage one response reported (percentages, Meta's hints in seconds, the access tier when said)."""

    pct: float = 0.0
    source: str = ""
    reset_seconds: float | None = None
    regain_seconds: float | None = None
    tier: str | None = None  # "limited" or "full"

    @classmethod
    def from_headers(cls, headers: Mapping[str, str] | None) -> Usage | None:
        if not headers:
            return None
        h = {k.lower(): v for k, v in headers.items()}
        found: list[tuple[float, str]] = []
        reset = regain = None
        tier: str | None = None
        app = _load(h.get("x-app-usage"))
        if isinstance(app, dict):
            found += [(_pct(app.get(k)), f"app {k}") for k in ("call_count", "total_time", "total_cputime")]
        acct = _load(h.get("x-ad-account-usage"))
        if isinstance(acct, dict):
            found.append((_pct(acct.get("acc_id_util_pct")), "ad account"))
            reset = _pct(acct.get("reset_time_duration")) or None
            tier = TIER_NAMES.get(str(acct.get("ads_api_access_tier") or "")) or tier
        buc = _load(h.get("x-business-use-case-usage"))
        if isinstance(buc, dict):
            for entries in buc.values():
                for e in entries if isinstance(entries, list) else []:
                    if not isinstance(e, dict):
                        continue
                    kind = e.get("type", "business")
                    found += [(_pct(e.get(k)), f"{kind} {k}") for k in ("call_count", "total_time", "total_cputime")]
                    tier = tier or TIER_NAMES.get(str(e.get("ads_api_access_tier") or ""))
                    mins = _pct(e.get("estimated_time_to_regain_access"))
                    if mins:
                        regain = max(regain or 0.0, mins * 60)
        if not found and regain is None:
            return None
        pct, source = max(found) if found else (0.0, "")
        return cls(pct, source, reset, regain, tier)


@dataclass
class Governor:
    """Spaces calls out as the account's usage approaches Meta's limits."""

    slow_from: float = 75.0  # percent at which pacing starts
    window: float = 60.0  # pause at 100 % (seconds), unless Meta gives reset_time_duration
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    usage: Usage = field(default_factory=Usage)
    paused: float = 0.0  # total seconds spent pacing (for the run report)
    step: float = 0.0  # how much one call has been adding to the usage (smoothed)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _logged: float = -100.0
    tier: str | None = None  # the access tier the latest headers said (kept when a response does not say)
    cap: int = 1  # the most member batches in flight at once (api.max_uploads_in_flight)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    calm_after: float = 0.0  # clock time before which only one batch is in flight (after a throttle)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Record the usage of the latest response."""
        u = Usage.from_headers(headers)
        if u is None:
            return
        with self._lock:
            self.tier = u.tier or self.tier
            if self.usage.source:  # a rise between two readings is what one call costs
                rise = u.pct - self.usage.pct
                self.step = max(self.step * 0.8, rise) if rise > 0 else self.step * 0.8
            self.usage = u
        if abs(u.pct - self._logged) >= 10 or (u.pct >= self.slow_from and u.pct != self._logged):
            log.info(
                "Meta usage %.0f%% (%s)%s",
                u.pct,
                u.source,
                f", access regained in {u.regain_seconds:.0f}s" if u.regain_seconds else "",
            )
            self._logged = u.pct

    def allowed(self) -> int:
        """How many member batches may be in flight now: 1 on Limited access, when the tier is unknown, after a
        throttle, or when usage is near ``slow_from``; otherwise as many as the headroom below ``slow_from``
        holds at the smoothed cost of one call (at least 1, at most ``cap``)."""
        if self.cap <= 1:
            return 1
        with self._lock:
            u, step, tier = self.usage, self.step, self.tier
        if tier != "full" or not u.source or self.clock() < self.calm_after or u.pct >= self.slow_from:
            return 1
        room = self.slow_from - u.pct
        return max(1, min(self.cap, int(room / max(step, 0.01))))

    def throttled(self) -> None:
        """Meta refused a call for its rate limits: one batch at a time for the next usage window."""
        span = self.usage.reset_seconds or self.window
        with self._lock:
            self.calm_after = max(self.calm_after, self.clock() + max(span, self.block_seconds()))

    def block_seconds(self) -> float:
        """How long Meta blocks this account once its score is spent (the tier's; Limited's when unknown)."""
        return (TIERS.get(self.tier or "") or TIERS["limited"]).block_seconds

    def pause_for(self) -> float:
        """Seconds to wait before the next call, from the latest usage.

        When the next two calls could reach 100 %, wait a whole window (``reset_time_duration`` when
        Meta gives it): a rolling window may hold a burst that only expires all at once.  Otherwise,
        above ``slow_from``, the pause grows linearly with the usage.
        """
        u = self.usage
        span = u.reset_seconds or self.window
        if u.pct >= 100 and u.regain_seconds:
            return max(span, u.regain_seconds)
        if u.pct + 2 * self.step >= 100:
            return span
        if u.pct < self.slow_from:
            return 0.0
        return span * min(1.0, (u.pct - self.slow_from) / max(1e-9, 100.0 - self.slow_from))

    def before_call(self) -> None:
        wait = self.pause_for()
        if wait > 0:
            log.info("pacing: waiting %.1fs (Meta usage %.0f%%, %s)", wait, self.usage.pct, self.usage.source)
            self.paused += wait
            self.sleep(wait)
            span = self.usage.reset_seconds or self.window
            with self._lock:  # the pause let the usage decay; the next response tells the new level
                left = 0.0 if wait >= span else max(0.0, self.usage.pct - 100.0 * wait / span)
                self.usage = Usage(left, self.usage.source, self.usage.reset_seconds)
