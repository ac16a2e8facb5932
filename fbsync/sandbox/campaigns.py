"""A minimal campaign node: what ad sets need to know about special ad categories (docs/meta-api.md §8).

Campaigns are created through the admin endpoint (``POST /__sandbox/campaigns``) with
``special_ad_categories`` (``[]``, ``["HOUSING"]``, ``["EMPLOYMENT"]``,
``["FINANCIAL_PRODUCTS_SERVICES"]``, …); Graph reads them (``GET /{campaign_id}``) and ad
sets created under one read it back as ``campaign{…}`` / ``campaign_id``.  Campaigns share
the audiences' and ad sets' id space (one numeric id names one node).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .params import GraphRequest
from .sessions import TablesOnStore

if TYPE_CHECKING:
    from .app import SandboxApp

#: Campaign.SpecialAdCategories of the SDK (26.0.3); the former CREDIT was renamed (docs/meta-api.md §8).
CATEGORIES = frozenset(
    {
        "NONE",
        "EMPLOYMENT",
        "HOUSING",
        "FINANCIAL_PRODUCTS_SERVICES",
        "ISSUES_ELECTIONS_POLITICS",
        "ONLINE_GAMBLING_AND_GAMING",
    }
)
STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")
# Campaign.Field of facebook_business 26.0.3 (readable; only a few carry a value here).
CAMPAIGN_FIELDS = frozenset(
    [
        "account_id",
        "adlabels",
        "advantage_state_info",
        "bid_constraints",
        "bid_strategy",
        "boosted_object_id",
        "brand_lift_studies",
        "budget_rebalance_flag",
        "budget_remaining",
        "buying_type",
        "campaign_group_active_time",
        "can_create_brand_lift_study",
        "can_use_spend_cap",
        "configured_status",
        "created_time",
        "daily_budget",
        "effective_status",
        "frequency_control_specs",
        "has_secondary_skadnetwork_reporting",
        "id",
        "is_adset_budget_sharing_enabled",
        "is_budget_schedule_enabled",
        "is_direct_send_campaign",
        "is_message_campaign",
        "is_meta_moment_maker_enabled",
        "is_pca_unified",
        "is_reels_trending_ads_enabled",
        "is_skadnetwork_attribution",
        "issues_info",
        "last_budget_toggling_time",
        "lifetime_budget",
        "name",
        "objective",
        "pacing_type",
        "primary_attribution",
        "promoted_object",
        "recommendations",
        "smart_promotion_type",
        "source_campaign",
        "source_campaign_id",
        "source_recommendation_type",
        "special_ad_categories",
        "special_ad_category",
        "special_ad_category_country",
        "spend_cap",
        "start_time",
        "status",
        "stop_time",
        "topline_id",
        "updated_time",
    ]
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
  id INTEGER PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, objective TEXT NOT NULL,
  categories TEXT NOT NULL, status TEXT NOT NULL, time_created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS adset_campaigns (adset_id INTEGER PRIMARY KEY, campaign_id INTEGER NOT NULL);
"""


@dataclass
class Campaign:
    """One stored campaign."""

    id: int
    account_id: str
    name: str
    objective: str
    special_ad_categories: list[str]
    status: str
    time_created: int

    def raw(self) -> dict[str, Any]:
        """The stored record, as ``GET /__sandbox/campaigns/{id}`` returns it."""
        return {
            "id": str(self.id),
            "account_id": self.account_id,
            "name": self.name,
            "objective": self.objective,
            "special_ad_categories": self.special_ad_categories,
            "status": self.status,
            "time_created": self.time_created,
        }

    @property
    def special(self) -> list[str]:
        """The categories that restrict targeting (``NONE`` does not)."""
        return [c for c in self.special_ad_categories if c != "NONE"]


