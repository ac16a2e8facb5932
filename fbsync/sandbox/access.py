"""The token, its permissions and the Custom Audience terms: what ``fbsync doctor`` checks.

* ``GET /me/permissions`` → ``{"data": [{"permission", "status"}]}`` (Graph's User permissions edge).
* ``GET /debug_token?input_token=…`` → ``{"data": {app_id, type, application, data_access_expires_at,
  expires_at, is_valid, issued_at, scopes, user_id}}`` (Graph's documented ``/debug_token`` fields);
  an unknown token gives ``is_valid: false`` and ``error {code 190}``, an expired one also ``subcode 463``.
* :func:`authorize` enforces the :class:`SandboxConfig` knobs on ad-account and audience calls:
  missing ``ads_management``/``ads_read`` (code 200) and terms not accepted (200/1870034).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from . import errors, render
from .config import terms_accepted
from .params import GraphRequest, as_str

if TYPE_CHECKING:
    from .app import SandboxApp

#: What a sandbox token holds unless ``SandboxConfig.missing_permissions`` takes some away.
PERMISSIONS = ("ads_management", "ads_read", "business_management", "public_profile")
DAY = 86_400
DATA_ACCESS_DAYS = 90  # user tokens: data access expires 90 days on (Graph's data_access_expires_at)
WRITES = frozenset({"POST", "DELETE"})
TOS_EDGES = frozenset({"users", "usersreplace"})


def granted(app: SandboxApp) -> list[str]:
    """Permissions the token has."""
    missing = set(app.config.missing_permissions)
    return [p for p in PERMISSIONS if p not in missing]


def get_permissions(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /me/permissions``: granted ones; a USER token also lists the missing ones as ``declined``.

    (inf) A system user's token simply lacks permissions it was not given, so they are left out.
    """
    data = [{"permission": p, "status": "granted"} for p in granted(app)]
    if app.config.token_type == "USER":
        data += [{"permission": p, "status": "declined"} for p in app.config.missing_permissions]
    return {"data": data}


def expires_at(app: SandboxApp) -> int:
    """Token expiry, unix seconds; 0 = never (system-user tokens)."""
    days = app.config.token_expires_in_days
    return 0 if days is None else int(app.started + days * DAY)


def lifetime_expired_at(app: SandboxApp) -> float | None:
    """When the token expired through ``token_expires_in_days``, or None while it is valid."""
    end = expires_at(app)
    return float(end) if end and app.clock() >= end else None


def debug_token(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /debug_token?input_token=…`` (Graph reference "Debug-Token")."""
    token = as_str(req.params, "input_token")
    if not token:
        raise errors.required("input_token")
    if not app.token_known(token):
        return {
            "data": {"error": {"code": 190, "message": errors.invalid_token().message}, "is_valid": False, "scopes": []}
        }
    user = app.config.token_type == "USER"
    data: dict[str, Any] = {
        "app_id": app.config.app_id,
        "type": app.config.token_type,
        "application": app.config.app_name,
        "data_access_expires_at": app.now() + DATA_ACCESS_DAYS * DAY if user else 0,
        "expires_at": expires_at(app),
        "is_valid": True,
        "issued_at": int(app.started),
        "scopes": granted(app),
        "user_id": render.SANDBOX_USER["id"],
    }
    ended = app.token_expired_at(token)
    if ended is not None:
        err = app.expired_token_error(ended)
        data.update(
            is_valid=False,
            expires_at=int(ended),
            error={"code": err.code, "message": err.message, "subcode": err.subcode},
        )
    return {"data": data}


def authorize(app: SandboxApp, req: GraphRequest, kind: str, edge: str | None) -> None:
    """Permissions on ad accounts and audiences, then the Custom Audience terms (docs/meta-api.md §1.1 "Needs")."""
    if kind not in ("account", "audience", "adset", "campaign"):
        return
    have = set(granted(app))
    write = req.method in WRITES
    if not have & {"ads_management", "ads_read"}:
        raise errors.no_ads_permission()
    if write and "ads_management" not in have:
        raise errors.needs_ads_management()
    if not write:
        return
    creates_list = edge == "customaudiences" and str(req.params.get("subtype") or "") == "CUSTOM"
    any_audience = kind == "account" and edge == "usersofanyaudience"  # G-CFCA: not processed without the terms
    if not (creates_list or any_audience or (kind == "audience" and edge in TOS_EDGES)):
        return
    if not terms_accepted(app.config, req.account_id):
        subcode = 1870034 if creates_list else app.config.tos_upload_subcode
        raise errors.terms_not_accepted(req.account_id or "", subcode)
    if not app.config.business_tools_tos:  # docs/meta-api.md §1.1 "Errors": 200/1870092 (inf: which calls)
        raise errors.business_tools_terms_not_accepted()


def pacific(timestamp: float) -> str:
    """``Monday, 23-Nov-15 14:00:00 PST``: how Graph writes times in token errors (US Pacific)."""
    try:
        from zoneinfo import ZoneInfo

        zone: dt.tzinfo = ZoneInfo("America/Los_Angeles")
    except Exception:
        zone = dt.UTC
    return dt.datetime.fromtimestamp(timestamp, zone).strftime("%A, %d-%b-%y %H:%M:%S %Z")
