"""Ad-set wiring: put declared audiences in ad sets' targeting, keeping every other field as it was.

``ad_sets: [{id, include: [...], exclude: [...]}]``. For each ad set, ``custom_audiences`` and
``excluded_custom_audiences`` get the Meta ids of the listed audiences (every tier of a lookalike);
audiences fbsync manages but the entry no longer lists are taken out; audiences fbsync does not
manage, and every other targeting field, stay exactly as they were (Meta replaces the whole
targeting object on update, so fbsync sends it back complete). The change itself is pure
(:func:`rewire`); ``plan`` shows it, ``sync`` applies it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import lookalikes
from .config import AdSet, Config
from .errors import ConfigError, IntegrityFlagged, MetaApiError
from .meta.client import MetaClient
from .meta.errors import INTEGRITY_REMEDY
from .results import AdSetResult, AdSetStatus
from .state.store import StateStore


def _ids(entries: Iterable[Any] | None) -> list[str]:
    return [str(e["id"] if isinstance(e, dict) else e) for e in entries or []]


def rewire(
    targeting: dict[str, Any], include: list[str], exclude: list[str], managed: set[str]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The new targeting and what changed (added/removed ids per list); nothing else is touched."""
    new = copy.deepcopy(targeting)
    changes: dict[str, list[str]] = {}
    for field, wanted in (("custom_audiences", include), ("excluded_custom_audiences", exclude)):
        current = _ids(targeting.get(field))
        kept = [i for i in current if i not in managed]
        result = kept + [i for i in wanted if i not in kept]
        if set(result) != set(current):
            changes[f"+{field}"] = [i for i in result if i not in current]
            changes[f"-{field}"] = [i for i in current if i not in result]
        if result:
            new[field] = [{"id": i} for i in result]
        else:
            new.pop(field, None)
    return new, changes


def meta_ids(store: StateStore, cfg: Config, name: str, slot: Callable[[str], str] | None = None) -> list[str]:
    """The Meta ids of one declared audience (every tier of a lookalike) on the ad set's account: ``slot``
    gives where fbsync keeps the audience on that account (its name on the file's own account)."""
    a = next(x for x in cfg.audiences if x.name == name)
    at = slot(name) if slot else name
    keys = [t.key for t in lookalikes.tiers(a.model_copy(update={"name": at}))] if a.is_lookalike else [at]
    return [r.meta_id for k in keys if (r := store.audience(k)) is not None and r.meta_id]


def special_categories(ad_set: dict[str, Any]) -> list[str]:
    """The special ad categories of the ad set's campaign (housing, employment, financial products…)."""
    cats = ((ad_set.get("campaign") or {}).get("special_ad_categories")) or []
    return [str(c) for c in cats if str(c).upper() != "NONE"]


def allowed(s: AdSet, cfg: Config, categories: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(include, exclude, refusals): what a campaign with special ad categories lets the ad set use.

    In housing, employment and financial-products campaigns Meta limits or removes lookalikes and audience
    exclusions (docs/meta-api.md §8, "Special ad categories"): fbsync sends neither there, and says so.
    """
    if not categories:
        return list(s.include), list(s.exclude), []
    lal = {a.name for a in cfg.audiences if a.is_lookalike}
    which = ", ".join(c.lower() for c in categories)
    refusals = [f"{n} is a lookalike, which a {which} campaign cannot use" for n in s.include if n in lal]
    refusals += [f"excluding {n} is not possible in a {which} campaign" for n in s.exclude]
    return [n for n in s.include if n not in lal], [], refusals


def automation(targeting: dict[str, Any], strict: bool | None) -> tuple[dict[str, Any], str]:
    """Advantage+ audience: ``strict`` True sets ``targeting_automation.advantage_audience`` to 0 (included
    audiences are rules), False to 1 (suggestions Meta may go beyond), None leaves it; and the sentence
    that says which applies (Meta's default for new ad sets since v23 is on)."""
    new = copy.deepcopy(targeting)
    if strict is not None:
        new.setdefault("targeting_automation", {})["advantage_audience"] = 0 if strict else 1
    on = (new.get("targeting_automation") or {}).get("advantage_audience", 1)
    if str(on) in ("0", "False", "false"):
        return new, "included audiences are rules (Advantage+ audience off); exclusions are strict"
    return new, (
        "included audiences are suggestions Meta may go beyond (Advantage+ audience on); only exclusions are strict"
        + ("" if strict is not None else "; set strict_audiences: true to make them rules")
    )


def wire(
    cfg: Config,
    client: MetaClient,
    store: StateStore,
    *,
    apply: bool,
    only: Sequence[AdSet] | None = None,
    slot: Callable[[str], str] | None = None,
) -> tuple[AdSetResult, ...]:
    """Plan (and with ``apply``, make) the targeting changes of every declared ad set (or ``only`` these, all
    of the account ``client`` works on)."""
    managed = {r.meta_id for r in store.all_audiences() if r.meta_id}
    return tuple(_one(s, cfg, client, store, managed, apply, slot) for s in (cfg.ad_sets if only is None else only))


def _one(
    s: AdSet,
    cfg: Config,
    client: MetaClient,
    store: StateStore,
    managed: set[str],
    apply: bool,
    slot: Callable[[str], str] | None = None,
) -> AdSetResult:
    try:
        missing = [n for n in s.include + s.exclude if not meta_ids(store, cfg, n, slot)]
    except ConfigError as exc:  # an audience the ad set's account does not get
        return AdSetResult(s.id, "failed", message=str(exc))
    if missing:
        return AdSetResult(s.id, "skipped", message=f"not on Meta yet: {', '.join(missing)}; wired on a later run")
    try:
        current = client.ad_set(s.id)
        if current is None:
            return AdSetResult(s.id, "failed", message=f"ad set {s.id} does not exist or the token cannot see it")
        inc_names, exc_names, refusals = allowed(s, cfg, special_categories(current))
        include = [i for n in inc_names for i in meta_ids(store, cfg, n, slot)]
        exclude = [i for n in exc_names for i in meta_ids(store, cfg, n, slot)]
        targeting = current.get("targeting") or {}
        new, changes = rewire(targeting, include, exclude, managed)
        new, rule = automation(new, s.strict_audiences)
        if new.get("targeting_automation") != targeting.get("targeting_automation"):
            changes["advantage_audience"] = [str(new["targeting_automation"]["advantage_audience"])]
        notes = (*refusals, rule)
        status: AdSetStatus = "ok"
        if changes and apply:
            try:
                client.update_targeting(s.id, new)
            except IntegrityFlagged as exc:  # Meta's pages disagree on whether a flagged audience stops this
                return AdSetResult(s.id, "failed", current.get("name"), changes, f"{exc}", notes)
            status = "updated"
        elif changes:
            status = "planned"
        return AdSetResult(s.id, status, current.get("name"), changes, None, notes)
    except MetaApiError as exc:
        if exc.code == 100 and "flag" in str(exc).lower():
            return AdSetResult(s.id, "failed", message=f"{exc}; {INTEGRITY_REMEDY}")
        return AdSetResult(s.id, "failed", message=str(exc))
