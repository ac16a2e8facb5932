"""RGPD erasure and local purge: ``fbsync forget`` and ``fbsync purge``.

Forget stores the person as keyed hashes (suppression) first, then removes exactly the rows fbsync
sent that hold their identifiers from every audience it manages, on Meta and in the ledger, each
under the audience's lock; purge deletes one audience's local data. Both write an audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .config import LoadedConfig
from .crypto import RowCipher, load_master_key
from .errors import ConfigError
from .locks import audience_lock
from .meta.client import MAX_ROWS_PER_CALL, MetaClient, Session
from .settings import Settings
from .state import StateStore


@dataclass
class ForgetReport:
    """What ``fbsync forget`` did (also the audit entry's content): counts only, no identifier."""

    run_id: int
    identifiers: int
    removed: dict[str, int]
    newly_suppressed: int

    @property
    def found(self) -> bool:
        return any(self.removed.values())


def forget_person(loaded: LoadedConfig, settings: Settings, emails: Sequence[str], phones: Sequence[str],
                  client_factory: Callable[[Settings, str], MetaClient] | None = None) -> ForgetReport:
    """RGPD erasure: remove one person from every customer list fbsync manages, then keep them out.

    The person is added to the suppression list first (keyed hashes), so they stay out even if
    Meta fails half-way; then each audience's ledger is searched for rows holding any of their
    identifiers, and exactly those rows are removed on Meta and from the ledger.
    """
    from .privacy import identifier_hash, person_identifiers

    ids = person_identifiers(emails, phones, loaded.config.defaults.default_country)
    account = settings.account(loaded.config.ad_account_id)
    store = StateStore.open(settings.state_dir, settings.state_url)
    cipher = RowCipher(load_master_key(settings.state_key, settings.state_dir))
    run_id = store.start_run("forget", loaded.digest)
    status = "failed"
    removed: dict[str, int] = {}
    try:
        new = store.add_suppressed([identifier_hash(cipher, k, v) for k, v in ids], "forget")
        for rec in store.all_audiences():
            if not rec.get("meta_id") or not rec.get("schema") or rec.get("key_id") != cipher.key_id:
                continue
            schema = tuple(rec["schema"].split(","))
            with audience_lock(store, rec["name"]):
                removed[rec["name"]] = _forget_in(store, cipher, rec, schema, set(ids), settings, account,
                                                  client_factory)
            store.record_audience_run(run_id, rec["name"], status="ok", meta_id=rec["meta_id"],
                                      rows_removed=removed[rec["name"]], details={"forget": True})
        status = "ok"
        return ForgetReport(run_id, len(ids), removed, new)
    finally:
        store.finish_run(run_id, status, {"identifiers": len(ids), "audiences_touched":
                                          sorted(k for k, v in removed.items() if v),
                                          "rows_removed": sum(removed.values())})
        store.engine.dispose()


def _forget_in(store: StateStore, cipher: RowCipher, rec: dict[str, Any], schema: tuple[str, ...],
               ids: set[tuple[str, str]], settings: Settings, account: str,
               client_factory: Callable[[Settings, str], MetaClient] | None) -> int:
    """Remove from one audience, on Meta then in the ledger, the rows holding any of the identifiers."""
    from .privacy import matching_rows

    rows = matching_rows(store, cipher, rec["name"], schema, ids)
    if rows:
        client = (client_factory or MetaClient)(settings, account)
        session = Session.new(len(rows))
        for i in range(0, len(rows), MAX_ROWS_PER_CALL):
            part = rows[i:i + MAX_ROWS_PER_CALL]
            client.remove_users(rec["meta_id"], schema, [r for _, r in part], session,
                                last=i + MAX_ROWS_PER_CALL >= len(rows))
            store.record_removed(rec["name"], [fp for fp, _ in part])
    return len(rows)


def purge_audience(loaded: LoadedConfig, settings: Settings, name: str) -> int:
    """Delete fbsync's local data for one audience, with an audit entry; returns ledger rows deleted."""
    store = StateStore.open(settings.state_dir, settings.state_url)
    run_id = store.start_run("purge", loaded.digest)
    try:
        if store.audience(name) is None and not store.ledger_count(name):
            store.finish_run(run_id, "failed", {"audience": name, "reason": "unknown"})
            known = ", ".join(a["name"] for a in store.all_audiences()) or "none"
            raise ConfigError(f"fbsync has no local data for an audience named {name!r} (it has: {known}).")
        with audience_lock(store, name):
            n = store.purge_audience(name)
        store.record_audience_run(run_id, name, status="ok", rows_removed=n, details={"purge": True})
        store.finish_run(run_id, "ok", {"audience": name, "ledger_rows_deleted": n})
        return n
    finally:
        store.engine.dispose()
