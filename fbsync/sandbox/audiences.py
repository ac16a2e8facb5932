"""Ad account and audience endpoints: ``/me``, ``/act_{id}``, ``/act_{id}/customaudiences``, ``/{id}``."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import errors, integrity, lookalike, render, valuebased
from .params import GraphRequest, as_bool, as_int, as_str
from .store import Audience

if TYPE_CHECKING:
    from .app import SandboxApp

FILE_SOURCES = ("USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED")
AUDIENCE_LABELS = frozenset(
    [
        "APP_USERS",
        "AT_RISK",
        "CART_ABANDONERS",
        "DISENGAGED",
        "DISQUALIFIED_LEADS",
        "ENGAGED_USERS",
        "GENERAL_CUSTOMERS",
        "HIGH_VALUE_CUSTOMERS",
        "LOW_VALUE_CUSTOMERS",
        "OTHER_1",
        "OTHER_2",
        "OTHER_3",
        "QUALIFIED_LEADS",
        "RECENT_PURCHASERS",
        "TRIAL_USERS",
    ]
)
DEFAULT_LIMIT = 25
MAX_LIMIT = 5000


def get_me(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /me`` → the token's user."""
    return render.select(
        dict(render.SANDBOX_USER), req.params.get("fields"), render.USER_FIELDS, "User", default=("id", "name")
    )


