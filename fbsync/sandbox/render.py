"""How audiences and ad accounts read back (docs/meta-api.md §1.2, §1.7; [R-CA]).

Fields with no value are omitted, as Graph omits them.  Requested fields must
exist on the node type (the SDK's field lists); unknown ones are refused with
Graph's code-100 "nonexisting field" error.
"""

from __future__ import annotations

import time
from typing import Any

from . import errors, lookalike
from .config import SandboxConfig, terms_accepted
from .integrity import OPERATION_STATUS, flagged_fields
from .params import parse_fields
from .sessions import SessionState
from .store import Audience

# CustomAudience.Field readable fields of facebook_business 26.0.3.
AUDIENCE_FIELDS = frozenset(
    [
        "account_id",
        "approximate_count_lower_bound",
        "approximate_count_upper_bound",
        "audience_labels",
        "customer_file_source",
        "data_source",
        "data_source_types",
        "datafile_custom_audience_uploading_status",
        "delete_time",
        "delivery_status",
        "description",
        "excluded_custom_audiences",
        "external_event_source",
        "fields_violating_integrity_policy",
        "household_audience",
        "id",
        "included_custom_audiences",
        "is_eligible_for_sac_campaigns",
        "is_household",
        "is_snapshot",
        "is_value_based",
        "lookalike_audience_ids",
        "lookalike_spec",
        "messenger_marketing_messages_page",
        "name",
        "operation_status",
        "opt_out_link",
        "owner_business",
        "page_deletion_marked_delete_time",
        "permission_for_actions",
        "pixel_id",
        "regulated_audience_spec",
        "retention_days",
        "rev_share_policy_id",
        "rule",
        "rule_aggregation",
        "rule_v2",
        "seed_audience",
        "sharing_status",
        "subtype",
        "time_content_updated",
        "time_created",
        "time_updated",
    ]
)
# AdAccount.Field of facebook_business 26.0.3.
ACCOUNT_FIELDS = frozenset(
    [
        "account_id",
        "account_status",
        "ad_account_promotable_objects",
        "age",
        "agency_client_declaration",
        "all_capabilities",
        "amount_spent",
        "attribution_spec",
        "balance",
        "brand_safety_content_filter_levels",
        "business",
        "business_city",
        "business_country_code",
        "business_name",
        "business_state",
        "business_street",
        "business_street2",
        "business_zip",
        "can_create_brand_lift_study",
        "capabilities",
        "created_time",
        "currency",
        "custom_audience_info",
        "default_dsa_beneficiary",
        "default_dsa_payor",
        "disable_reason",
        "end_advertiser",
        "end_advertiser_name",
        "existing_customers",
        "expired_funding_source_details",
        "extended_credit_invoice_group",
        "failed_delivery_checks",
        "fb_entity",
        "funding_source",
        "funding_source_details",
        "has_migrated_permissions",
        "has_page_authorized_adaccount",
        "id",
        "io_number",
        "is_attribution_spec_system_default",
        "is_ba_skip_delayed_eligible",
        "is_direct_deals_enabled",
        "is_in_3ds_authorization_enabled_market",
        "is_notifications_enabled",
        "is_personal",
        "is_prepay_account",
        "is_tax_id_required",
        "liable_address",
        "line_numbers",
        "marketing_messages_settings",
        "media_agency",
        "min_campaign_group_spend_cap",
        "min_daily_budget",
        "name",
        "offsite_clo_signal_status",
        "offsite_pixels_tos_accepted",
        "opportunity_score",
        "opportunity_score_weight",
        "owner",
        "owner_business",
        "partner",
        "rf_spec",
        "send_bill_to_address",
        "show_checkout_experience",
        "sold_to_address",
        "spend_cap",
        "tax_id",
        "tax_id_status",
        "tax_id_type",
        "timezone_id",
        "timezone_name",
        "timezone_offset_hours_utc",
        "tos_accepted",
        "user_access_expire_time",
        "user_tasks",
        "user_tos_accepted",
        "viewable_business",
    ]
)
USER_FIELDS = frozenset({"id", "name"})
SANDBOX_USER = {"id": "10000000000000001", "name": "Sandbox User"}
SANDBOX_BUSINESS = {"id": "20000000000000001", "name": "Sandbox Business"}