class CampaignStore(TablesOnStore):
    """Campaign rows on the store's connection (like ``SessionStore``)."""

    SCHEMA = _SCHEMA

    def insert(self, campaign: Campaign) -> None:
        """Store a new campaign (its id chosen by the caller)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO campaigns (id, account_id, name, objective, categories, status, time_created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    campaign.id,
                    campaign.account_id,
                    campaign.name,
                    campaign.objective,
                    json.dumps(campaign.special_ad_categories),
                    campaign.status,
                    campaign.time_created,
                ),
            )

    def get(self, campaign_id: int) -> Campaign | None:
        """The campaign with this id, or None."""
        if not 0 < campaign_id < 2**63:
            return None
        with self._transaction() as db:
            row = db.execute(_SELECT + " WHERE id=?", (campaign_id,)).fetchone()
        return _campaign(row) if row else None

    def all(self) -> list[Campaign]:
        """Every campaign, oldest first."""
        with self._transaction() as db:
            return [_campaign(r) for r in db.execute(_SELECT + " ORDER BY id").fetchall()]

    def link(self, adset_id: int, campaign_id: int) -> None:
        """Record that an ad set belongs to a campaign."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO adset_campaigns VALUES (?, ?)", (adset_id, campaign_id))

    def of_adset(self, adset_id: int) -> Campaign | None:
        """The campaign of an ad set (None for an ad set created without one)."""
        with self._transaction() as db:
            row = db.execute("SELECT campaign_id FROM adset_campaigns WHERE adset_id=?", (adset_id,)).fetchone()
        return self.get(int(row[0])) if row else None

    def clear(self) -> None:
        """Forget every campaign (admin reset)."""
        self._db.execute("DELETE FROM campaigns")
        self._db.execute("DELETE FROM adset_campaigns")


_SELECT = "SELECT id, account_id, name, objective, categories, status, time_created FROM campaigns"


def _campaign(row: tuple[Any, ...]) -> Campaign:
    return Campaign(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])


def fields(campaign: Campaign) -> dict[str, Any]:
    """Every field the sandbox models for a campaign."""
    created = dt.datetime.fromtimestamp(campaign.time_created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S%z")
    return {
        "id": str(campaign.id),
        "account_id": campaign.account_id,
        "name": campaign.name,
        "objective": campaign.objective,
        "special_ad_categories": list(campaign.special_ad_categories),
        "status": campaign.status,
        "configured_status": campaign.status,
        "effective_status": campaign.status,
        "created_time": created,
        "updated_time": created,
    }


def get_campaign(app: SandboxApp, req: GraphRequest) -> dict[str, Any]:
    """``GET /{campaign_id}?fields=…``: only the requested fields (+``id``), default ``id``."""
    from . import render  # (render imports the store, which imports this module)

    campaign: Campaign = req.extra["campaign"]
    return render.select(fields(campaign), req.params.get("fields"), CAMPAIGN_FIELDS, "Campaign")


def admin_create(app: SandboxApp, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /__sandbox/campaigns``: ``{"account_id": "act_1", "name", "special_ad_categories", "objective",
    "status", "id"}`` → ``{"id"}``; ``ValueError`` (→ HTTP 400) with the reason."""
    account = str(body.get("account_id") or "").removeprefix("act_")
    if not account.isdigit():
        raise ValueError("account_id must be act_<digits>")
    categories = body.get("special_ad_categories", [])
    if not isinstance(categories, list) or any(c not in CATEGORIES for c in categories):
        raise ValueError(f"special_ad_categories must be a list of: {', '.join(sorted(CATEGORIES))}")
    status = str(body.get("status") or "PAUSED")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    name, objective = body.get("name"), body.get("objective") or "OUTCOME_SALES"
    if (name is not None and not isinstance(name, str)) or not isinstance(objective, str):
        raise ValueError("name and objective must be strings")
    wanted = body.get("id")
    with app.store.transaction():
        new_id = app.store.claim_id(wanted)
        app.store.ensure_account(account, app.now())
        app.store.campaigns.insert(
            Campaign(new_id, account, name or f"Sandbox campaign {new_id}", objective, categories, status, app.now())
        )
    return {"id": str(new_id)}
