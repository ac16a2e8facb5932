"""Lookalike audiences: tiers from ratios, created after their source, never edited, pruned in order.

Pure helpers (tiers, specs, names, prune order) and the IO step :func:`sync_lookalike`, which the
orchestrator calls once the customer lists of the run are done (meta-api.md §1.7):

* several ``ratios`` make non-overlapping tiers with ``starting_ratio`` (0–1 %, 1–3 %, 3–5 %);
* one country goes in ``country``; several in ``location_spec.geo_locations.countries``;
* Meta cannot edit a lookalike: a changed spec is a new tier (a new local key), and the old one is an
  orphan, deleted only by ``sync --prune``;
* a source below Meta's minimum (100 people) is a skip with a warning, retried on the next run;
* lookalikes take hours to fill: their delivery status is reported, never waited for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .config import Audience
from .errors import MetaApiError
from .meta.client import MetaClient
from .state import StateStore

log = logging.getLogger(__name__)
MIN_SEED = 100


@dataclass(frozen=True)
class Tier:
    """One lookalike audience on Meta: a ratio band over a set of countries."""

    parent: str
    countries: tuple[str, ...]
    start: float
    ratio: float

    @property
    def key(self) -> str:
        """The local name of the tier; it changes whenever the spec does (Meta cannot edit a lookalike)."""
        return f"{self.parent}~{'+'.join(self.countries)}~{self.start:.2f}-{self.ratio:.2f}"

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"ratio": round(self.ratio, 2)}
        if self.start:
            spec["starting_ratio"] = round(self.start, 2)
        if len(self.countries) == 1:
            spec["country"] = self.countries[0]
        else:
            spec["location_spec"] = {"geo_locations": {"countries": list(self.countries)}}
        return spec

    def display(self, name: str, source: str) -> str:
        """The name on Meta states the source, the countries and the band."""
        return f"{name} · {source} · {'+'.join(self.countries)} · {self.start * 100:g}–{self.ratio * 100:g} %"


def tiers(a: Audience) -> list[Tier]:
    """Non-overlapping tiers from the sorted ratios (0–r1, r1–r2, …)."""
    assert a.lookalike is not None
    countries = tuple(sorted({c.upper() for c in a.lookalike.countries}))
    out, start = [], 0.0
    for r in sorted(a.lookalike.ratios):
        out.append(Tier(a.name, countries, start, r))
        start = r
    return out


def is_tier_key(name: str) -> bool:
    return name.count("~") == 2


def parent_of(name: str) -> str:
    return name.split("~", 1)[0]


def prune_order(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lookalikes before customer lists: Meta refuses to delete a seed that still has lookalikes (2656)."""
    return sorted(records, key=lambda r: (r.get("subtype") != "LOOKALIKE", r["name"]))


def sync_lookalike(a: Audience, client: MetaClient, store: StateStore, account: str,
                   source_display: str | None) -> tuple[str, list[str]]:
    """Create the missing tiers of one lookalike audience; return (action, one note per tier)."""
    assert a.lookalike is not None
    src = a.lookalike.source
    if src.isdigit():
        origin, label = src, source_display or src
    else:
        rec = store.audience(src) or {}
        if not rec.get("meta_id"):
            return "skipped", [f"its source {src} has not been synced yet; retried next run"]
        origin, label = rec["meta_id"], source_display or src
        info = client.audience(origin, ("id", "approximate_count_lower_bound")) or {}
        size = int(info.get("approximate_count_lower_bound") or 0)
        if size < MIN_SEED:
            log.warning("lookalike %s skipped: its source %s has %d people, Meta needs at least %d",
                        a.name, src, size, MIN_SEED)
            return "skipped", [f"source {src} has {size} people; Meta needs at least {MIN_SEED}; retried next run"]
    created, notes = 0, []
    for t in tiers(a):
        rec = store.audience(t.key) or {}
        info = client.audience(rec["meta_id"], ("id", "delivery_status", "operation_status")) \
            if rec.get("meta_id") else None
        if info is None:
            name = t.display(a.display_name or a.name, label)
            try:
                meta_id = client.create_lookalike(name, origin, t.spec())
            except MetaApiError as exc:
                if exc.code == 2654 and "small" in str(exc).lower():
                    return "skipped", [f"Meta says the source is too small; retried next run ({exc.code})"]
                raise
            store.save_audience(t.key, account_id=account, meta_id=meta_id, display_name=name, subtype="LOOKALIKE",
                                created_by_fbsync=True)
            store.set_extra(t.key, parent=a.name, spec=t.spec(), origin=origin)
            created += 1
            info = client.audience(meta_id, ("id", "delivery_status", "operation_status")) or {}
        status = (info.get("operation_status") or {}).get("description") or \
            (info.get("delivery_status") or {}).get("description") or "unknown"
        notes.append(f"{t.start * 100:g}–{t.ratio * 100:g} % {'+'.join(t.countries)}: {status}")
    return ("created" if created else "unchanged"), notes


def orphans(store: StateStore, declared: list[Audience]) -> list[dict[str, Any]]:
    """Audiences fbsync created that the YAML no longer declares (whole audiences, or old lookalike tiers)."""
    names = {a.name for a in declared if not a.is_lookalike}
    keys = {t.key for a in declared if a.is_lookalike for t in tiers(a)}
    out = []
    for rec in store.all_audiences():
        if not rec.get("created_by_fbsync") or not rec.get("meta_id"):
            continue
        if (is_tier_key(rec["name"]) and rec["name"] not in keys) or \
                (not is_tier_key(rec["name"]) and rec["name"] not in names):
            out.append(rec)
    return out
