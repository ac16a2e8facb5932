"""Classify a failed Marketing API response: retry, fail the audience, or stop the run.

One table, keyed on Meta's ``code``/``error_subcode`` (docs/meta-api.md §3,
ERR-M, ERR-G, RL-M), then the HTTP status and ``is_transient``.  Messages are
built from Meta's own message plus our hint, never from the request (which holds
the token in its URL and hashed identifiers in its body).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from ..errors import IntegrityFlagged, MetaApiError, MetaAuthError, MetaConfigError
from ..util import as_int

# code -> hint; these are retried (docs/meta-api.md §3, "R" rows)
TRANSIENT_CODES: dict[int, str] = {
    1: "Meta had an unknown error or asks for less data per call",
    2: "Meta's service is temporarily unavailable",
    4: "the app's call limit was reached",
    17: "the user's or ad account's call limit was reached",
    32: "the Pages call limit was reached",
    341: "the application limit was reached",
    368: "a temporary policy block",
    613: "the ad account's call rate limit was reached",
    80000: "the business use case limit was reached",
    80003: "the custom audience call limit of the ad account was reached",
    80004: "the ads management call limit of the ad account was reached",
    80014: "the catalog call limit was reached",
    803: "Meta has not finished creating the audience yet",
}
TRANSIENT_PAIRS = {(2650, 1870145), (2650, 1870148), (1, 99)}
#: Meta found the request too large: a batch is sent again in halves, never unchanged (docs/meta-api.md §8
#: "Limits": 105 is "too many parameters"; 1/99 is Meta's generic unknown error, once seen on a 30,000-row call).
TOO_BIG = {(105, None), (1, 99)}
THROTTLE_CODES = {4, 17, 32, 341, 613, 80000, 80003, 80004, 80014}

# code -> what the person must do (stop the run, exit 3)
AUTH_CODES: dict[int, str] = {
    190: "the access token is invalid or expired; create a new System User token in Business Settings "
    "and put it in FB_ACCESS_TOKEN",
    102: "the session key is invalid or expired; renew FB_ACCESS_TOKEN",
    10: "the token lacks a permission; give the System User the ads_management permission and renew the token",
    294: "the token needs the ads_management permission; add it to the System User and renew the token",
}
TOS_PAIRS = {(200, 1870034), (200, 1870090)}
BUSINESS_TOOLS_TERMS = (200, 1870092)
AUTH_PAIRS: dict[tuple[int | None, int | None], str] = {
    (200, 1870050): "the ad account is not in a Business Manager; move it into one"
}
TOS_HINT = (
    "the Custom Audience terms are not accepted for this ad account; a person must accept them at "
    "https://business.facebook.com/ads/manage/customaudiences/tos/?act=<account id>"
)

#: Value-based lists need their own terms, once per ad account (docs/meta-api.md §1.7); Meta's error for them is
#: not documented: its terms codes 2655/2663 with the value-based terms link in the message are read as this.
VALUE_TOS_URL = "https://www.facebook.com/customaudiences/value_based/tos.php"
VALUE_TOS_HINT = (
    f"the value-based audience terms are not accepted for this ad account; a person must accept them at {VALUE_TOS_URL}"
    "?act=<account id> (needed for value: audiences only)"
)

#: Integrity flags (since 2025-09-02, docs/meta-api.md §8): never retried; the remedy is a person's.
INTEGRITY_HINTS: dict[int, str] = {
    1713230: "Meta refuses uploads to an audience it flagged for integrity reasons",
    1713228: "Meta refuses any edit of a flagged customer list or lookalike, a rename included",
    1713231: "Meta refuses edits of a flagged audience that keep the flagged field",
    1713232: "Meta refuses a lookalike of an audience it flagged for integrity reasons",
}
INTEGRITY_REMEDY = (
    "appeal in Audience Manager, or declare a new audience under another name and description (Meta "
    "refuses to rename a flagged customer list)"
)

PERMANENT_HINTS: dict[tuple[int, int | None], str] = {
    (100, 33): "the object does not exist or the token cannot see it; check the ad account id and permissions",
    (200, 1870047): "removing these people would make the audience too small; Meta refuses it",
    (2656, None): "delete the audience's lookalikes first",
    (2654, None): "Meta could not create the audience",
    (2650, 1870158): "the replace session timed out",
    (2650, 1870147): "a replace session must start with batch 1",
    (2650, 1870159): "the replace session had already finished",
    (2650, 1870144): "replace is not possible for audiences of 100 million people or more",
    (1487301, None): "the audience belongs to another business, or is not shared with this ad account; "
    "check the audience id, or share it with the account in Business Settings",
    (105, None): "the request has too many parameters",
}


def _parse_body(body: Any) -> dict[str, Any] | None:
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        return dict(body["error"])
    return None


def regain_seconds(headers: Mapping[str, str] | None) -> float | None:
    """``estimated_time_to_regain_access`` (minutes) from X-Business-Use-Case-Usage, in seconds."""
    if not headers:
        return None
    raw = next((v for k, v in headers.items() if k.lower() == "x-business-use-case-usage"), None)
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    best = 0.0
    for entries in data.values() if isinstance(data, dict) else []:
        for e in entries if isinstance(entries, list) else []:
            if isinstance(e, dict):
                best = max(best, float(e.get("estimated_time_to_regain_access") or 0) * 60)
    return best or None


def classify(
    status: int | None, body: Any, headers: Mapping[str, str] | None = None, what: str = "Meta call"
) -> MetaApiError:
    """Turn one failed response into the error fbsync raises for it."""
    err = _parse_body(body)
    if err is None:
        # 5xx, 429, no answer at all, or a "success" whose body is not Meta's JSON: worth another try.
        transient = status is None or status >= 500 or status == 429 or status < 400
        kind = "an HTML or empty error page" if status else "no response"
        return MetaApiError(f"{what} failed: Meta returned {kind} (HTTP {status}).", status=status, transient=transient)
    code = as_int(err.get("code"))
    sub = as_int(err.get("error_subcode"))
    msg = str(err.get("error_user_msg") or err.get("message") or "no message").strip()
    trace = err.get("fbtrace_id")
    kw: dict[str, Any] = dict(status=status, code=code, subcode=sub, fbtrace_id=trace)
    tag = f"#{code}" + (f"/{sub}" if sub else "")
    if code == 2635:
        from .versions import newest_live

        best = newest_live(_today()).name
        return MetaConfigError(
            f"{what} refused ({tag}): Meta no longer serves this API version; set FBSYNC_API_VERSION={best} "
            "(or unset it: fbsync then speaks a live version), or upgrade fbsync.",
            **kw,
        )
    if code == 2500 and "access token" not in msg.lower():
        return MetaConfigError(
            f"{what} refused ({tag}): Meta does not know this path ({msg}); check that FBSYNC_API_VERSION is a "
            "Marketing API version such as v27.0 and that FBSYNC_GRAPH_URL points at Meta's API.",
            **kw,
        )
    if code == 2500:
        return MetaAuthError(f"{what} refused ({tag}): no access token was sent; set FB_ACCESS_TOKEN.", **kw)
    if code == 100 and sub in INTEGRITY_HINTS:
        return IntegrityFlagged(f"{what} refused ({tag}): {INTEGRITY_HINTS[sub]}; {INTEGRITY_REMEDY}.", **kw)
    if (code, sub) == BUSINESS_TOOLS_TERMS:
        return MetaAuthError(
            f"{what} refused ({tag}): the Meta Business Tools terms are not accepted for this business; an admin "
            "must accept them at https://www.facebook.com/legal/businesstech (Business Settings), then run again.",
            **kw,
        )
    if (code in (2655, 2663)) and "value_based" in msg:
        return MetaAuthError(f"{what} refused ({tag}): {VALUE_TOS_HINT}.", **kw)
    if (code, sub) in TOS_PAIRS or code == 2655:
        return MetaAuthError(f"{what} refused ({tag}): {TOS_HINT}.", **kw)
    if code == 100 and "appsecret_proof" in msg:
        # Meta has no own code for it: a wrong or missing proof is code 100 naming the parameter.
        return MetaAuthError(
            f"{what} refused ({tag}): Meta rejected appsecret_proof; FB_APP_SECRET must be the "
            "secret of the app the token was made for (or unset it if the app does not require "
            "it).",
            **kw,
        )
    if (code, sub) in AUTH_PAIRS:
        return MetaAuthError(f"{what} refused ({tag}): {AUTH_PAIRS[(code, sub)]}.", **kw)
    if code in AUTH_CODES or (code is not None and 200 <= code <= 299 and (code, sub) not in PERMANENT_HINTS):
        hint = AUTH_CODES.get(
            code or 0,
            "the token lacks a permission on this ad account; give the System User "
            "access to the ad account with ads_management and renew the token",
        )
        return MetaAuthError(f"{what} refused ({tag}): {hint}.", **kw)
    too_big = (code, sub) in TOO_BIG or (code, None) in TOO_BIG
    if (
        code in TRANSIENT_CODES
        or (code, sub) in TRANSIENT_PAIRS
        or err.get("is_transient") is True
        or (status or 0) >= 500
    ):
        hint = TRANSIENT_CODES.get(code or 0, "a temporary error")
        wait = regain_seconds(headers) if code in THROTTLE_CODES else None
        return MetaApiError(
            f"{what} failed ({tag}): {hint}: {msg}", transient=True, regain_seconds=wait, too_big=too_big, **kw
        )
    fix = PERMANENT_HINTS.get((code or 0, sub)) or PERMANENT_HINTS.get((code or 0, None))
    text = f"{what} failed ({tag}): {msg}" + (f" — {fix}." if fix else "")
    return MetaApiError(text, too_big=too_big, **kw)


def _today() -> date:
    return datetime.now(UTC).date()
