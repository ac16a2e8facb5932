"""Test-only admin endpoints under ``/__sandbox/`` (no auth; not part of Meta's API).

* ``GET  /__sandbox/audiences`` — every live audience: account, name, subtype, member (row) count, matched
  persons, schema.
* ``GET  /__sandbox/audiences/{id}/members`` — ``{"schema": [...], "rows": [[...], ...]}``, the uploaded rows,
  sorted (a value-based audience's rows end with their LOOKALIKE_VALUE).
* ``GET  /__sandbox/audiences/{id}/match`` — ``{"rows", "matched_rows", "persons", "keys": {KEY: {"rows",
  "matched"}}}``: how its rows matched, per key.
* ``POST /__sandbox/adsets`` — ``{"account_id": "act_1", "name", "targeting", "status", "id"}`` (all but
  ``account_id`` optional): create an ad set → ``{"id": …}``; 400 ``{"error": …}`` when refused.
* ``GET  /__sandbox/adsets`` / ``GET /__sandbox/adsets/{id}`` — ad sets as stored (404 for an unknown id).
* ``GET  /__sandbox/requests`` — ``{"total": N, "by_endpoint": {"POST /users": n, ...}, "in_flight_peak":
  {"POST /users": k, ...}}`` (the most calls of an edge answered at once, latency included).
* ``POST /__sandbox/reset`` — forget everything (fault state included; the fault settings stay).
* ``GET  /__sandbox/faults`` — fault settings, blocks in force, budgets, what was injected.
* ``POST /__sandbox/faults`` — JSON body of :class:`Faults` fields: replaces the settings (``{}`` clears).
* ``DELETE /__sandbox/faults`` — no faults.
* ``POST /__sandbox/faults/block`` — ``{"account_id": "act_1", "code": "80003/2446079", "seconds": 60}``:
  throttle an account now (code ``4``: the whole app; ``seconds`` defaults to ``block_seconds``).
* ``POST /__sandbox/tokens`` — ``{"token": "…"}``: accept another token (a renewed one).
* ``GET/POST /__sandbox/config`` — the run-time knobs of :class:`SandboxConfig` (``CONFIG_KNOBS``: token,
  permissions, terms, account status, tier, integrity, removal minimum, …); POST merges the given ones.
* ``POST /__sandbox/audiences/{id}/integrity`` — ``{"fields": ["name"]}``: flag the audience (471);
  ``DELETE`` (or ``{"fields": []}``) lifts the flag.
* ``POST /__sandbox/campaigns`` — ``{"account_id", "name", "special_ad_categories", "objective", "status",
  "id"}`` → ``{"id"}``; ``GET /__sandbox/campaigns`` / ``GET /__sandbox/campaigns/{id}`` — as stored.
* ``GET /__sandbox/usage`` — the tier, the accounts' scores, blocks and hourly custom_audience calls, and the
  calls refused for a rate limit (``refused``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

from . import adsets, campaigns
from .config import check
from .faults import Faults

if TYPE_CHECKING:
    from .app import Response, SandboxApp

#: SandboxConfig fields settable through ``POST /__sandbox/config``.
CONFIG_KNOBS = (
    "token_type",
    "token_expires_in_days",
    "missing_permissions",
    "custom_audience_tos",
    "accounts_without_tos",
    "other_business_accounts",
    "account_status",
    "disable_reason",
    "tier",
    "business_tools_tos",
    "tos_upload_subcode",
    "foreign_audience_ids",
    "integrity_words",
    "flagged_audience_in_adset",
    "min_audience_size_after_removal",
    "populate_seconds",
    "max_payload_rows_before_unknown_error",
    "max_request_params",
    "method_override_grandfathered",
    "version_auto_upgrade",
    "match_email",
    "match_phone",
    "match_madid",
    "match_extern_id",
    "match_user_id",
    "match_name",
    "match_seed",
    "match_link_unknown",
    "value_based_tos",
    "value_based_tos_code",
)
TUPLE_KNOBS = (
    "missing_permissions",
    "foreign_audience_ids",
    "integrity_words",
    "accounts_without_tos",
    "other_business_accounts",
)


def handle(app: SandboxApp, method: str, path: str, query: str, body: bytes = b"") -> Response:
    """Route one admin call."""
    parts = [p for p in path.split("/") if p][1:]
    if parts[:1] in (["faults"], ["tokens"], ["config"]):
        try:
            return _settings(app, method, parts, _body(body))
        except (ValueError, TypeError) as err:
            return _reply(400, {"error": str(err)})
    if method == "GET" and parts == ["audiences"]:
        return _ok({"data": audiences(app)})
    if len(parts) == 3 and parts[0] == "audiences" and parts[2] in ("members", "integrity", "match"):
        if not parts[1].isdigit() or app.store.get_audience(int(parts[1])) is None:
            return _reply(404, {"error": f"no audience {parts[1]}"})
        if method == "GET" and parts[2] == "members":
            return _ok(app.members(parts[1]))
        if method == "GET" and parts[2] == "match":
            return _ok(app.match_stats(parts[1]))
        if method in ("POST", "DELETE") and parts[2] == "integrity":
            try:
                fields = _body(body).get("fields", ["name"]) if method == "POST" else []
                app.flag_audience(parts[1], list(fields))
            except (ValueError, TypeError) as err:
                return _reply(400, {"error": str(err)})
            return _ok({"id": parts[1], "fields_violating_integrity_policy": list(fields)})
    if parts[:1] in (["adsets"], ["campaigns"]):
        return _adsets(app, method, parts, body)
    if method == "GET" and parts == ["requests"]:
        return _ok({**app.request_count(), "in_flight_peak": app.in_flight.peaks()})
    if method == "GET" and parts == ["usage"]:
        return _ok(usage_state(app))
    if method == "POST" and parts == ["reset"]:
        app.store.reset()
        app.usage.reset()
        app.in_flight.reset()
        if app.injector is not None:
            with app.store.lock:
                app.injector.reset()
        return _ok({"success": True})
    return _reply(404, {"error": f"unknown admin endpoint {method} {path}"})


def faults_state(app: SandboxApp) -> dict[str, Any]:
    """``GET /__sandbox/faults``: settings (token redacted), blocks, budgets used, injected counts."""
    with app.store.lock:
        if app.injector is None:
            return {"faults": None, "blocks": {}, "budget_used": {}, "injected": {}}
        return app.injector.state(app)


def _settings(app: SandboxApp, method: str, parts: list[str], body: dict[str, Any]) -> Response:
    if parts == ["faults"] and method == "GET":
        return _ok(faults_state(app))
    if parts == ["faults"] and method in ("POST", "PUT", "DELETE"):
        app.faults = Faults.from_dict(body) if method != "DELETE" else None
        return _ok(faults_state(app))
    if parts == ["faults", "block"] and method == "POST":
        app.throttle(body.get("account_id"), str(body.get("code") or "80003/2446079"), body.get("seconds"))
        return _ok(faults_state(app))
    if parts == ["tokens"] and method == "POST":
        app.allow_token(str(body.get("token") or ""))
        return _ok({"success": True})
    if parts == ["config"] and method in ("GET", "POST"):
        if method == "POST":
            unknown = sorted(set(body) - set(CONFIG_KNOBS))
            if unknown:
                raise ValueError(f"unknown config knob(s): {', '.join(unknown)}")
            for name in TUPLE_KNOBS:
                if name in body:
                    if not isinstance(body[name], list):
                        raise ValueError(f"{name} must be a list")
                    body[name] = tuple(str(v) for v in body[name])
            new = dataclasses.replace(app.config, **body)
            check(new)
            app.config = new
        return _ok({name: _jsonable(getattr(app.config, name)) for name in CONFIG_KNOBS})
    return _reply(404, {"error": f"unknown admin endpoint {method} /__sandbox/{'/'.join(parts)}"})


def _adsets(app: SandboxApp, method: str, parts: list[str], body: bytes) -> Response:
    """Ad sets and campaigns: admin create, list, one."""
    is_adset = parts[0] == "adsets"
    create = adsets.admin_create if is_adset else campaigns.admin_create
    if method == "POST" and len(parts) == 1:
        try:
            with app.store.lock:
                return _ok(create(app, _body(body)))
        except (ValueError, TypeError) as err:
            return _reply(400, {"error": str(err)})
    everything: list[Any] = app.store.list_adsets() if is_adset else app.store.campaigns.all()
    if method == "GET" and len(parts) == 1:
        return _ok({"data": [a.raw() for a in everything]})
    if method == "GET" and len(parts) == 2:
        found = next((a for a in everything if str(a.id) == parts[1]), None)
        if found is None:
            return _reply(404, {"error": f"no {'ad set' if is_adset else 'campaign'} {parts[1]}"})
        return _ok(found.raw())
    return _reply(404, {"error": f"unknown admin endpoint {method} /__sandbox/{'/'.join(parts)}"})


def usage_state(app: SandboxApp) -> dict[str, Any]:
    """``GET /__sandbox/usage``: tier, per-account score, blocks and custom_audience calls in the last hour."""
    with app.store.lock:
        return app.usage.snapshot()


def _body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError("the body must be a JSON object")
    return value


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def audiences(app: SandboxApp) -> list[dict[str, Any]]:
    """Summary of every live audience (oldest first)."""
    out = []
    for aud in reversed(app.store.list_audiences()):
        out.append(
            {
                "id": str(aud.id),
                "account_id": aud.account_id,
                "name": aud.data.get("name"),
                "subtype": aud.subtype,
                "member_count": aud.member_count,
                "persons": aud.persons,
                "kind": aud.kind,
                "schema": aud.schema,
            }
        )
    return out


def _ok(value: Any) -> Response:
    return _reply(200, value)


def _reply(status: int, value: Any) -> Response:
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(value).encode()
