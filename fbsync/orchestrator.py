"""The sync orchestrator: for each audience, find → read → plan → create → apply → read back.

Thin by design; each step has one home:

* finding and creating audiences (never twice): :mod:`fbsync.audiences`;
* reading rows (consent, identity engine, suppression, exclude/intersect): :mod:`fbsync.read`;
* deciding (create, update, diff or replace, the shrink guard): :mod:`fbsync.planning`, pure;
* sending and recording what Meta acknowledged: :mod:`fbsync.apply`;
* the run's history and its "run finished" hook: :mod:`fbsync.runlog`;
* lookalike tiers and ad-set wiring: :mod:`fbsync.lookalikes`, :mod:`fbsync.adsets`.

Customer lists go first, so a lookalike is created after its source synced in the same run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from . import adsets, audiences, lookalikes
from .apply import Applier, Progress
from .config import Audience, LoadedConfig, effective
from .errors import AudienceError, AuthError, Interrupted, MetaApiError
from .meta.client import MetaClient
from .meta.factory import ClientFactory, client_factory
from .planning import Desired, LedgerView, Plan, plan_audience
from .read import Reader, Spec, open_crm, preflight
from .results import Action, AdSetResult, AudienceResult, OrphanResult, ReadResult, RunResult, Sent
from .runlog import RunLog
from .settings import Settings
from .sources.crm import CrmSource
from .state.crypto import RowCipher, load_master_key
from .state.locks import audience_lock
from .state.staging import Staging, clean_stale
from .state.store import StateStore
from .suppression import Suppression, load_suppression, mark_suppressed

log = logging.getLogger(__name__)


def select(loaded: LoadedConfig, names: Sequence[str]) -> list[Audience]:
    """The audiences named (all when none), in file order; an unknown name is a ConfigError."""
    for n in names:
        loaded.audience(n)
    return [a for a in loaded.config.audiences if not names or a.name in names]


@dataclass(frozen=True)
class RunOptions:
    """How a run goes: plan only, pass the guards, stop when asked, report progress, which Meta client."""

    dry_run: bool = False
    force: bool = False
    stop: threading.Event | None = None
    progress: Progress | None = None
    clients: ClientFactory | None = None


def run_sync(
    loaded: LoadedConfig,
    settings: Settings,
    names: Sequence[str] = (),
    options: RunOptions = RunOptions(),
    *,
    prune: bool = False,
    command: str = "sync",
) -> RunResult:
    """Sync (or, with ``options.dry_run``, plan) the audiences named (all when empty).

    ``options.stop`` (set by a signal handler) is checked between batches: the batch in flight finishes
    and is recorded, the remaining audiences are reported as interrupted, and the next run goes on.
    """
    auds = select(loaded, names)
    crm = open_crm(loaded, settings)
    try:
        preflight(loaded, crm, auds)
        with RunLog(settings, command, loaded.digest, record=not options.dry_run) as runlog:
            run = Runner(loaded, settings, runlog.store, crm, options)
            for a in sorted(auds, key=lambda x: x.is_lookalike):
                result, fatal = run.audience(a)
                runlog.record(result)
                if fatal is not None:
                    raise fatal
            orphans = run.orphans(prune=prune and not options.dry_run and not names)
            ad_sets = run.ad_sets()
            return runlog.finish(
                RunResult(command, runlog.run_id, tuple(runlog.results), options.dry_run, orphans, ad_sets)
            )
    finally:
        if crm is not None:
            crm.dispose()


@dataclass(frozen=True)
class ListTarget:
    """A customer list to bring in step: what the plan wants of it (``want.rows`` is filled once the rows
    are read), the source Meta asks for at creation, and extra facts for the run history."""

    want: Desired
    file_source: str
    record: Mapping[str, Any] = field(default_factory=dict)
    made_by: str = "yaml"  # "upload": created for a file, never pruned

    @classmethod
    def of(cls, loaded: LoadedConfig, a: Audience) -> ListTarget:
        eff = effective(loaded.config, a)
        want = Desired(
            a.name, a.display_name or a.name, a.description, eff.mode, Spec.of(loaded, a).schema, 0, eff.max_shrink
        )
        return cls(want, eff.customer_file_source)


class Runner:
    """What the audiences of one run share (the store, the keys, the reader, one Meta client), and the
    steps of one audience.  ``sync`` drives it over the YAML's audiences; ``upload`` over one file."""

    def __init__(
        self,
        loaded: LoadedConfig,
        settings: Settings,
        store: StateStore,
        crm: CrmSource | None,
        options: RunOptions = RunOptions(),
    ) -> None:
        self.loaded, self.cfg, self.settings, self.store = loaded, loaded.config, settings, store
        self.dry_run, self.force, self.progress = options.dry_run, options.force, options.progress
        self.clients = options.clients or client_factory(loaded.config.api)
        self.stop = options.stop or threading.Event()
        self.account = settings.account(self.cfg.ad_account_id)
        self.cipher = RowCipher(load_master_key(settings.state_key, settings.state_dir))
        clean_stale(settings.state_dir)
        self.suppression: Suppression = load_suppression(
            self.cfg, crm, self.cipher, store, loaded.path.parent, self.cfg.defaults.default_country
        )
        self.reader = Reader(loaded, crm, self.cipher, self.suppression, settings.state_dir, self.progress)
        self._client: MetaClient | None = None

    @property
    def client(self) -> MetaClient:
        if self._client is None:
            self._client = self.clients(self.settings, self.account)
        return self._client

    @property
    def online(self) -> bool:
        """Whether this run may ask Meta (a plan without a token uses fbsync's records only)."""
        return not self.dry_run or bool(self.settings.access_token)

    # ------------------------------------------------------------------ one audience
    def audience(self, a: Audience) -> tuple[AudienceResult, AuthError | None]:
        """Sync (or plan) one audience of the YAML."""
        if a.is_lookalike:
            return self.guarded(a.name, lambda: self._lookalike(a))
        return self.guarded(
            a.name, lambda: self.customer_list(ListTarget.of(self.loaded, a), lambda stg: self.reader.audience(a, stg))
        )

    def guarded(self, name: str, work: Callable[[], AudienceResult]) -> tuple[AudienceResult, AuthError | None]:
        """``work()`` under the audience's lock: its result, and the authentication error that must stop
        the whole run, if any (any other failure of Meta or of the audience is this audience's result)."""
        if self.stop.is_set():
            return AudienceResult(name, "interrupted", message="not started: the run was asked to stop"), None
        try:
            # One run per audience at a time, across processes (and hosts on a PostgreSQL state).
            with nullcontext() if self.dry_run else audience_lock(self.store, name):
                if self._client is not None:
                    self._client.start_audience()
                return work(), None
        except AuthError as exc:
            return AudienceResult(name, "failed", message=str(exc)), exc
        except (MetaApiError, AudienceError) as exc:
            log.error("audience %s failed: %s", name, exc)
            return AudienceResult(name, "failed", message=str(exc)), None

    def customer_list(self, t: ListTarget, read_into: Callable[[Staging], ReadResult]) -> AudienceResult:
        """find → read → plan → create or update → apply → read back, for one customer list."""
        store, want, name, schema = self.store, t.want, t.want.name, t.want.schema
        rec = store.audience(name)
        found = (
            audiences.find(self.client, rec, want.display_name, "CUSTOM") if self.online else audiences.remembered(rec)
        )
        meta_id = str(found["id"]) if found else None
        known = bool(
            meta_id and rec and rec.meta_id == meta_id and rec.schema == schema and rec.key_id == self.cipher.key_id
        )
        read: ReadResult | None = None
        applier: Applier | None = None
        try:
            with Staging(self.settings.state_dir) as stg:
                read = read_into(stg)
                prior = store.extra(name).get("replace") if meta_id else None
                if known:
                    for fps in store.iter_fingerprints(name):
                        stg.add_acked(fps)
                forced = (
                    mark_suppressed(stg, store, self.cipher, self.suppression, name, schema)
                    if want.mode == "append"
                    else 0
                )
                view = LedgerView(known, store.ledger_count(name) if known else 0, stg.adds, stg.removes, forced)
                p = plan_audience(
                    replace(want, rows=read.rows_desired), view, audiences.remote_of(found), force=self.force
                )
                done = AudienceResult(
                    name, meta_id=meta_id, strategy=p.strategy, read=read, notes=tuple(p.notes), record=t.record
                )
                if self.dry_run or p.refused:
                    return planned(done, p, dry_run=self.dry_run)
                if not known:
                    store.clear_ledger(name)
                meta_id, action = audiences.ensure_customer_list(
                    self.client,
                    store,
                    name,
                    want.display_name,
                    want.description,
                    t.file_source,
                    meta_id,
                    create=p.create,
                    update=p.update,
                    made_by=t.made_by,
                    account_id=self.account,
                    schema=schema,
                    key_id=self.cipher.key_id,
                )
                applier = Applier(
                    self.client, store, self.cipher, name, meta_id, schema, stop=self.stop, progress=self.progress
                )
                applier.apply(p, stg, prior)
            return replace(
                done,
                meta_id=meta_id,
                action=action,
                sent=applier.sent,
                size=audiences.read_back(self.client, meta_id),
                notes=done.notes + tuple(applier.notes),
            )
        except (MetaApiError, AudienceError, Interrupted) as exc:
            if isinstance(exc, AuthError):
                raise
            log.error("audience %s failed: %s", name, exc)
            return AudienceResult(
                name,
                "interrupted" if isinstance(exc, Interrupted) else "failed",
                meta_id=meta_id,
                read=read,
                sent=applier.sent if applier else Sent(),
                message=str(exc),
                record=t.record,
            )

    def _lookalike(self, a: Audience) -> AudienceResult:
        """Create the missing tiers of a lookalike (never edited: a changed spec is a new tier)."""
        if self.dry_run:
            return lookalikes.plan_lookalike(a, self.store)
        src = a.lookalike.source if a.lookalike else ""
        src_aud = next((x for x in self.cfg.audiences if x.name == src), None)
        label = (src_aud.display_name or src_aud.name) if src_aud else None
        return lookalikes.sync_lookalike(a, self.client, self.store, self.account, label)

    # ------------------------------------------------------------------ after the audiences
    def orphans(self, *, prune: bool) -> tuple[OrphanResult, ...]:
        """Audiences fbsync created that the YAML no longer declares: listed, or deleted with ``--prune``."""
        declared = lookalikes.declared_names(self.cfg.audiences)
        return audiences.prune(self.client if prune else None, self.store, declared, lookalikes.parent_of, delete=prune)

    def ad_sets(self) -> tuple[AdSetResult, ...]:
        if not self.cfg.ad_sets or self.stop.is_set() or not self.online:
            return ()
        return adsets.wire(self.cfg, self.client, self.store, apply=not self.dry_run)


def planned(done: AudienceResult, p: Plan, *, dry_run: bool) -> AudienceResult:
    """The result of a plan (dry run), or of a sync the plan refused (shrink guard, empty replace)."""
    if not dry_run:
        return replace(done, status="refused", message=p.refused)
    action: Action = "create" if p.create else ("update" if p.update else "unchanged")
    return replace(
        done,
        status="refused" if p.refused else "planned",
        message=p.refused,
        action=action,
        updated=tuple(p.update),
        sent=Sent(p.adds, p.removes, p.replace_rows),
    )
