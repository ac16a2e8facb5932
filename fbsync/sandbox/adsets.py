"""Ad sets, just enough to wire audiences into targeting (docs/meta-api.md §1.8).

Real ad set creation needs a campaign, budget, billing event…; the sandbox does
not model those, so ad sets are created through the admin endpoint
(``POST /__sandbox/adsets``) and Graph only reads (``GET /{adset_id}``) and
updates (``POST /{adset_id}``) them.

``targeting`` is one object: an update **replaces** it whole (the SDK sends it
as one JSON value; Graph has no merge of targeting specs), so keys left out are
gone.  ``custom_audiences`` / ``excluded_custom_audiences`` take ``[id, …]`` or
``[{"id": …}, …]`` (≤ 500 each, audiences of the ad set's account, never both
included and excluded) and read back as ``[{"id": "…", "name": "…"}]``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from . import errors, integrity, render
from .campaigns import Campaign
from .campaigns import fields as campaign_fields
from .config import SandboxConfig
from .params import GraphRequest, as_str, json_object
from .store import AdSet, SandboxStore

if TYPE_CHECKING:
    from .app import SandboxApp

# AdSet.Field of facebook_business 26.0.3 (readable; only a few carry a value here).
ADSET_FIELDS = frozenset(
    [
        "account_id",
        "ad_set_goal",
        "adlabels",
        "adset_schedule",
        "anchor_event_attribution_window_days",
        "asset_feed_id",
        "attribution_count_type",
        "attribution_spec",
        "automatic_manual_state",
        "bid_adjustments",
        "bid_amount",
        "bid_constraints",
        "bid_info",
        "bid_strategy",
        "billing_event",
        "brand_safety_config",
        "budget_remaining",
        "campaign",
        "campaign_active_time",
        "campaign_attribution",
        "campaign_id",
        "configured_status",
        "created_time",
        "creative_diversity_label",
        "creative_diversity_score",
        "creative_sequence",
        "creative_sequence_repetition_pattern",
        "daily_budget",
        "daily_min_spend_target",
        "daily_spend_cap",
        "destination_type",
        "dsa_beneficiary",
        "dsa_payor",
        "effective_status",
        "end_time",
        "existing_customer_budget_percentage",
        "frequency_control_specs",
        "full_funnel_exploration_mode",
        "id",
        "instagram_user_id",
        "is_ba_skip_delayed_eligible",
        "is_budget_schedule_enabled",
        "is_dc_follow_optimized",
        "is_dynamic_creative",
        "is_incremental_attribution_enabled",
        "is_organic_ad_joint_optimized",
        "is_sequenced_conversion_creation",
        "issues_info",
        "learning_stage_info",
        "lifetime_budget",
        "lifetime_imps",
        "lifetime_min_spend_target",
        "lifetime_spend_cap",
        "live_video_ad_campaign_config",
        "low_creative_reach",
        "max_budget_spend_percentage",
        "meta_moment_maker_spec",
        "min_budget_spend_percentage",
        "multi_event_conversion_attribution_window_seconds",
        "multi_optimization_goal_weight",
        "name",
        "optimization_goal",
        "optimization_sub_event",
        "pacing_type",
        "placement_soft_opt_out",
        "promoted_object",
        "recommendations",
        "recurring_budget_semantics",
        "regional_regulated_categories",
        "regional_regulation_identities",
        "relative_value",
        "review_feedback",
        "rf_prediction_id",
        "source_adset",
        "source_adset_id",
        "special_ad_categories",
        "start_time",
        "status",
        "targeting",
        "targeting_optimization_types",
        "time_based_ad_rotation_id_blocks",
        "time_based_ad_rotation_intervals",
        "trending_topics_spec",
        "updated_time",
        "use_new_app_click",
        "value_rule_set_id",
        "value_rules_applied",
    ]
)
STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")
AUDIENCE_KEYS = ("custom_audiences", "excluded_custom_audiences")
MAX_AUDIENCES = 500
#: Targeting of an admin-created ad set when none is given (inf: the accounts are in Europe/Paris).
DEFAULT_TARGETING: dict[str, Any] = {"geo_locations": {"countries": ["FR"]}}


# --- validation (shared by the Graph update and the admin create) ---


def parse_targeting(value: Any) -> dict[str, Any]:
    """``targeting`` as sent: a JSON object, or a JSON string of one (form posts, the SDK)."""
    return json_object(value, "Param targeting must be a JSON object", "Param targeting must be a JSON object")


def check_targeting(
    store: SandboxStore,
    account_id: str,
    targeting: dict[str, Any],
    *,
    config: SandboxConfig | None = None,
    campaign: Campaign | None = None,
) -> dict[str, Any]:
    """Validate a whole targeting spec for an ad set of ``account_id``; return it with the audience lists
    normalized to ``[{"id": "…"}]`` (duplicates dropped), everything else as given.

    With ``config``: audiences of another business (1487301) and flagged audiences
    (``flagged_audience_in_adset``) are refused; with a special-category ``campaign``, lookalikes in
    ``custom_audiences`` and any ``excluded_custom_audiences`` are refused (100/2909035)."""
    geo = targeting.get("geo_locations")
    if not isinstance(geo, dict) or not any(geo.values()):
        raise errors.param(
            "Invalid parameter: targeting spec must include geo_locations. Your audience is missing a location: "
            "add geo_locations (countries, regions, cities, zips, …) to the targeting spec."
        )
    out = dict(targeting)
    lists: dict[str, list[str]] = {}
    for key in AUDIENCE_KEYS:
        if key not in targeting or targeting[key] is None:
            continue
        ids = _audience_ids(key, targeting[key])
        if len(ids) > MAX_AUDIENCES:
            raise errors.param(
                f"Invalid parameter: targeting[{key}] can contain at most {MAX_AUDIENCES} custom "
                f"audiences ({len(ids)} given)"
            )
        lists[key] = ids
        out[key] = [{"id": i} for i in ids]
    _check_automation(targeting.get("targeting_automation"))
    foreign = set(config.foreign_audience_ids) if config else set()
    for key, ids in lists.items():
        for audience_id in ids:
            if audience_id in foreign:
                raise errors.not_owned(audience_id)
            audience = store.get_audience(int(audience_id))
            if audience is None or not store.usable_by(audience, account_id):  # its own, or shared with it
                raise errors.param(
                    f"Invalid parameter: custom audience {audience_id} in targeting[{key}] does not exist or "
                    f"does not belong to ad account act_{account_id}"
                )
            if config and config.flagged_audience_in_adset == "refuse" and integrity.is_flagged(audience):
                raise errors.param(
                    f"Invalid parameter: custom audience {audience_id} ({audience.data.get('name')}) in "
                    f"targeting[{key}] has been flagged for integrity reasons (operation_status 471) and cannot "
                    "be used in ad sets. Remove it, or use another audience."
                )
            if campaign and campaign.special and key == "custom_audiences" and audience.subtype == "LOOKALIKE":
                raise errors.special_category_targeting(
                    campaign.special, f"lookalike audience {audience_id} cannot be used in targeting[custom_audiences]."
                )
    if campaign and campaign.special and lists.get("excluded_custom_audiences"):
        raise errors.special_category_targeting(
            campaign.special, "audience exclusions (targeting[excluded_custom_audiences]) are not available."
        )
    both = set(lists.get("custom_audiences", [])) & set(lists.get("excluded_custom_audiences", []))
    if both:
        first = min(both, key=lists["custom_audiences"].index)
        raise errors.param(
            f"Invalid parameter: custom audience {first} cannot be both included "
            f"(custom_audiences) and excluded (excluded_custom_audiences) in the same targeting"
        )
    return out


def _check_automation(value: Any) -> None:
    """``targeting_automation``: an object; ``advantage_audience`` 0 or 1 (docs/meta-api.md §8 "Advantage+")."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise errors.param("Param targeting[targeting_automation] must be a JSON object")
    flag = value.get("advantage_audience")
    if flag is not None and (isinstance(flag, bool) or flag not in (0, 1)):
        raise errors.param("Param targeting[targeting_automation][advantage_audience] must be 0 or 1")


