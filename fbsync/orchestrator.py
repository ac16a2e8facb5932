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

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace

from . import accounts, adsets, audiences, integrity, lookalikes
from .accounts import Unit
from .alerts.hook import hooks_for
from .apply import Applier, Progress, linked_rows, removal_rows, resumable
from .config import Audience, LoadedConfig
from .errors import (
    AudienceError,
    AuthError,
    ConfigError,
    FbsyncError,
    IntegrityFlagged,
    Interrupted,
    MetaApiError,
    MetaConfigError,
    Refused,
)
from .meta.client import MetaClient
from .meta.factory import ClientFactory, client_factory
from .planning import LedgerView, kind_changed, plan_audience
from .quality import refusal as quality_refusal
from .read import Reader, open_crm, preflight
from .results import AdSetResult, AudienceResult, AudienceStatus, OrphanResult, ReadResult, RunResult, Sent, planned
from .runlog import RunLog
from .settings import Settings
from .sources.crm import CrmSource
from .state.crypto import RowCipher, load_master_key
from .state.locks import audience_lock
from .state.staging import clean_stale
from .state.store import StateStore
from .suppression import Suppression, load_suppression, mark_suppressed
from .targets import ListTarget, ReadInto, SharedRead, as_slot, gates_of

log = logging.getLogger(__name__)


def select(loaded: LoadedConfig, names: Sequence[str]) -> list[Audience]:
    """The audiences named (all when none), in file order; an unknown name is a ConfigError."""
    for n in names:
        loaded.audience(n)
    return [a for a in loaded.config.audiences if not names or a.name in names]


def _by_audience(todo: Sequence[Unit]) -> list[list[Unit]]:
    """The run's units grouped per audience (one CRM read feeds every account of an audience), in order."""
    groups: dict[str, list[Unit]] = {}
    for u in todo:
        groups.setdefault(u.name, []).append(u)
    return list(groups.values())


