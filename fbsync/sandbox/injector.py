"""The fault-injection :class:`RequestPolicy`: applies :class:`Faults` to each Graph call.

Order for one call (after auth, before routing): expired token (190/463) → an
active block (the block's throttle, and the block grows) → the per-minute
ad-account budget (17 or 80003, then a block) → a random throttle → a random
5xx → 803 on a just-created audience → a dropped connection → a delay.  Every
random draw comes from one ``random.Random(seed)``, one draw per enabled fault
per call in that order, so a seed replays the same faults for the same calls.
State lives in memory and is reset with the settings (or ``POST /__sandbox/reset``).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from .faults import ConnectionDropped, Faults
from .params import GraphRequest

if TYPE_CHECKING:
    from .app import Response, SandboxApp

WINDOW = 60.0  # the budget's rolling window, seconds
HTML_BODY = b"<html><body>Service Unavailable</body></html>"
APP = "app"  # block scope of code 4 (application limit)


@dataclass
class Block:
    """A throttle in force: every call of its scope is refused with ``key`` until ``until``."""

    key: str
    until: float


def is_audience_call(req: GraphRequest) -> bool:
    """Calls metered by the custom_audience business use case: audience nodes/edges and the account's list."""
    if "adset" in req.extra:  # an ad set is a numeric id too, but an ads_management call
        return False
    return bool(req.segments) and (
        req.segments[0].isdigit() or (len(req.segments) > 1 and req.segments[1] == "customaudiences")
    )