def _audience_ids(key: str, value: Any) -> list[str]:
    if not isinstance(value, list):
        raise errors.param(f'Param targeting[{key}] must be an array of custom audience ids or {{"id": …}} objects')
    ids: list[str] = []
    for index, item in enumerate(value):
        raw = item.get("id") if isinstance(item, dict) else item
        if isinstance(raw, bool) or not isinstance(raw, (str, int)) or not str(raw).strip().isdigit():
            raise errors.param(f"Param targeting[{key}][{index}] must be a custom audience id or an object with an id")
        text = str(int(str(raw).strip()))
        if text not in ids:
            ids.append(text)
    return ids


# --- reads ---


def adset_fields(store: SandboxStore, adset: AdSet) -> dict[str, Any]:
    """Every field the sandbox models for one ad set; audiences named like Meta reads them back.

    ``effective_status`` is ``WITH_ISSUES`` for an ACTIVE ad set that targets a flagged audience
    (docs/meta-api.md §8 "Integrity flags"); ``campaign``/``campaign_id`` when it has a campaign.
    """
    targeting = dict(adset.targeting)
    flagged = False
    for key in AUDIENCE_KEYS:
        if isinstance(targeting.get(key), list):
            targeting[key] = [_named(store, entry["id"]) for entry in targeting[key]]
            flagged = flagged or any(
                (a := store.get_audience(int(e["id"]))) is not None and integrity.is_flagged(a) for e in targeting[key]
            )
    campaign = store.campaigns.of_adset(adset.id)
    return {
        "id": str(adset.id),
        "account_id": adset.account_id,
        "name": adset.name,
        "status": adset.status,
        "configured_status": adset.status,
        "effective_status": "WITH_ISSUES" if flagged and adset.status == "ACTIVE" else adset.status,
        "targeting": targeting,
        "created_time": _iso(adset.time_created),
        "updated_time": _iso(adset.time_updated),
        **({"campaign_id": str(campaign.id), "campaign": campaign_fields(campaign)} if campaign else {}),
    }


