"""The audiences fbsync manages on Meta: found, created once, listed when orphaned, pruned.

**Create once, everywhere.**  Every creation (a customer list of the YAML or of ``upload``, a
lookalike tier) goes through :func:`find`, then :func:`ensure_customer_list` or :func:`find_or_create`:

1. the local record: the Meta id fbsync remembers, if Meta still has it;
2. else Meta, by exact name and subtype (an audience created by a run killed before it could
   record the id is found here and adopted, never created twice);
3. else the creation itself, preceded by a local note of the intent and followed at once by the
   record of the id Meta answered.  A customer list is created with Meta's ``enable_fetch_or_create``
   (Meta returns an existing audience of the same name instead of a second one,
   docs/meta-api.md §1.1); lookalikes have no such flag, so step 2 is their only guard.

The intent note tells the next run that an audience found by name in step 2 is one fbsync itself
created (so ``--prune`` may later delete it); an audience found by name without it was made by
someone else and is used, never deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import integrity
from .errors import MetaApiError
from .meta import sharing as meta_sharing
from .meta.client import MetaClient
from .planning import Remote
from .results import Action, MetaSize, OrphanResult
from .sharing import SharePlan, plan_shares
from .state.locks import audience_lock
from .state.records import AudienceRecord
from .state.store import StateStore
from .util import as_int

log = logging.getLogger(__name__)
CREATING = "creating"  # extra key: fbsync is creating this audience (its name on Meta)
MADE_BY = "made_by"  # extra key: "yaml" (a declared audience, prunable) or "upload" (never pruned)


def find(client: MetaClient, rec: AudienceRecord | None, display: str, subtype: str) -> dict[str, Any] | None:
    """The Meta audience: by the id fbsync remembers, else by its exact name and subtype on Meta."""
    if rec is not None and rec.meta_id:
        found = client.audience(rec.meta_id)
        if found is not None:
            return found
        log.warning("audience %s (Meta id %s) no longer exists on Meta; looking it up by name", rec.name, rec.meta_id)
    return next((a for a in client.audiences(name=display) if a.get("subtype") in (None, subtype)), None)


def remembered(rec: AudienceRecord | None) -> dict[str, Any] | None:
    """What fbsync remembers of an audience, without asking Meta (plans made without a token)."""
    if rec is None or not rec.meta_id:
        return None
    return {"id": rec.meta_id, "name": rec.display_name, "description": rec.description}


def adopted_by_us(rec: AudienceRecord | None, display: str) -> bool:
    """True when a run of fbsync was creating an audience of this name and died before recording it."""
    return bool(rec is not None and rec.extra.get(CREATING) == display)


def _create(
    store: StateStore,
    key: str,
    display: str,
    subtype: str,
    make: Callable[[], str],
    made_by: str = "yaml",
    **record: Any,
) -> str:
    """Note the intent (and who asked: the YAML or ``upload``), create on Meta (``make()`` returns the new id),
    record the id at once."""
    store.set_extra(key, **{CREATING: display, MADE_BY: made_by})
    meta_id = make()
    store.save_audience(key, meta_id=meta_id, display_name=display, subtype=subtype, created_by_fbsync=True, **record)
    store.set_extra(key, **{CREATING: None})
    log.info("created audience %s on Meta (id %s)", key, meta_id)
    return meta_id


def find_or_create(
    client: MetaClient, store: StateStore, key: str, display: str, subtype: str, make: Callable[[], str], **record: Any
) -> tuple[str, bool]:
    """(Meta id, created) of one audience, found (and recorded) or created once (see the module)."""
    rec = store.audience(key)
    found = find(client, rec, display, subtype)
    if found is None:
        return _create(store, key, display, subtype, make, **record), True
    meta_id = str(found["id"])
    if rec is None or rec.meta_id != meta_id:
        mine = adopted_by_us(rec, display)
        log.warning(
            "audience %s found on Meta by its name (id %s); %s",
            key,
            meta_id,
            "created by a run that stopped before recording it" if mine else "adopted",
        )
        store.save_audience(
            key,
            meta_id=meta_id,
            display_name=display,
            subtype=subtype,
            **({"created_by_fbsync": True} if mine else {}),
            **record,
        )
        store.set_extra(key, **{CREATING: None})
    return meta_id, False


def ensure_customer_list(
    client: MetaClient,
    store: StateStore,
    key: str,
    display: str,
    description: str | None,
    file_source: str,
    meta_id: str | None,
    *,
    create: bool,
    update: Mapping[str, str],
    made_by: str = "yaml",
    value_based: bool = False,
    **record: Any,
) -> tuple[str, Action]:
    """Create (once) or update a customer list as the plan says, and make its local record match.

    Returns its Meta id and what was done (created, updated or unchanged).
    """
    if create:
        new_id = _create(
            store,
            key,
            display,
            "CUSTOM",
            lambda: client.create_customer_list(display, description, file_source, value_based=value_based),
            made_by,
            description=description,
            **record,
        )
        return new_id, "created"
    assert meta_id is not None
    if update:
        client.update_audience(meta_id, **update)
    mine = adopted_by_us(store.audience(key), display)
    store.save_audience(
        key,
        meta_id=meta_id,
        display_name=display,
        description=description,
        subtype="CUSTOM",
        **({"created_by_fbsync": True} if mine else {}),
        **record,
    )
    if mine:
        store.set_extra(key, **{CREATING: None})
    return meta_id, "updated" if update else "unchanged"


def remote_of(found: Mapping[str, Any] | None) -> Remote:
    """What the plan needs of Meta's audience object (None: it does not exist)."""
    if found is None:
        return Remote(False)
    return Remote(
        True,
        found.get("name"),
        found.get("description"),
        as_int(found.get("approximate_count_lower_bound")),
        as_int(found.get("approximate_count_upper_bound")),
        None if found.get("is_value_based") is None else bool(found.get("is_value_based")),
    )