class FaultInjector:
    """A :class:`~fbsync.sandbox.app.RequestPolicy` with an ``after`` hook (usage headers, 803 bookkeeping)."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.reset()

    def reset(self) -> None:
        """Forget blocks, budgets, token counts and counters; reseed."""
        self.rng = random.Random(self.faults.seed)
        self.blocks: dict[str, Block] = {}
        self.scores: dict[str, deque[tuple[float, int]]] = {}
        self.token_calls: dict[str, int] = {}
        self.expiring: str | None = self.faults.expiring_token
        self.expired: dict[str, float] = {}
        self.fresh: dict[str, int] = {}
        self.injected: Counter[str] = Counter()

    # --- the policy ---

    def intercept(self, app: SandboxApp, req: GraphRequest) -> Response | None:
        """Refuse, break or slow this call, or let it through (None)."""
        now = app.clock()
        for check in (self._token, self._blocked, self._budget):
            answer = check(app, req, now)
            if answer is not None:
                return answer
        targeted = not self.faults.endpoints or req.endpoint in self.faults.endpoints
        if targeted:
            answer = self._random_failure(app, req, now)
            if answer is not None:
                return answer
        answer = self._missing_alias(app, req)
        if answer is None and targeted:
            self._transport(req)
        return answer

    def after(self, app: SandboxApp, req: GraphRequest, response: Response) -> Response:
        """Note new audiences (for 803) and report the per-minute budget in the usage headers."""
        status, headers, body = response
        if self.faults.missing_after_create and req.endpoint == "POST /customaudiences" and status == 200:
            self.fresh[str(json.loads(body)["id"])] = self.faults.missing_after_create
        if self.faults.calls_per_minute and req.account_id:
            headers = {**headers, **self._usage_headers(app, req, app.clock(), throttled=None)}
        return status, headers, body

    # --- on demand ---

    def block(
        self, app: SandboxApp, account_id: str | None, key: str = "80003/2446079", seconds: float | None = None
    ) -> Block:
        """Throttle now: refuse every call of the account (code 4: of the app) for ``seconds``."""
        if key not in errors.THROTTLES:
            raise ValueError(f"unknown throttle {key!r}; use one of {', '.join(errors.THROTTLES)}")
        scope = APP if key == "4" else _account(account_id)
        block = Block(key, app.clock() + (self.faults.block_seconds if seconds is None else float(seconds)))
        self.blocks[scope] = block
        return block

    def token_expired_at(self, token: str) -> float | None:
        """When ``token`` expired through ``token_expires_after``, or None."""
        return self.expired.get(token)

    def state(self, app: SandboxApp) -> dict[str, Any]:
        """Settings, blocks in force, budgets and what was injected so far (``GET /__sandbox/faults``)."""
        now = app.clock()
        blocks = {
            (scope if scope == APP else f"act_{scope}"): {"code": b.key, "seconds_left": round(b.until - now, 3)}
            for scope, b in self.blocks.items()
            if b.until > now
        }
        budgets = {f"act_{acc}": self._score(acc, now) for acc in self.scores}
        return {
            "faults": self.faults.to_dict(),
            "blocks": blocks,
            "budget_used": budgets,
            "injected": dict(sorted(self.injected.items())),
        }

    # --- steps of intercept ---

    def _token(self, app: SandboxApp, req: GraphRequest, now: float) -> Response | None:
        limit = self.faults.token_expires_after
        if not limit or not req.token:
            return None
        if self.expiring is None:
            self.expiring = req.token
        if req.token != self.expiring:
            return None
        if req.token not in self.expired:
            self.token_calls[req.token] = self.token_calls.get(req.token, 0) + 1
            if self.token_calls[req.token] <= limit:
                return None
            self.expired[req.token] = now
        self.injected["token_expired"] += 1
        return app.error_response(app.expired_token_error(self.expired[req.token]))

    def _blocked(self, app: SandboxApp, req: GraphRequest, now: float) -> Response | None:
        for scope in (APP, req.account_id):
            if not scope:
                continue  # no ad account in this call: only the app-wide block applies
            block = self.blocks.get(scope)
            if block is None:
                continue
            if block.until <= now:
                del self.blocks[scope]
                continue
            block.until += self.faults.block_extension_seconds  # docs/meta-api.md §4: more calls extend the block
            self.injected["blocked"] += 1
            return self._throttle_response(app, req, block, now)
        return None

    def _budget(self, app: SandboxApp, req: GraphRequest, now: float) -> Response | None:
        limit = self.faults.calls_per_minute
        if not limit or not req.account_id:
            return None
        cost = 3 if req.method in ("POST", "DELETE") else 1
        if self._score(req.account_id, now) + cost <= limit:
            self.scores.setdefault(req.account_id, deque()).append((now, cost))
            return None
        key = "80003/2446079" if is_audience_call(req) else "17/2446079"
        self.injected["budget"] += 1
        return self._throttle_response(app, req, self._start(req, key, now), now)

    def _random_failure(self, app: SandboxApp, req: GraphRequest, now: float) -> Response | None:
        faults = self.faults
        if faults.throttle_rate and self._roll(faults.throttle_rate):
            keys = [k for k in faults.throttle_codes if _applies(k, req)]
            if keys:
                key = self.rng.choice(keys)
                self.injected["throttle"] += 1
                return self._throttle_response(app, req, self._start(req, key, now), now)
        if faults.error_rate and self._roll(faults.error_rate):
            if faults.html_fraction and self._roll(faults.html_fraction):
                self.injected["html_503"] += 1
                return (
                    503,
                    {"Content-Type": "text/html; charset=utf-8", "x-fb-trace-id": errors.new_trace_id()},
                    HTML_BODY,
                )
            self.injected["error_500"] += 1
            return app.error_response(errors.internal())
        return None

    def _missing_alias(self, app: SandboxApp, req: GraphRequest) -> Response | None:
        left = self.fresh.get(req.segments[0]) if req.endpoint in ("POST /users", "DELETE /users") else None
        if not left:
            return None
        self.fresh[req.segments[0]] = left - 1
        self.injected["missing_alias"] += 1
        return app.error_response(errors.aliases_missing("users"))

    def _transport(self, req: GraphRequest) -> None:
        faults = self.faults
        if faults.drop_rate and self._roll(faults.drop_rate):
            self.injected["drop"] += 1
            if faults.drop_after_apply and self._roll(faults.drop_after_apply):
                req.effects.drop = True
            else:
                raise ConnectionDropped(applied=False)
        low, high = faults.slow_ms
        if high and (faults.slow_rate >= 1.0 or self._roll(faults.slow_rate)):
            req.effects.delay = (low if low == high else self.rng.uniform(low, high)) / 1000.0
            self.injected["slow"] += 1

    # --- helpers ---

    def _roll(self, rate: float) -> bool:
        return self.rng.random() < rate

    def _start(self, req: GraphRequest, key: str, now: float) -> Block:
        block = Block(key, now + self.faults.block_seconds)
        self.blocks[APP if key == "4" else _account(req.account_id)] = block
        return block

    def _score(self, account_id: str, now: float) -> int:
        calls = self.scores.get(account_id)
        if not calls:
            return 0
        while calls and calls[0][0] <= now - WINDOW:
            calls.popleft()
        return sum(cost for _, cost in calls)

    def _budget_pct(self, account_id: str, now: float) -> tuple[float, int]:
        """(budget used in percent, seconds until the oldest counted call leaves the window)."""
        limit = self.faults.calls_per_minute
        if not limit:
            return 0.0, 0
        score = self._score(account_id, now)
        calls = self.scores.get(account_id)
        reset = math.ceil(calls[0][0] + WINDOW - now) if calls else 0
        return 100.0 * score / limit, max(reset, 0)

    def _throttle_response(self, app: SandboxApp, req: GraphRequest, block: Block, now: float) -> Response:
        headers = self._usage_headers(app, req, now, throttled=block)
        return app.error_response(errors.throttled(block.key), headers)

    def _usage_headers(self, app: SandboxApp, req: GraphRequest, now: float, throttled: Block | None) -> dict[str, str]:
        """Usage headers (docs/meta-api.md §4 "Headers"): ≥ 100 % and a regain time while throttled."""
        tier = app.usage.budget.tier
        app_pct = round(app.usage.app_pct())
        if throttled is not None and throttled.key == "4":
            app_pct = max(app_pct, 100)
        out = {"X-App-Usage": _dump({"call_count": app_pct, "total_time": app_pct, "total_cputime": app_pct})}
        if not req.account_id:
            return out
        pct, reset = self._budget_pct(req.account_id, now)
        used, regain = round(pct), 0
        if throttled is not None:
            left = max(throttled.until - now, 0.0)
            used, regain = max(used, 100), max(1, math.ceil(left / 60))
            if throttled.key != "4":  # code 4 is the app's limit, not the account's
                pct, reset = max(pct, 100.0), max(reset, math.ceil(left))
        out["X-Ad-Account-Usage"] = _dump(
            {"acc_id_util_pct": round(pct, 2), "reset_time_duration": reset, "ads_api_access_tier": tier}
        )
        audience = throttled.key == "80003/2446079" if throttled else is_audience_call(req)
        kind = "custom_audience" if audience else "ads_management"
        out["X-Business-Use-Case-Usage"] = _dump(
            {
                req.account_id: [
                    {
                        "type": kind,
                        "call_count": used,
                        "total_cputime": used,
                        "total_time": used,
                        "estimated_time_to_regain_access": regain,
                        "ads_api_access_tier": tier,
                    }
                ]
            }
        )
        return out


def _applies(key: str, req: GraphRequest) -> bool:
    """Code 4 hits any call; account throttles need an account; 80003 only audience calls."""
    if key == "4":
        return True
    if not req.account_id:
        return False
    return key != "80003/2446079" or is_audience_call(req)


def _account(account_id: str | None) -> str:
    if not account_id:
        raise ValueError("an ad account id is needed for this throttle")
    return account_id.removeprefix("act_")


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
