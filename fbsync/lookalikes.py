"""Lookalike audiences: tiers from ratios, created after their source, never edited, pruned in order.

Pure helpers (tiers, specs, names, prune order) and the IO step :func:`sync_lookalike`, which the
orchestrator calls once the customer lists of the run are done (docs/meta-api.md §1.7):

* several ``ratios`` make non-overlapping tiers with ``starting_ratio`` (0–1 %, 1–3 %, 3–5 %);
* one country goes in ``country``; several in ``location_spec.geo_locations.countries``;
* Meta cannot edit a lookalike: a changed spec is a new tier (a new local key), and the old one is an
  orphan, deleted only by ``sync --prune``;
* a source below Meta's minimum (100 people) is a skip with a warning, retried on the next run;
* lookalikes take hours to fill: their delivery status is reported, never waited for.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from . import audiences, integrity
from .config import Audience
from .errors import IntegrityFlagged, MetaApiError
from .meta.client import MetaClient
from .planning import lookalike_cap_refusal
from .results import AudienceResult
from .state.store import StateStore

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

    def spec(self, value_based: bool = False) -> dict[str, Any]:
        """Meta's ``lookalike_spec``; a value-based seed takes the ``custom_ratio`` type (docs/meta-api.md §1.7)."""
        spec: dict[str, Any] = {"ratio": round(self.ratio, 2)}
        if value_based:
            spec["type"] = "custom_ratio"
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
    """The audience slot a local name belongs to (a tier's lookalike, a retired list's ``NAME@ID``, or
    itself; a slot on another account, ``NAME@act_…``, keeps its account)."""
    return re.sub(r"@\d+$", "", name.split("~", 1)[0])


def declared_names(declared: Iterable[Audience]) -> set[str]:
    """The local names the YAML declares: customer lists and the current tiers of each lookalike."""
    return {t.key for a in declared if a.is_lookalike for t in tiers(a)} | {
        a.name for a in declared if not a.is_lookalike
    }


def missing_tiers(a: Audience, store: StateStore) -> list[Tier]:
    """The tiers of ``a`` fbsync has not created yet, or created from a seed that was since re-created (a list
    that changed kind: its old lookalikes stay on Meta as orphans, new ones are made from the new seed)."""
    assert a.lookalike is not None
    src = a.lookalike.source
    origin = src if src.isdigit() else getattr(store.audience(src), "meta_id", None)
    out = []
    for t in tiers(a):
        rec = store.audience(t.key)
        made_from = rec.extra.get("origin") if rec is not None else None
        if rec is None or not rec.meta_id or (origin and made_from and str(made_from) != str(origin)):
            out.append(t)
    return out


def plan_lookalike(a: Audience, store: StateStore, account_lookalikes: int | None = None) -> AudienceResult:
    """What a sync would do (on the local records): create the tiers not yet on Meta, within Meta's cap of
    lookalikes per ad account when ``account_lookalikes`` (how many the account holds) is known."""
    missing = missing_tiers(a, store)
    refusal = lookalike_cap_refusal(a.name, account_lookalikes or 0, len(missing))
    if refusal:
        return AudienceResult(a.name, "refused", action="skipped", message=refusal, notes=(refusal,))
    return AudienceResult(a.name, status="planned", action="create" if missing else "unchanged", tiers=len(missing))


def sync_lookalike(
    a: Audience,
    client: MetaClient,
    store: StateStore,
    account: str,
    source_display: str | None,
    account_lookalikes: Callable[[], int] | None = None,
    *,
    value_based: bool = False,
) -> AudienceResult:
    """Create the missing tiers of one lookalike audience (each found or created once); ``account_lookalikes``
    counts the account's lookalikes, asked only when a tier is to be created (Meta's cap of 500)."""
    assert a.lookalike is not None
    missing = missing_tiers(a, store)
    if missing and account_lookalikes is not None:
        refusal = lookalike_cap_refusal(a.name, account_lookalikes(), len(missing))
        if refusal:
            return AudienceResult(a.name, "refused", action="skipped", message=refusal, notes=(refusal,))
    src = a.lookalike.source
    label = source_display or src
    if src.isdigit():
        origin = src
    else:
        rec = store.audience(src)
        if rec is None or not rec.meta_id:
            return _skipped(a, f"its source {src} has not been synced yet; retried next run")
        origin = rec.meta_id
        info = (
            client.audience(
                origin, ("id", "approximate_count_lower_bound", "operation_status", "fields_violating_integrity_policy")
            )
            or {}
        )
        flagged = integrity.flagged_message(src, info)
        if flagged and missing:  # Meta refuses a lookalike of a flagged seed (100/1713232): say why, send nothing
            return AudienceResult(a.name, "refused", message=f"{a.name} is not created: {flagged}")
        size = int(info.get("approximate_count_lower_bound") or 0)
        if size < MIN_SEED:
            log.warning(
                "lookalike %s skipped: its source %s has %d people, Meta needs at least %d", a.name, src, size, MIN_SEED
            )
            return _skipped(a, f"source {src} has {size} people; Meta needs at least {MIN_SEED}; retried next run")
    created, notes, ids = 0, [], []
    stale = {t.key for t in missing}
    for t in tiers(a):
        name = t.display(a.display_name or a.name, label)
        old = store.audience(t.key)
        if t.key in stale and old is not None and old.meta_id:  # its seed was re-created: leave it as an orphan
            audiences.retire(client, store, t.key, old.meta_id, name, time.strftime("%Y-%m-%d"))

        def create(name: str = name, t: Tier = t) -> str:
            return client.create_lookalike(name, origin, t.spec(value_based))

        try:
            meta_id, new = audiences.find_or_create(client, store, t.key, name, "LOOKALIKE", create, account_id=account)
        except IntegrityFlagged as exc:
            return AudienceResult(a.name, "refused", message=str(exc))
        except MetaApiError as exc:
            if exc.code == 2654 and "small" in str(exc).lower():
                return _skipped(a, f"Meta says the source is too small; retried next run ({exc.code})")
            raise
        if new:
            store.set_extra(t.key, parent=a.name, spec=t.spec(value_based), origin=origin)
            created += 1
        ids.append(meta_id)
        info = client.audience(meta_id, ("id", "delivery_status", "operation_status")) or {}
        status = (
            (info.get("operation_status") or {}).get("description")
            or (info.get("delivery_status") or {}).get("description")
            or "unknown"
        )
        notes.append(f"{t.start * 100:g}–{t.ratio * 100:g} % {'+'.join(t.countries)}: {status}")
    return AudienceResult(
        a.name,
        meta_id=",".join(ids) or None,
        action="created" if created else "unchanged",
        notes=tuple(notes),
        tiers=created,
    )


def _skipped(a: Audience, why: str) -> AudienceResult:
    return AudienceResult(a.name, status="skipped", action="skipped", message=why, notes=(why,))