def retire(client: MetaClient, store: StateStore, key: str, meta_id: str, display: str, today: str) -> str:
    """Leave a list that changes kind on Meta, renamed ``… (replaced DATE)``, under a local name of its own
    (``KEY@ID``): it is an orphan from then on, listed by ``sync`` and deleted by ``--prune``.  Its lookalikes
    go on working until then.  Returns the local name it now has."""
    old = f"{key}@{meta_id}"
    client.update_audience(meta_id, name=f"{display} (replaced {today})")
    store.rename_audience(key, old)
    return old


def read_back(client: MetaClient, meta_id: str) -> MetaSize:
    """What Meta says of the audience after the run: size bounds, delivery status, operation status."""
    info = client.audience(meta_id) or {}
    ds = info.get("delivery_status") or {}
    code, operation = integrity.operation(info)
    return MetaSize(
        as_int(info.get("approximate_count_lower_bound")),
        as_int(info.get("approximate_count_upper_bound")),
        ds.get("description") if isinstance(ds, dict) else None,
        operation,
        code,
    )


def blocked(client: MetaClient, name: str, found: Mapping[str, Any], *, replace_is_ours: bool = False) -> str | None:
    """Why nothing may be sent to this audience now, in one sentence: Meta flagged it (471; never retried),
    or a replace someone else started (or one fbsync can no longer resume) is still running after a bounded
    wait (414); else None.  fbsync's own replace session, young enough, is resumed instead (the applier)."""
    flagged = integrity.flagged_message(name, found)
    if flagged:
        return flagged
    code, _ = integrity.operation(found)
    if code != integrity.REPLACING or replace_is_ours or wait_replace(client, str(found["id"])):
        return None
    return (
        f"{name}: Meta is still applying a replace an earlier run started (operation_status 414); fbsync sends "
        "nothing to this audience until it finishes, and tries again next run."
    )


