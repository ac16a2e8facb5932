"""Sharing an audience with other ad accounts: ``GET``/``POST``/``DELETE /{audience-id}/adaccounts``
(docs/meta-api.md §1.8, "Sharing").

Meta's rules as documented: a business must claim both the owner and the recipient ad account (or the
two businesses have a sharing relationship): the sandbox's ``other_business_accounts`` are claimed by
another business, with none; the recipient may include or exclude the audience in its ad sets'
targeting, but cannot use it as a lookalike seed; unsharing stops the recipients' ads.  Modelled
beyond the documents (inf): ``permissions`` defaults to ``targeting_and_insights``; sharing again with
an account already a recipient is accepted; ``GET`` lists the owner first, then the recipients; on
unsharing, the recipients' ad sets that target the audience are paused and lose it from their targeting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from .params import GraphRequest, as_bool, as_str

if TYPE_CHECKING:
    from .app import SandboxApp
    from .store import Audience

PERMISSIONS = ("targeting", "targeting_and_insights")


def _accounts(req: GraphRequest, owner: str) -> list[str]:
    raw = req.params.get("adaccounts")
    if isinstance(raw, str):
        raw = [x for x in raw.split(",") if x.strip()]
    if not isinstance(raw, list) or not raw:
        raise errors.required("adaccounts")
    out = []
    for x in raw:
        digits = str(x).strip().removeprefix("act_")
        if not digits.isdigit():
            raise errors.param(f"adaccounts: {x!r} is not an ad account id")
        if digits == owner:
            raise errors.param(f"adaccounts: act_{digits} owns the audience; it cannot be shared with itself")
        out.append(digits)
    return out


def _same_business(app: SandboxApp, owner: str, recipient: str) -> bool:
    others = {a.removeprefix("act_") for a in app.config.other_business_accounts}
    return (owner in others) == (recipient in others)


def get_shares(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /{audience-id}/adaccounts``: ``{"data": [{"id": "<account id>"}, …]}``, the owner first."""
    audience: Audience = req.extra["audience"]
    ids = [audience.account_id, *app.store.recipients(audience.id)]
    return {"data": [{"id": i} for i in ids], "paging": {"cursors": {}}}


def post_shares(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``POST /{audience-id}/adaccounts`` with ``adaccounts`` (a list), ``permissions``, ``replace``."""
    audience: Audience = req.extra["audience"]
    accounts = _accounts(req, audience.account_id)
    permissions = as_str(req.params, "permissions") or "targeting_and_insights"
    if permissions not in PERMISSIONS:
        raise errors.param(f"permissions must be one of the following values: {', '.join(PERMISSIONS)}")
    for a in accounts:
        if not _same_business(app, audience.account_id, a):
            raise errors.param(
                f"(#100) Cannot share the audience with act_{a}: the ad account is not claimed by the business "
                "that owns this audience, and the two businesses have no audience sharing relationship"
            )
        app.store.ensure_account(a, app.now())
    app.store.share(audience.id, accounts, permissions, replace=bool(as_bool(req.params, "replace")))
    return {"success": True}


def delete_shares(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``DELETE /{audience-id}/adaccounts`` with ``adaccounts``: the recipients' ads that use it stop."""
    audience: Audience = req.extra["audience"]
    accounts = _accounts(req, audience.account_id)
    app.store.unshare(audience.id, accounts)
    for adset in app.store.list_adsets():
        if adset.account_id not in accounts:
            continue
        targeting = dict(adset.targeting)
        touched = False
        for key in ("custom_audiences", "excluded_custom_audiences"):
            kept = [x for x in targeting.get(key) or [] if str(x.get("id")) != str(audience.id)]
            if len(kept) != len(targeting.get(key) or []):
                targeting[key], touched = kept, True
        if touched:
            app.store.update_adset(adset.id, {"targeting": targeting, "status": "PAUSED"}, app.now())
    return {"success": True}


#: The edge's methods, for the sandbox's routing table.
ROUTES: dict[str, tuple[str, Any]] = {
    "GET": ("GET /adaccounts", get_shares),
    "POST": ("POST /adaccounts", post_shares),
    "DELETE": ("DELETE /adaccounts", delete_shares),
}