def mark_used(app: SandboxApp, adset: AdSet, *targetings: dict[str, Any]) -> None:
    """Audiences of an ACTIVE ad set count as used now (for 450 / 100, docs/meta-api.md §1.2, §1.7)."""
    now = app.now()
    for targeting in targetings:
        for key in AUDIENCE_KEYS:
            for entry in targeting.get(key) or []:
                audience = app.store.get_audience(int(entry["id"]))
                if audience is not None:
                    app.store.update_audience(audience.id, {render.LAST_USED_KEY: now}, now, touch=False)


def _named(store: SandboxStore, audience_id: str) -> dict[str, Any]:
    """``{"id","name"}``; an audience deleted since keeps its id, without a name (inf)."""
    audience = store.get_audience(int(audience_id))
    return {"id": audience_id, "name": audience.data.get("name")} if audience else {"id": audience_id}


def _iso(timestamp: int) -> str:
    """Graph's datetime format: ``2026-03-02T10:00:00+0000``."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


# --- Graph handlers ---


def get_adset(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /{adset_id}?fields=…``: only the requested fields (+``id``), default ``id``."""
    adset: AdSet = req.extra["adset"]
    return render.select(adset_fields(app.store, adset), req.params.get("fields"), ADSET_FIELDS, "AdSet")


def update_adset(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``POST /{adset_id}`` with ``targeting`` (replaced whole), ``name``, ``status`` → ``{"success": true}``."""
    adset: AdSet = req.extra["adset"]
    changes: dict[str, Any] = {}
    name = as_str(req.params, "name")
    if name is not None:
        changes["name"] = name
    elif "name" in req.params:
        raise errors.param("name cannot be empty")
    status = as_str(req.params, "status")
    if status is not None:
        if status not in STATUSES:
            raise errors.param(f"Param status must be one of {{{', '.join(STATUSES)}}}")
        changes["status"] = status
    if req.params.get("targeting") not in (None, ""):
        targeting = parse_targeting(req.params["targeting"])
        campaign = app.store.campaigns.of_adset(adset.id)
        changes["targeting"] = check_targeting(
            app.store, adset.account_id, targeting, config=app.config, campaign=campaign
        )
    if changes:
        if "ACTIVE" in (adset.status, changes.get("status")):
            mark_used(app, adset, adset.targeting, changes.get("targeting") or {})
        app.store.update_adset(adset.id, changes, app.now())
    return {"success": True}


# --- admin ---


def admin_create(app: SandboxApp, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /__sandbox/adsets``: ``{"account_id": "act_1", "name", "targeting", "status", "id",
    "campaign_id"}`` → ``{"id"}``.

    Raises ``ValueError`` (→ HTTP 400) with the reason; targeting is checked as a Graph update checks it.
    An ad set created under a campaign gets Meta's v23+ default ``targeting_automation.advantage_audience``
    1 when its targeting does not say (docs/meta-api.md §8 "Advantage+"); without a campaign the targeting
    is stored exactly as given.
    """
    account = str(body.get("account_id") or "")
    account = account[4:] if account.startswith("act_") else account
    if not account.isdigit():
        raise ValueError("account_id must be act_<digits>")
    status = str(body.get("status") or "PAUSED")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise ValueError("name must be a string")
    wanted = body.get("id")
    adset_id: int | None = None
    if wanted not in (None, ""):
        if isinstance(wanted, bool) or not str(wanted).isdigit() or not 0 < int(str(wanted)) < 2**63:
            raise ValueError("id must be a numeric string")
        adset_id = int(str(wanted))
    campaign = _admin_campaign(app, account, body.get("campaign_id"))
    with app.store.transaction():
        if adset_id is not None and app.store.id_taken(adset_id):
            raise ValueError(f"id {adset_id} is already used by an audience, an ad set or a campaign")
        try:
            raw = body["targeting"] if body.get("targeting") is not None else DEFAULT_TARGETING
            targeting = parse_targeting(raw)
            if campaign is not None and "targeting_automation" not in targeting:
                targeting = {**targeting, "targeting_automation": {"advantage_audience": 1}}
            targeting = check_targeting(app.store, account, targeting, config=app.config, campaign=campaign)
        except errors.GraphError as err:
            raise ValueError(err.message) from None
        app.store.ensure_account(account, app.now())
        new_id = app.store.create_adset(account, name, targeting, status, app.now(), adset_id)
        if campaign is not None:
            app.store.campaigns.link(new_id, campaign.id)
        created = app.store.get_adset(new_id)
        if created is not None and status == "ACTIVE":
            mark_used(app, created, targeting)
    return {"id": str(new_id)}


def _admin_campaign(app: SandboxApp, account: str, wanted: Any) -> Campaign | None:
    if wanted in (None, ""):
        return None
    campaign = app.store.campaigns.get(int(str(wanted))) if str(wanted).isdigit() else None
    if campaign is None or campaign.account_id != account:
        raise ValueError(f"campaign_id {wanted} is not a campaign of ad account act_{account}")
    return campaign