READY = {"code": 200, "description": "This audience is ready for use."}
TOO_SMALL = {"code": 300, "description": "This audience is too small to deliver ads. It needs at least 100 people."}
POPULATING_DELIVERY = {"code": 300, "description": "This lookalike audience is being populated."}
OP_NORMAL = {"code": 200, "description": "Normal"}
OP_NO_UPLOAD = {"code": 410, "description": "No upload: no customer file has been uploaded to this audience yet."}
OP_REPLACING = {"code": 414, "description": "Replace in progress: the audience's members are being replaced."}
OP_POPULATING = {"code": 441, "description": "Populating: this lookalike audience is being created."}
OP_FILLING = {
    "code": 441,
    "description": "Populating: this audience is being filled with your latest upload. It can already be used.",
}
OP_OUTDATED = {
    "code": 450,
    "description": "Out of date: this lookalike audience has not been used in an active ad set for 90 days. "
    "Use it in an ad set to refresh it.",
}
OP_EXPIRING = {
    "code": 100,
    "description": "Expiring: this audience has not been used in an active ad set for two years and will be "
    "deleted. Use it in an active ad set to keep it.",
}
DAY = 86_400
LOOKALIKE_IDLE_DAYS = 90  # docs/meta-api.md §1.7 "Lifecycle", §1.2 note on 450
CUSTOMER_LIST_IDLE_DAYS = 730  # two years, docs/meta-api.md §1.2 operation_status 100, §7.8
DELETE_AFTER_DAYS = 90  # deleted 90 days after delete_time is set (§1.2)
LAST_USED_KEY = "_last_used"


def select(
    full: dict[str, Any], requested: Any, allowed: frozenset[str], node_type: str, default: tuple[str, ...] = ("id",)
) -> dict[str, Any]:
    """Only the requested fields (always with ``id``), honouring ``a{b,c}`` sub-selection (a nested node
    keeps its ``id``, as Graph does)."""
    wanted = parse_fields(requested) or [(name, None) for name in default]
    out: dict[str, Any] = {}
    for name, subs in wanted:
        if name not in allowed:
            raise errors.nonexisting_field(name, node_type)
        if name in full:
            value = full[name]
            if subs and isinstance(value, dict):
                value = {k: v for k, v in value.items() if k in subs or k == "id"}
            out[name] = value
    out.setdefault("id", full["id"])
    return out


def audience_fields(
    aud: Audience, now: int, config: SandboxConfig, replace: SessionState | None, in_use: bool = False
) -> dict[str, Any]:
    """Every field the sandbox models for one audience (docs/meta-api.md §1.2 table).

    ``in_use``: an ACTIVE ad set targets it now (it counts as used, for 450 and 100).
    """
    data = aud.data
    lower, delivery, operation, delete_time = _state(aud, now, config, replace, in_use)
    flags = flagged_fields(aud)
    if flags:
        operation = OPERATION_STATUS
    full: dict[str, Any] = {
        "id": str(aud.id),
        "account_id": aud.account_id,
        "name": data.get("name"),
        "description": data.get("description"),
        "subtype": aud.subtype,
        "customer_file_source": data.get("customer_file_source"),
        "approximate_count_lower_bound": lower,
        "approximate_count_upper_bound": lower,
        "data_source": _data_source(aud),
        "delivery_status": delivery,
        "operation_status": operation,
        "time_created": aud.time_created,
        "time_updated": aud.time_updated,
        "time_content_updated": aud.time_content_updated,
        "lookalike_spec": data.get("lookalike_spec"),
        "lookalike_audience_ids": data.get("lookalike_audience_ids") or None,
        "retention_days": data.get("retention_days", 0),
        "is_value_based": bool(data.get("is_value_based", False)),
        "opt_out_link": data.get("opt_out_link"),
        "permission_for_actions": _permissions(aud),
        "sharing_status": {"sharing_relationship_id": 0, "status": "NOT_SHARED"},
        "fields_violating_integrity_policy": flags or None,
        "delete_time": delete_time,
    }
    return {k: v for k, v in full.items() if v is not None}