def get_account(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /act_{id}``: any ``act_<digits>`` exists, created on first use (contract.md, `fbsync sandbox`)."""
    assert req.account_id is not None
    created = app.store.ensure_account(req.account_id, app.now())
    full = render.account_fields(req.account_id, created, app.config)
    return render.select(
        full, req.params.get("fields"), render.ACCOUNT_FIELDS, "AdAccount", default=("account_id", "id")
    )


def _common(params: dict[str, Any]) -> dict[str, Any]:
    """Fields shared by create and update (docs/meta-api.md §1.1 "Parameters" / "Optional", §1.4)."""
    out: dict[str, Any] = {}
    for name in ("name", "description", "opt_out_link"):
        value = as_str(params, name)
        if value is not None:
            out[name] = value
    source = as_str(params, "customer_file_source")
    if source is not None:
        if source not in FILE_SOURCES:
            raise errors.param(f"customer_file_source must be one of the following values: {', '.join(FILE_SOURCES)}")
        out["customer_file_source"] = source
    days = as_int(params, "retention_days")
    if days is not None:
        if not 1 <= days <= 180:
            raise errors.param("retention_days must be between 1 and 180")
        out["retention_days"] = days
    value_based = as_bool(params, "is_value_based")
    if value_based is not None:
        out["is_value_based"] = value_based
    labels = params.get("audience_labels")
    if labels not in (None, ""):
        if not isinstance(labels, list) or any(label not in AUDIENCE_LABELS for label in labels):
            raise errors.param(f"audience_labels must be a list of: {', '.join(sorted(AUDIENCE_LABELS))}")
        out["audience_labels"] = labels
    return out


def create_audience(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``POST /act_{id}/customaudiences`` with subtype CUSTOM or LOOKALIKE (docs/meta-api.md §1.1, §1.7)."""
    account = req.account_id
    assert account is not None
    app.store.ensure_account(account, app.now())
    subtype = as_str(req.params, "subtype")
    if subtype is None:
        raise errors.required("subtype")
    data = _common(req.params)
    if not data.get("name"):
        raise errors.required("name")
    existing = _fetch_existing(app, account, data, req.params)
    if existing is not None:
        return _created(app, existing.id, req.params)
    if subtype == "CUSTOM":
        _check_custom(app, account, data)
    elif subtype == "LOOKALIKE":
        _prepare_lookalike(app, account, req.params, data)
    else:
        raise errors.param(f"subtype {subtype} is not simulated by the sandbox: use CUSTOM or LOOKALIKE")
    flags = integrity.violating_fields(data, app.config.integrity_words)
    if flags:
        data[integrity.FLAG_KEY] = flags  # flagged at create: operation_status 471 (docs/meta-api.md §8)
    new_id = app.store.create_audience(account, subtype, data, app.now())
    if subtype == "LOOKALIKE":
        seed = app.store.get_audience(data["origin_audience_id"])
        assert seed is not None
        ids = list(seed.data.get("lookalike_audience_ids", [])) + [str(new_id)]
        app.store.update_audience(seed.id, {"lookalike_audience_ids": ids}, app.now())
    return _created(app, new_id, req.params)


def _created(app: SandboxApp, audience_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """``{"id"}``, or the fields asked for (read-after-write, docs/meta-api.md §1.1 "Response")."""
    if params.get("fields"):
        audience = app.store.get_audience(audience_id)
        assert audience is not None
        return app.render_audience(audience, params["fields"])
    return {"id": str(audience_id)}


def _fetch_existing(app: SandboxApp, account: str, data: dict[str, Any], params: dict[str, Any]) -> Audience | None:
    """``enable_fetch_or_create=true``: an audience of the account with the same name (and, for rule-based
    audiences, the same rule, which customer lists and lookalikes do not have) is returned instead of a
    new one (docs/meta-api.md §1.1, "enable_fetch_or_create")."""
    if not as_bool(params, "enable_fetch_or_create"):
        return None
    return next((a for a in app.store.list_audiences(account) if a.data.get("name") == data["name"]), None)


def _check_custom(app: SandboxApp, account: str, data: dict[str, Any]) -> None:
    """A customer-file audience needs its source, and an account holds at most 500 (docs/meta-api.md §1.1)."""
    if "customer_file_source" not in data:
        raise errors.required("customer_file_source")
    if data.get("is_value_based"):
        valuebased.check_terms(app, account)  # docs/meta-api.md §1.7 "Value-based terms"
    if app.store.count_audiences(account, "CUSTOM") >= app.config.max_customer_file_audiences:
        raise errors.create_failed(
            f"Failed to create custom audience: this ad account has reached the limit of "
            f"{app.config.max_customer_file_audiences} customer file custom audiences."
        )


def _prepare_lookalike(app: SandboxApp, account: str, params: dict[str, Any], data: dict[str, Any]) -> None:
    """Validate seed and spec (docs/meta-api.md §1.7) and store the read-back spec with its ``origin``."""
    spec = lookalike.parse_spec(params.get("lookalike_spec"))
    seed = lookalike.seed_for(app.store, account, params.get("origin_audience_id"))
    valuebased.check_lookalike(app, seed, spec)
    lookalike.check_duplicate(app.store, account, seed, spec)
    if app.store.count_audiences(account, "LOOKALIKE") >= app.config.max_lookalikes:
        raise errors.create_failed(
            f"Failed to create lookalike audience: this ad account has reached the limit of "
            f"{app.config.max_lookalikes} lookalike audiences."
        )
    spec["origin"] = [{"id": str(seed.id), "name": seed.data.get("name"), "type": "custom_audience"}]
    data.pop("customer_file_source", None)
    data["lookalike_spec"] = spec
    data["origin_audience_id"] = seed.id


def get_audience(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /{audience_id}?fields=…`` (docs/meta-api.md §1.2)."""
    return app.render_audience(req.extra["audience"], req.params.get("fields"))


def update_audience(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``POST /{audience_id}`` → ``{"success": true}`` (docs/meta-api.md §1.4 "Update")."""
    audience: Audience = req.extra["audience"]
    changes = _common(req.params)
    if changes or "name" in req.params:
        integrity.check_edit(audience)  # any edit of a flagged audience: 100/1713228 (docs/meta-api.md §1.4)
    if audience.subtype == "LOOKALIKE":
        changes = {k: v for k, v in changes.items() if k in ("name", "description")}
    if changes.get("is_value_based", valuebased.is_value_based(audience)) != valuebased.is_value_based(audience):
        raise valuebased.value_based_fixed()
    if "name" in req.params and not changes.get("name", audience.data.get("name")):
        raise errors.param("name cannot be empty")
    if changes:
        flags = integrity.violating_fields({**audience.data, **changes}, app.config.integrity_words)
        if flags:
            changes[integrity.FLAG_KEY] = flags  # flagged at update (docs/meta-api.md §8)
        app.store.update_audience(audience.id, changes, app.now())
    return {"success": True}


def delete_audience(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``DELETE /{audience_id}``; refused with 2656 while lookalikes of it exist (docs/meta-api.md §1.4)."""
    audience: Audience = req.extra["audience"]
    if audience.data.get("lookalike_audience_ids"):
        raise errors.lookalikes_exist()
    app.store.delete_audience(audience.id)
    seed_id = audience.data.get("origin_audience_id")
    seed = app.store.get_audience(seed_id) if seed_id else None
    if seed is not None:
        ids = [i for i in seed.data.get("lookalike_audience_ids", []) if i != str(audience.id)]
        app.store.update_audience(seed.id, {"lookalike_audience_ids": ids}, app.now())
    return {"success": True}


def list_audiences(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /act_{id}/customaudiences`` with fields, filtering and cursor paging (docs/meta-api.md §1.3)."""
    assert req.account_id is not None
    app.store.ensure_account(req.account_id, app.now())
    limit = as_int(req.params, "limit", lo=1, hi=MAX_LIMIT) or DEFAULT_LIMIT
    rules = _filters(req.params.get("filtering"))
    fields = req.params.get("fields")
    rows = []
    in_use = app.store.active_targeted_ids()
    for audience in app.store.list_audiences(req.account_id):
        full = app.audience_full(audience, in_use=str(audience.id) in in_use)
        if all(_matches(full, rule) for rule in rules):
            rows.append(full)
    page, has_before, has_after = _page(rows, req.params, limit)
    data = [render.select(full, fields, render.AUDIENCE_FIELDS, "CustomAudience") for full in page]
    if not data:
        return {"data": []}
    cursors = {"before": _cursor(page[0]["id"]), "after": _cursor(page[-1]["id"])}
    paging: dict[str, Any] = {"cursors": cursors}
    if has_after:
        paging["next"] = _link(req, "after", cursors["after"])
    if has_before:
        paging["previous"] = _link(req, "before", cursors["before"])
    return {"data": data, "paging": paging}


def _cursor(audience_id: str) -> str:
    return base64.urlsafe_b64encode(audience_id.encode()).decode().rstrip("=")


def _uncursor(cursor: Any, name: str) -> int:
    try:
        text = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        return int(text)
    except (ValueError, UnicodeDecodeError):
        raise errors.param(f"Invalid {name} cursor") from None


def _page(rows: list[dict[str, Any]], params: dict[str, Any], limit: int) -> tuple[list[dict[str, Any]], bool, bool]:
    """Newest first; ``after``/``before`` are opaque cursors of audience ids."""
    if params.get("after"):
        pivot = _uncursor(params["after"], "after")
        rest = [r for r in rows if int(r["id"]) < pivot]
        return rest[:limit], True, len(rest) > limit
    if params.get("before"):
        pivot = _uncursor(params["before"], "before")
        rest = [r for r in rows if int(r["id"]) > pivot]
        return rest[-limit:], len(rest) > limit, True
    return rows[:limit], False, len(rows) > limit


def _link(req: GraphRequest, name: str, cursor: str) -> str:
    """Full URL of the next/previous page on this same server, as Graph builds it."""
    query = {
        k: (json.dumps(v, separators=(",", ":")) if isinstance(v, (list, dict, bool)) else v)
        for k, v in req.params.items()
        if k not in ("after", "before")
    }
    query[name] = cursor
    prefix = f"/{req.version}" if req.version else ""
    return f"{req.base_url}{prefix}/act_{req.account_id}/customaudiences?{urlencode(query)}"


FILTER_FIELDS = frozenset(
    {
        "id",
        "name",
        "subtype",
        "description",
        "customer_file_source",
        "retention_days",
        "operation_status.code",
        "delivery_status.code",
        "approximate_count_lower_bound",
        "approximate_count_upper_bound",
        "time_created",
        "time_updated",
        "time_content_updated",
    }
)
FILTER_OPERATORS = frozenset(
    {
        "EQUAL",
        "NOT_EQUAL",
        "IN",
        "NOT_IN",
        "CONTAIN",
        "NOT_CONTAIN",
        "GREATER_THAN",
        "GREATER_THAN_OR_EQUAL",
        "LESS_THAN",
        "LESS_THAN_OR_EQUAL",
    }
)


def _filters(raw: Any) -> list[dict[str, Any]]:
    """``filtering=[{"field","operator","value"}]`` (docs/meta-api.md §1.3); anything unknown is code 100."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise errors.param("Param filtering must be a JSON array")
    for rule in raw:
        if not isinstance(rule, dict) or not {"field", "operator"} <= set(rule):
            raise errors.param("Each filtering rule needs field, operator and value")
        if rule["field"] not in FILTER_FIELDS:
            raise errors.param(f"Filtering field '{rule['field']}' is invalid")
        if rule["operator"] not in FILTER_OPERATORS:
            raise errors.param(f"Filtering operator '{rule['operator']}' is invalid")
        if rule["operator"] in ("IN", "NOT_IN") and not isinstance(rule.get("value"), list):
            raise errors.param(f"Filtering operator {rule['operator']} needs a list value")
    return raw


def _field_value(full: dict[str, Any], name: str) -> Any:
    if name.endswith(".code"):
        return (full.get(name[: -len(".code")]) or {}).get("code")
    return full.get(name)


def _matches(full: dict[str, Any], rule: dict[str, Any]) -> bool:
    actual, op = _field_value(full, rule["field"]), rule["operator"]
    value: Any = rule.get("value")  # any JSON, or None; _filters made sure IN/NOT_IN have a list
    if op in ("EQUAL", "NOT_EQUAL"):
        return (str(actual) == str(value)) == (op == "EQUAL")
    if op in ("IN", "NOT_IN"):
        return (str(actual) in {str(v) for v in value}) == (op == "IN")
    if op in ("CONTAIN", "NOT_CONTAIN"):
        return (str(value).lower() in str(actual or "").lower()) == (op == "CONTAIN")
    try:
        left, right = float(actual), float(value)
    except (TypeError, ValueError):
        return False
    return {
        "GREATER_THAN": left > right,
        "GREATER_THAN_OR_EQUAL": left >= right,
        "LESS_THAN": left < right,
        "LESS_THAN_OR_EQUAL": left <= right,
    }[op]
