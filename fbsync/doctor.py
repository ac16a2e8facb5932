"""``fbsync doctor``: is everything in place to sync? One line per check, each with its fix."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .errors import MetaApiError, MetaAuthError, MetaUnreachable
from .identity import hashing
from .meta import versions
from .meta.client import MetaClient
from .meta.errors import VALUE_TOS_URL
from .meta.factory import ClientFactory, client_factory
from .meta.governor import TIERS
from .settings import Settings

SOON_DAYS = 7
ACCOUNT_STATUS = {
    1: "active",
    2: "disabled",
    3: "unsettled",
    7: "pending risk review",
    8: "pending settlement",
    9: "in grace period",
    100: "pending closure",
    101: "closed",
    201: "any active",
    202: "any closed",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str | None = None
    blocking: bool = True  # a failed blocking check means a sync cannot work (exit 3)

    def to_dict(self) -> dict[str, object]:
        """``doctor --json``: one object per check."""
        return {
            "check": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "fix": None if self.ok else self.fix,
            "blocking": self.blocking,
        }

    def line(self) -> str:
        mark = "✓" if self.ok else ("✗" if self.blocking else "!")
        return f"{mark} {self.name}: {self.detail}" + (f" — {self.fix}" if self.fix and not self.ok else "")


def run_checks(
    settings: Settings,
    account_id: str | Sequence[str],
    now: float | None = None,
    clients: ClientFactory | None = None,
) -> list[Check]:
    """Token, its expiry, permissions, every ad account and its terms; then the local hashing.  With several
    accounts (an agency's file), each account's checks are named after it."""
    accts = [account_id] if isinstance(account_id, str) else list(account_id)
    make = clients or client_factory()
    checks = _meta_checks(settings, accts[0], now, make)
    if len(accts) > 1 and any(c.name == "ad account" for c in checks):  # the token works: check the others
        checks = [replace(c, name=f"{c.name} {accts[0]}") if c.name in PER_ACCOUNT else c for c in checks]
        for acct in accts[1:]:
            checks += [replace(c, name=f"{c.name} {acct}") for c in _account(make(settings, acct), acct)]
    return checks + [hashing_check()]


#: The checks made once per ad account (the others are about the token and the app).
PER_ACCOUNT = ("ad account", "custom audience terms", "value-based terms")


def hashing_check() -> Check:
    """Which SHA-256 path the identity engine uses (never blocking: both give the same hashes)."""
    if hashing.backend() == "openssl":
        return Check("hashing", True, "OpenSSL column hashing (C module built)")
    return Check(
        "hashing",
        False,
        "hashlib (the optional C module is not built: hashing is ~1.4x slower)",
        "reinstall fbsync where a C compiler and OpenSSL headers are installed "
        "(Debian: apt install gcc libssl-dev), unless FBSYNC_PURE_PYTHON is set",
        blocking=False,
    )


def _meta_checks(settings: Settings, account_id: str, now: float | None, clients: ClientFactory) -> list[Check]:
    now = time.time() if now is None else now
    if not settings.access_token:
        return [
            Check(
                "token",
                False,
                "FB_ACCESS_TOKEN is not set",
                "put a System User token in FB_ACCESS_TOKEN (environment or .env)",
            )
        ]
    client = clients(settings, account_id)
    checks: list[Check] = []
    try:
        me = client.me()
        checks.append(Check("token", True, f"valid, for {me.get('name') or me.get('id')}"))
    except MetaUnreachable as exc:
        return [
            Check(
                "Marketing API",
                False,
                str(exc),
                f"check the network, a proxy, or FBSYNC_GRAPH_URL ({settings.graph_url}); the token was not checked",
            )
        ]
    except MetaAuthError as exc:
        return [Check("token", False, str(exc), "create a new token for the System User and set FB_ACCESS_TOKEN")]
    except MetaApiError as exc:
        return [Check("token", False, str(exc), "Meta refused the first call; see its message")]
    checks.append(_expiry(client, settings.access_token, now))
    checks.append(_permissions(client))
    checks += _account(client, account_id)
    checks.append(version_check(client, settings.api_version, now))
    checks.append(tier_check(client))
    return checks


def version_check(client: MetaClient, override: str | None, now: float) -> Check:
    """The Marketing API version fbsync speaks on ``now``'s date and its end date; a warning from 90 days
    before it, or when Meta auto-upgraded a call (``X-Ad-Api-Version-Warning``) or answered with another."""
    today = datetime.fromtimestamp(now, UTC).date()
    c = versions.choose(override, today)
    detail = versions.describe(c, today)
    problems = [w for w in (c.warning, client.upgrade_warning and f"Meta said: {client.upgrade_warning}") if w]
    served = client.served_version
    if served and served != client.version.name:
        problems.append(f"Meta answered with {served} although fbsync asked for {c.name}")
    best = versions.newest_live(today).name
    if problems:
        return Check(
            "API version",
            False,
            f"{detail}; " + "; ".join(problems),
            f"set FBSYNC_API_VERSION={best} (or unset it)",
            blocking=False,
        )
    return Check("API version", True, detail, blocking=False)


def tier_check(client: MetaClient) -> Check:
    """The access tier Meta's usage headers suggest, and what it means for a first sync."""
    tier = TIERS.get(client.governor.tier or "")
    if tier is None:
        return Check(
            "access tier",
            True,
            "not said by Meta's headers yet (they appear once enough calls were made)",
            blocking=False,
        )
    times = ", ".join(
        f"{rows:,} rows ≈ {_duration(tier.first_sync_minutes(rows))}" for rows in (100_000, 1_000_000, 10_000_000)
    )
    limit = f"{tier.writes_per_window()} uploads of 10,000 rows per {tier.decay_seconds / 60:g} minutes"
    return Check("access tier", True, f"{tier.name} access (about {limit}); a first sync of {times}", blocking=False)


def _duration(minutes: float) -> str:
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def _expiry(client: MetaClient, token: str, now: float) -> Check:
    try:
        data = client.call("GET", "debug_token", params={"input_token": token}).get("data") or {}
    except MetaApiError as exc:
        return Check("token expiry", False, f"could not be read ({exc.code or 'error'})", None, blocking=False)
    exp = int(data.get("expires_at") or 0)
    if exp == 0:
        return Check("token expiry", True, "never expires" + (f" ({data['type']} token)" if data.get("type") else ""))
    days = (exp - now) / 86400
    if days <= 0:
        return Check(
            "token expiry",
            False,
            "expired",
            "generate a new System User token (they can be made non-expiring) and set FB_ACCESS_TOKEN",
        )
    ok = days > SOON_DAYS
    return Check(
        "token expiry",
        ok,
        f"expires in {days:.0f} days",
        "generate a non-expiring System User token before then",
        blocking=False,
    )


def _permissions(client: MetaClient) -> Check:
    try:
        data = client.call("GET", "me", "permissions").get("data") or []
    except MetaApiError as exc:
        return Check("permissions", False, f"could not be read ({exc.code or 'error'})", None, blocking=False)
    granted = {p.get("permission") for p in data if p.get("status") == "granted"}
    if "ads_management" in granted:
        return Check("permissions", True, "ads_management granted")
    return Check(
        "permissions",
        False,
        "ads_management is not granted",
        "give the app the ads_management permission and renew the System User token",
    )


def _account(client: MetaClient, account_id: str) -> list[Check]:
    try:
        acct: dict[str, Any] = client.account(("id", "name", "account_status", "disable_reason", "tos_accepted"))
    except MetaApiError as exc:
        return [
            Check(
                "ad account",
                False,
                f"{account_id} is not reachable: {exc}",
                "check FB_AD_ACCOUNT_ID / ad_account_id and give the System User access to the account",
            )
        ]
    status = int(acct.get("account_status") or 0)
    checks = [
        Check(
            "ad account",
            status == 1,
            f"{account_id} ({acct.get('name', '')}) is {ACCOUNT_STATUS.get(status, f'status {status}')}",
            "the account must be active: see Ads Manager > Account Quality",
        )
    ]
    tos = acct.get("tos_accepted") or {}
    accepted = bool(isinstance(tos, dict) and tos.get("custom_audience_tos"))
    checks.append(
        Check(
            "custom audience terms",
            accepted,
            "accepted" if accepted else "not accepted",
            f"a person must accept them at https://business.facebook.com/ads/manage/customaudiences/tos/"
            f"?act={account_id.removeprefix('act_')}",
        )
    )
    value_based = bool(isinstance(tos, dict) and tos.get("value_based_custom_audience_tos"))
    checks.append(
        Check(
            "value-based terms",
            value_based,
            "accepted" if value_based else "not accepted (needed only for value-based lists: value: in audiences.yaml)",
            f"a person must accept them at {VALUE_TOS_URL}?act={account_id.removeprefix('act_')}",
            blocking=False,
        )
    )
    return checks
