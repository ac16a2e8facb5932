"""RGPD erasure and local purge: ``fbsync forget`` and ``fbsync purge``.

Forget stores the person as keyed hashes (suppression) first, then removes exactly the rows fbsync
sent that hold their identifiers from every audience it manages, on Meta and in the ledger, each
under the audience's lock and through the one applier; purge deletes one audience's local data.
Both are runs of the run log, so each leaves an audit entry in ``history``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .accounts import home_account
from .alerts.hook import hooks_for
from .apply import Applier
from .config import LoadedConfig
from .customers import Links
from .errors import ConfigError
from .meta.client import MAX_ROWS_PER_CALL, MetaClient
from .meta.factory import ClientFactory, client_factory
from .results import AudienceResult, Sent
from .runlog import RunLog
from .settings import Settings
from .state.crypto import RowCipher, load_master_key
from .state.locks import audience_lock
from .suppression import identifier_hash, matching_rows, person_identifiers


@dataclass(frozen=True)
class ForgetReport:
    """What ``fbsync forget`` did (also the audit entry's content): counts only, no identifier."""

    run_id: int
    identifiers: int
    removed: dict[str, int]
    newly_suppressed: int

    @property
    def found(self) -> bool:
        return any(self.removed.values())


def forget_person(
    loaded: LoadedConfig,
    settings: Settings,
    emails: Sequence[str],
    phones: Sequence[str],
    clients: ClientFactory | None = None,
) -> ForgetReport:
    """RGPD erasure: remove one person from every customer list fbsync manages, then keep them out.

    The person is added to the suppression list first (keyed hashes), so they stay out even if
    Meta fails half-way; then each audience's ledger is searched for rows holding any of their
    identifiers, and exactly those rows are removed on Meta and from the ledger.
    """
    ids = person_identifiers(emails, phones, loaded.config.defaults.default_country)
    home = home_account(loaded.config, settings.ad_account_id)
    made: dict[str, MetaClient] = {}
    make = clients or client_factory(loaded.config.api)
    cipher = RowCipher(load_master_key(settings.state_key, settings.state_dir))
    removed: dict[str, int] = {}
    with RunLog(settings, "forget", loaded.digest, hooks=hooks_for(loaded, settings, clients)) as runlog:
        store = runlog.store
        runlog.summary = {"identifiers": len(ids), "audiences_touched": [], "rows_removed": 0}
        new = store.add_suppressed([identifier_hash(cipher, k, v) for k, v in ids], "forget")
        for rec in store.all_audiences():
            if not rec.meta_id or not rec.schema or rec.key_id != cipher.key_id:
                continue
            with audience_lock(store, rec.name):
                rows = matching_rows(store, cipher, rec.name, rec.schema, set(ids), Links.of(rec.schema))
                sent = Sent()
                if rows:
                    account = rec.account_id or settings.account(home)  # the account the audience is on
                    client = made.get(account) or made.setdefault(account, make(settings, account))
                    applier = Applier(client, store, cipher, rec.name, rec.meta_id, rec.schema)
                    applier.remove(
                        (rows[i : i + MAX_ROWS_PER_CALL] for i in range(0, len(rows), MAX_ROWS_PER_CALL)), len(rows)
                    )
                    sent = applier.sent
            removed[rec.name] = sent.removed
            runlog.summary.update(
                audiences_touched=sorted(k for k, v in removed.items() if v), rows_removed=sum(removed.values())
            )
            runlog.record(
                AudienceResult(
                    rec.name, meta_id=rec.meta_id, sent=sent, record={"forget": True}, account=rec.account_id
                )
            )
        assert runlog.run_id is not None
        return ForgetReport(runlog.run_id, len(ids), removed, new)


def purge_audience(loaded: LoadedConfig, settings: Settings, name: str) -> int:
    """Delete fbsync's local data for one audience, with an audit entry; returns ledger rows deleted."""
    with RunLog(settings, "purge", loaded.digest, hooks=hooks_for(loaded, settings)) as runlog:
        store = runlog.store
        runlog.summary = {"audience": name}
        if store.audience(name) is None and not store.ledger_count(name):
            runlog.summary["reason"] = "unknown"
            known = ", ".join(a.name for a in store.all_audiences()) or "none"
            raise ConfigError(f"fbsync has no local data for an audience named {name!r} (it has: {known}).")
        with audience_lock(store, name):
            n = store.purge_audience(name)
        runlog.summary["ledger_rows_deleted"] = n
        runlog.record(AudienceResult(name, sent=Sent(removed=n), record={"purge": True}))
        return n