def unused_since(aud: Audience, now: int, in_use: bool) -> int:
    """Since when the audience has not been in an active ad set (now while it is)."""
    return now if in_use else max(aud.time_created, int(aud.data.get(LAST_USED_KEY) or 0))


def _state(
    aud: Audience, now: int, config: SandboxConfig, replace: SessionState | None, in_use: bool
) -> tuple[int, dict, dict, int | None]:
    """(size, delivery_status, operation_status, delete_time) — rules in docs/sandbox.md "Statuses"."""
    idle = now - unused_since(aud, now, in_use)
    if aud.subtype == "LOOKALIKE":
        if now - aud.time_created < config.lookalike_build_seconds:
            return -1, POPULATING_DELIVERY, OP_POPULATING, None
        if idle >= LOOKALIKE_IDLE_DAYS * DAY:
            return -1, READY, OP_OUTDATED, None
        size = lookalike.size(aud.data["lookalike_spec"], config.lookalike_people_per_country)
        return size, READY, OP_NORMAL, None
    size = aud.persons  # matched people, not uploaded rows (docs/sandbox.md "Matching people")
    delivery = READY if size >= 100 else TOO_SMALL
    if replace is not None:
        return size, delivery, OP_REPLACING, None
    if aud.kind and now - aud.time_content_updated < config.populate_seconds:
        return size, delivery, OP_FILLING, None
    if idle >= CUSTOMER_LIST_IDLE_DAYS * DAY:
        delete_time = now - idle + (CUSTOMER_LIST_IDLE_DAYS + DELETE_AFTER_DAYS) * DAY
        return size, delivery, OP_EXPIRING, delete_time
    return size, delivery, OP_NORMAL if aud.kind else OP_NO_UPLOAD, None


def _data_source(aud: Audience) -> dict[str, str]:
    """``FILE_IMPORTED`` + the locked kind after the first upload [fpbs#433]; ``UNKNOWN`` before."""
    if aud.kind:
        return {"type": "FILE_IMPORTED", "sub_type": aud.kind}
    return {"type": "UNKNOWN", "sub_type": "ANYTHING"}


def _permissions(aud: Audience) -> dict[str, bool]:
    custom = aud.subtype == "CUSTOM"
    return {
        "can_edit": True,
        "can_see_insight": True,
        "can_share": True,
        "subtype_supports_lookalike": custom,
        "supports_recipient_lookalike": False,
    }


def account_fields(account_id: str, created: int, config: SandboxConfig | None = None) -> dict[str, Any]:
    """An ad account; by default active with the Custom Audience and value-based terms accepted
    (docs/meta-api.md §1.1 "Needs", §1.7 "Value-based terms").

    ``config`` can make it disabled (``account_status``/``disable_reason``) or without the terms
    (``tos_accepted`` is then ``{}``; without the value-based terms only, ``value_based_custom_audience_tos``
    is left out; the value-based terms come on top of the Custom Audience terms (inf)).
    """
    config = config or SandboxConfig()
    tos = {"custom_audience_tos": 1} if terms_accepted(config, account_id) else {}
    if tos and config.value_based_tos:
        tos["value_based_custom_audience_tos"] = 1
    return {
        "id": f"act_{account_id}",
        "account_id": account_id,
        "name": f"Sandbox ad account {account_id}",
        "account_status": config.account_status,
        "age": 0.0,
        "amount_spent": "0",
        "balance": "0",
        "business": dict(SANDBOX_BUSINESS),
        "created_time": time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(created)),
        "currency": "EUR",
        "disable_reason": config.disable_reason,
        "is_personal": 0,
        "owner": SANDBOX_BUSINESS["id"],
        "timezone_id": 85,
        "timezone_name": "Europe/Paris",
        "timezone_offset_hours_utc": 1.0,
        "tos_accepted": dict(tos),
        "user_tos_accepted": dict(tos),
    }