def _not_started(u: Unit, why: FbsyncError) -> AudienceResult:
    return AudienceResult(
        u.slot, "failed", account=u.account, message=f"not started: {u.account} stopped this run: {why}"
    )


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
    home = accounts.home_account(loaded.config, settings.ad_account_id)
    todo = accounts.units(loaded.config, sorted(auds, key=lambda x: x.is_lookalike), home)
    crm = open_crm(loaded, settings)
    try:
        preflight(loaded, crm, auds)
        with RunLog(
            settings,
            command,
            loaded.digest,
            record=not options.dry_run,
            hooks=hooks_for(loaded, settings, options.clients),
        ) as runlog:
            run = Runner(loaded, settings, runlog.store, crm, options)
            everywhere = {u.account for u in todo}
            stopped: dict[str, FbsyncError] = {}  # accounts an authentication or terms problem stopped
            for group in _by_audience(todo):
                live = [u for u in group if u.account not in stopped]
                for u in group:
                    if u.account in stopped:
                        runlog.record(_not_started(u, stopped[u.account]))
                for result, fatal, u in run.audience(group[0].audience, live):
                    runlog.record(result)
                    if fatal is not None:
                        stopped.setdefault(u.account, fatal)
                if stopped and set(stopped) >= everywhere:  # nothing more can work: the run stops (exit 3)
                    raise next(iter(stopped.values()))
            orphans = run.orphans(prune=prune and not options.dry_run and not names)
            ad_sets = run.ad_sets()
            return runlog.finish(
                RunResult(command, runlog.run_id, tuple(runlog.results), options.dry_run, orphans, ad_sets)
            )
    finally:
        if crm is not None:
            crm.dispose()


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
        self.home = accounts.home_account(self.cfg, settings.ad_account_id)
        self.account = self.home or ""  # the account the current step works on (see :meth:`on`)
        self.cipher = RowCipher(load_master_key(settings.state_key, settings.state_dir))
        clean_stale(settings.state_dir)
        self.suppression: Suppression = load_suppression(
            self.cfg, crm, self.cipher, store, loaded.path.parent, self.cfg.defaults.default_country
        )
        self.reader = Reader(loaded, crm, self.cipher, self.suppression, settings.state_dir, self.progress)
        self._clients: dict[str, MetaClient] = {}  # one Meta client per ad account
        self._counts_of: dict[str, Counter[str]] = {}  # each account's audiences by subtype, once per run

    @property
    def client(self) -> MetaClient:
        if not self.account:
            raise ConfigError("No ad account: set ad_account_id in audiences.yaml or FB_AD_ACCOUNT_ID (act_…).")
        if self.account not in self._clients:
            self._clients[self.account] = self.clients(self.settings, self.account)
        return self._clients[self.account]

    @property
    def _client(self) -> MetaClient | None:
        return self._clients.get(self.account)

    @property
    def _counts(self) -> Counter[str] | None:
        return self._counts_of.get(self.account)

    @contextmanager
    def on(self, account: str) -> Iterator[None]:
        """The steps inside work on ``account`` (its client, its counts)."""
        before, self.account = self.account, account
        try:
            yield
        finally:
            self.account = before

    @property
    def online(self) -> bool:
        """Whether this run may ask Meta (a plan without a token uses fbsync's records only)."""
        return not self.dry_run or bool(self.settings.access_token)

    # ------------------------------------------------------------------ one audience
    def audience(self, a: Audience, units: Sequence[Unit]) -> list[tuple[AudienceResult, FbsyncError | None, Unit]]:
        """Sync (or plan) one audience of the YAML on each of its accounts.  A customer list's rows are read
        from the CRM once, by the first account that needs them, and reused by the others."""
        out: list[tuple[AudienceResult, FbsyncError | None, Unit]] = []
        if a.is_lookalike:
            for u in units:
                shaped = as_slot(self.cfg, a, u, self.home)
                with self.on(u.account):
                    r, fatal = self.guarded(u.slot, functools.partial(self._lookalike, shaped))
                out.append((replace(r, account=u.account), fatal, u))
            return out
        target = ListTarget.of(self.loaded, a)
        owner = accounts.accounts_of(self.cfg, a, self.home)[0]
        with SharedRead(self.settings, functools.partial(self.reader.audience, a)) as shared:
            for u in units:
                t = replace(target, want=replace(target.want, name=u.slot))
                with self.on(u.account):
                    r, fatal = self.guarded(u.slot, functools.partial(self.customer_list, t, shared))
                    if u.account == owner and r.status in ("ok", "planned"):
                        r, fatal = self._shares(a, u, r, fatal)
                out.append((replace(r, account=u.account), fatal, u))
        return out

    def _shares(
        self, a: Audience, u: Unit, r: AudienceResult, fatal: FbsyncError | None
    ) -> tuple[AudienceResult, FbsyncError | None]:
        """``share_with`` on the owner's audience once it is in step (nothing uploaded to the recipients)."""
        try:
            client = self.client if self.online else None
            p = audiences.sync_shares(
                client,
                self.store,
                u.slot,
                r.meta_id,
                u.account,
                a.share_with or [],
                force=self.force,
                apply=not self.dry_run,
            )
        except (AuthError, MetaConfigError) as exc:
            return replace(r, status="failed", message=str(exc)), exc
        except MetaApiError as exc:
            return replace(r, status="failed", message=f"{u.slot} is in step but sharing it failed: {exc}"), fatal
        if p is None:  # nothing shared, nothing to share
            return r, fatal
        done = replace(r, sharing=p.to_dict(), notes=(*r.notes, *p.notes(done=not self.dry_run)))
        return (replace(done, status="refused", message=p.refused) if p.refused else done), fatal

    def guarded(self, name: str, work: Callable[[], AudienceResult]) -> tuple[AudienceResult, FbsyncError | None]:
        """``work()`` under the audience's lock: its result, and the authentication error that must stop
        the whole run, if any (any other failure of Meta or of the audience is this audience's result)."""
        if self.stop.is_set():
            return AudienceResult(name, "interrupted", message="not started: the run was asked to stop"), None
        began, before = time.monotonic(), self._api_counters()
        fatal: FbsyncError | None = None
        try:
            # One run per audience at a time, across processes (and hosts on a PostgreSQL state).
            with nullcontext() if self.dry_run else audience_lock(self.store, name):
                if self._client is not None:
                    self._client.start_audience()
                result = work()
        except (AuthError, MetaConfigError) as exc:  # nothing else can work: stop the run
            result, fatal = AudienceResult(name, "failed", message=str(exc)), exc
        except (MetaApiError, AudienceError) as exc:
            log.error("audience %s failed: %s", name, exc)
            result = AudienceResult(name, "refused" if isinstance(exc, Refused) else "failed", message=str(exc))
        return replace(result, seconds=time.monotonic() - began, api=self._api_used(before)), fatal

    def _api_counters(self) -> tuple[int, int, float, float]:
        c = self._client
        return (c.calls, c.retries, c.waited, c.governor.paused) if c is not None else (0, 0, 0.0, 0.0)

    def _api_used(self, before: tuple[int, int, float, float]) -> dict[str, float]:
        """This audience's share of the run's Marketing API work (the metrics and the history read it)."""
        c = self._client
        if c is None:
            return {}
        calls, retries, _, paused = self._api_counters()
        return {
            "calls": calls - before[0],
            "retries": retries - before[1],
            "retry_wait": round(c.waited, 3),  # reset per audience by start_audience
            "throttle_wait": round(paused - before[3], 3),
            "usage": round(c.governor.usage.pct, 1),
            "in_flight": c.in_flight,  # reset per audience by start_audience
        }

    def customer_list(self, t: ListTarget, source: ReadInto | SharedRead) -> AudienceResult:
        """find → read → plan → create or update → apply → read back, for one customer list on the current
        account.  ``source`` reads the rows (a function), or hands over rows another account read."""
        store, want, name, schema = self.store, t.want, t.want.name, t.want.schema
        rec = store.audience(name)
        found = (
            audiences.find(self.client, rec, want.display_name, "CUSTOM") if self.online else audiences.remembered(rec)
        )
        meta_id = str(found["id"]) if found else None
        if found is not None and self.online:
            ours = resumable(store.extra(name).get("replace"), meta_id, time.time())
            refused = audiences.blocked(self.client, name, found, replace_is_ours=ours)
            if refused:  # never retried: Meta refuses every upload and edit until a person acts
                return AudienceResult(name, "refused", meta_id=meta_id, message=refused, record=t.record)
        changes_kind = kind_changed(want, audiences.remote_of(found))
        known = bool(
            not changes_kind
            and meta_id
            and rec
            and rec.meta_id == meta_id
            and rec.schema == schema
            and rec.key_id == self.cipher.key_id
            and rec.extra.get("variant", "") == t.variant
        )
        read: ReadResult | None = None
        applier: Applier | None = None
        try:
            with nullcontext(source) if isinstance(source, SharedRead) else SharedRead(self.settings, source) as rows:
                stg, read, meter = rows.read(t)
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
                    replace(want, rows=read.rows_desired),
                    view,
                    audiences.remote_of(found),
                    force=self.force,
                    account_lists=self._account_lists() if found is None and self.online else None,
                )
                if self.dry_run and p.removes and p.strategy == "diff" and p.removes_from != "listed" and t.links:
                    linked = linked_rows(store, self.cipher, name, t.links, removal_rows(p, stg, store))
                    p.resent = stg.count_desired(linked)
                    p.adds += p.resent
                gates = gates_of(t.quality, meter, read, view)
                if not p.refused and not self.force:
                    p.refused = quality_refusal(name, gates)
                warn = integrity.warnings([(name, want.display_name, want.description)]) if self.dry_run else []
                done = AudienceResult(
                    name,
                    meta_id=meta_id,
                    strategy=p.strategy,
                    read=read,
                    notes=(*p.notes, *warn),
                    record=t.record,
                    gates=tuple(g.to_dict() for g in gates),
                )
                if self.dry_run or p.refused:
                    return planned(done, p, dry_run=self.dry_run)
                if p.recreate and meta_id:
                    audiences.retire(self.client, store, name, meta_id, want.display_name, time.strftime("%Y-%m-%d"))
                    meta_id = None
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
                    value_based=want.value_based,
                )
                store.set_extra(name, variant=t.variant or None)
                if action == "created" and self._counts is not None:
                    self._counts["CUSTOM"] += 1
                applier = Applier(
                    self.client,
                    store,
                    self.cipher,
                    name,
                    meta_id,
                    schema,
                    stop=self.stop,
                    progress=self.progress,
                    links=t.links,
                )
                applier.apply(p, stg, prior, t.on_too_small)
            size = audiences.read_back(self.client, meta_id)
            state: tuple[str, ...] = (f"Meta says: {size.operation}",) if size.operation else ()
            if applier.samples:
                state += (f"Meta's samples of invalid entries: {'; '.join(applier.samples)}",)
            return replace(
                done,
                record={**done.record, "invalid_samples": list(applier.samples)} if applier.samples else done.record,
                meta_id=meta_id,
                action=action,
                sent=applier.sent,
                size=size,
                notes=(*done.notes, *applier.notes, *state),
            )
        except (MetaApiError, AudienceError, Interrupted) as exc:
            if isinstance(exc, (AuthError, MetaConfigError)):
                raise
            log.error("audience %s failed: %s", name, exc)
            status: AudienceStatus = (
                "interrupted"
                if isinstance(exc, Interrupted)
                else "refused"
                if isinstance(exc, (IntegrityFlagged, Refused))
                else "failed"
            )
            return AudienceResult(
                name,
                status,
                meta_id=meta_id,
                read=read,
                sent=applier.sent if applier else Sent(),
                message=str(exc),
                record=t.record,
            )

    def _account_lists(self) -> int:
        """How many customer lists the ad account holds (counted once per run, when an audience is to be created)."""
        return self._account_counts()["CUSTOM"]

    def _account_lookalikes(self) -> int:
        """How many lookalikes the ad account holds (counted once per run, when a tier is to be created)."""
        return self._account_counts()["LOOKALIKE"]

    def _account_counts(self) -> Counter[str]:
        if self.account not in self._counts_of:
            self._counts_of[self.account] = Counter(
                str(a.get("subtype")) for a in self.client.audiences(("id", "subtype"))
            )
        return self._counts_of[self.account]

    def _lookalike(self, a: Audience) -> AudienceResult:
        """Create the missing tiers of a lookalike (never edited: a changed spec is a new tier)."""
        if self.dry_run:
            wanted = self.online and lookalikes.missing_tiers(a, self.store)
            return lookalikes.plan_lookalike(a, self.store, self._account_lookalikes() if wanted else None)
        src = a.lookalike.source if a.lookalike else ""
        src_aud = next((x for x in self.cfg.audiences if x.name == accounts.split(src)[0]), None)
        label = (src_aud.display_name or src_aud.name) if src_aud else None
        result = lookalikes.sync_lookalike(
            a,
            self.client,
            self.store,
            self.account,
            label,
            self._account_lookalikes,
            value_based=bool(src_aud and src_aud.is_value_based),
        )
        if self._counts is not None:
            self._counts["LOOKALIKE"] += result.tiers
        return result

    # ------------------------------------------------------------------ after the audiences
    def orphans(self, *, prune: bool) -> tuple[OrphanResult, ...]:
        """Audiences fbsync created that the YAML no longer declares: listed, or deleted with ``--prune``."""
        every = accounts.units(self.cfg, self.cfg.audiences, self.home)
        declared = lookalikes.declared_names(
            [
                as_slot(self.cfg, u.audience, u, self.home)
                if u.audience.is_lookalike
                else u.audience.model_copy(update={"name": u.slot})
                for u in every
            ]
        )

        def client_of(account: str | None) -> MetaClient:
            with self.on(account or self.account):
                return self.client

        return audiences.prune(client_of if prune else None, self.store, declared, lookalikes.parent_of, delete=prune)

    def ad_sets(self) -> tuple[AdSetResult, ...]:
        if not self.cfg.ad_sets or self.stop.is_set() or not self.online:
            return ()
        done: dict[int, AdSetResult] = {}  # by position in the file: the summary keeps the file's order
        for acct in dict.fromkeys(s.ad_account_id or self.home or "" for s in self.cfg.ad_sets):
            with self.on(acct):

                def slot(name: str, acct: str = acct) -> str:
                    return accounts.slot_in(self.cfg, name, acct, self.home)

                mine = [i for i, s in enumerate(self.cfg.ad_sets) if (s.ad_account_id or self.home or "") == acct]
                wired = adsets.wire(
                    self.cfg,
                    self.client,
                    self.store,
                    apply=not self.dry_run,
                    only=[self.cfg.ad_sets[i] for i in mine],
                    slot=slot,
                )
                done.update(zip(mine, wired, strict=True))
        return tuple(done[i] for i in sorted(done))