def wait_replace(client: MetaClient, meta_id: str, polls: int = 10, every: float = 30.0) -> bool:
    """Wait (polling the audience's operation_status) for a replace Meta is still applying; True once it ended.

    A replace runs one at a time and no /users call may run during it (docs/meta-api.md §1.6): fbsync never
    starts another, and waits at most ``polls × every`` seconds before leaving the audience for the next run.
    """
    for _ in range(polls):
        code, _ = integrity.operation(client.audience(meta_id, ("id", "operation_status")))
        if code != integrity.REPLACING:
            return True
        log.info("audience %s: Meta is still applying a replace; waiting %.0fs", meta_id, every)
        client.retry.sleep(every)
    code, _ = integrity.operation(client.audience(meta_id, ("id", "operation_status")))
    return code != integrity.REPLACING


# ---------------------------------------------------------------------------- orphans and --prune
def prune_order(records: Iterable[AudienceRecord]) -> list[AudienceRecord]:
    """Lookalikes before customer lists: Meta refuses to delete a seed that still has lookalikes (2656)."""
    return sorted(records, key=lambda r: (r.subtype != "LOOKALIKE", r.name))


def orphans(store: StateStore, declared: set[str]) -> tuple[list[AudienceRecord], list[AudienceRecord]]:
    """Audiences fbsync created that the YAML no longer declares: (those it created for the YAML, which
    ``--prune`` may delete; those ``fbsync upload`` created, which it never deletes)."""
    uploaded = store.uploaded_names()  # audiences created before fbsync noted who asked for them
    made = [r for r in store.all_audiences() if r.created_by_fbsync and r.meta_id and r.name not in declared]
    by_upload = [r for r in made if r.extra.get(MADE_BY) == "upload" or (MADE_BY not in r.extra and r.name in uploaded)]
    return prune_order(r for r in made if r not in by_upload), prune_order(by_upload)


def prune(
    client: Callable[[str | None], MetaClient] | None,
    store: StateStore,
    declared: set[str],
    lock_name: Callable[[str], str],
    *,
    delete: bool,
) -> tuple[OrphanResult, ...]:
    """List the orphans, or (``delete``) delete each on Meta (through ``client(its ad account)``), then
    fbsync's data for it, under its lock."""
    out = []
    prunable, by_upload = orphans(store, declared)
    if delete:  # say why these stay, where the user asked to prune
        out += [OrphanResult(r.name, r.meta_id or "", r.display_name, "kept (upload)") for r in by_upload]
    for rec in prunable:
        assert rec.meta_id is not None
        item = OrphanResult(rec.name, rec.meta_id, rec.display_name)
        if delete and client is not None:
            try:
                with audience_lock(store, lock_name(rec.name)):
                    client(rec.account_id).delete_audience(rec.meta_id)
                    store.purge_audience(rec.name)
                item = OrphanResult(rec.name, rec.meta_id, rec.display_name, "pruned")
            except MetaApiError as exc:
                item = OrphanResult(rec.name, rec.meta_id, rec.display_name, "prune failed", str(exc))
        out.append(item)
    return tuple(out)


def sync_shares(
    client: MetaClient | None,
    store: StateStore,
    name: str,
    meta_id: str | None,
    owner: str,
    wanted: Iterable[str],
    *,
    force: bool,
    apply: bool,
) -> SharePlan | None:
    """Bring the audience's shares in step with ``share_with`` (``client`` None: plan on fbsync's records);
    returns the plan, with what was done when ``apply``, or None when nothing is or was shared.  An
    unshare without ``force`` is not made."""
    ours = list(store.extra(name).get("shared_with") or [])
    wanted = list(wanted)
    if not wanted and not ours:
        return None
    current = meta_sharing.shared_with(client, meta_id) if client is not None and meta_id else set(ours)
    plan = plan_shares(name, owner, wanted, current, ours, force=force)
    if not apply or meta_id is None or client is None:
        return plan
    if plan.share:
        meta_sharing.share(client, meta_id, plan.share)
        ours = sorted(set(ours) | set(plan.share))
        store.set_extra(name, shared_with=ours)
    if plan.unshare and not plan.refused:
        meta_sharing.unshare(client, meta_id, plan.unshare)
        store.set_extra(name, shared_with=sorted(set(ours) - set(plan.unshare)) or None)
    return plan
