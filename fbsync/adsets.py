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
from collections.abc import Iterable
from typing import Any

from . import lookalikes
from .config import AdSet, Config
from .errors import MetaApiError
from .meta.client import MetaClient
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


def meta_ids(store: StateStore, cfg: Config, name: str) -> list[str]:
    """The Meta ids of one declared audience (every tier of a lookalike)."""
    a = next(x for x in cfg.audiences if x.name == name)
    keys = [t.key for t in lookalikes.tiers(a)] if a.is_lookalike else [name]
    return [r.meta_id for k in keys if (r := store.audience(k)) is not None and r.meta_id]


def wire(cfg: Config, client: MetaClient, store: StateStore, *, apply: bool) -> tuple[AdSetResult, ...]:
    """Plan (and with ``apply``, make) the targeting changes of every declared ad set."""
    managed = {r.meta_id for r in store.all_audiences() if r.meta_id}
    return tuple(_one(s, cfg, client, store, managed, apply) for s in cfg.ad_sets)


def _one(s: AdSet, cfg: Config, client: MetaClient, store: StateStore, managed: set[str], apply: bool) -> AdSetResult:
    missing = [n for n in s.include + s.exclude if not meta_ids(store, cfg, n)]
    if missing:
        return AdSetResult(s.id, "skipped", message=f"not on Meta yet: {', '.join(missing)}; wired on a later run")
    try:
        current = client.ad_set(s.id)
        if current is None:
            return AdSetResult(s.id, "failed", message=f"ad set {s.id} does not exist or the token cannot see it")
        include = [i for n in s.include for i in meta_ids(store, cfg, n)]
        exclude = [i for n in s.exclude for i in meta_ids(store, cfg, n)]
        new, changes = rewire(current.get("targeting") or {}, include, exclude, managed)
        status: AdSetStatus = "ok"
        if changes and apply:
            client.update_targeting(s.id, new)
            status = "updated"
        elif changes:
            status = "planned"
        return AdSetResult(s.id, status, current.get("name"), changes)
    except MetaApiError as exc:
        return AdSetResult(s.id, "failed", message=str(exc))
