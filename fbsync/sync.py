"""The sync orchestrator: read → hash → plan → apply → record, one audience at a time.

IO lives at the edges (:mod:`fbsync.crm`, :mod:`fbsync.meta.client`,
:mod:`fbsync.state`); decisions are :func:`fbsync.plan.plan_audience`.  The
ledger changes only after Meta acknowledged a batch, inside the transaction
that records it, so a run killed at any instant and run again converges.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from . import identity, pushdown
from .config import Audience, LoadedConfig, effective
from .crm import Chunk, CrmSource
from .crypto import RowCipher, load_master_key
from .errors import AudienceError, AuthError, ConfigError, FbsyncError, MetaApiError, ShrinkRefused
from .locks import audience_lock
from .meta.client import MAX_ROWS_PER_CALL, MetaClient, RetryPolicy, Session
from .meta.governor import Governor
from .plan import Desired, LedgerView, Plan, Remote, plan_audience
from .privacy import Suppression, check_suppression, load_suppression
from .settings import Settings
from .util import as_int
from .staging import Staging, clean_stale
from .state import StateStore, pending

log = logging.getLogger(__name__)
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "oui"})
REPLACE_RESUME_S = 80 * 60   # Meta closes a replace session 90 min after batch 1; resume only well before


class Interrupted(FbsyncError):
    """The run was asked to stop (SIGTERM/SIGINT); what was acknowledged is recorded."""


@dataclass
class AudienceReport:
    """What happened to one audience in one run (also the ``--json`` shape)."""

    name: str
    status: str = "ok"                     # ok | failed | refused | skipped | planned
    meta_id: str | None = None
    action: str = "unchanged"              # created | updated | unchanged | adopted
    strategy: str = "diff"
    rows_read: int = 0
    rows_no_consent: int = 0
    rows_suppressed: int = 0               # opt-outs and forgotten people (suppression)
    rows_excluded: int = 0                 # shared an identifier with an audience of `exclude`
    rows_not_intersecting: int = 0         # shared none with one of the `intersect` audiences
    rows_dropped: int = 0                  # no usable identifier
    rows_duplicate: int = 0
    rows_desired: int = 0
    added: int = 0
    removed: int = 0
    replaced: int = 0
    invalid_on_meta: int = 0
    size_lower: int | None = None
    size_upper: int | None = None
    delivery: str | None = None
    drops: dict[str, dict[str, int]] = field(default_factory=dict)
    empty: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    message: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rows_left_out(self) -> int:
        """Rows read but not sent: no consent, suppressed, excluded, outside an intersect, no usable key."""
        return (self.rows_no_consent + self.rows_suppressed + self.rows_excluded + self.rows_not_intersecting
                + self.rows_dropped)


@dataclass
class RunReport:
    command: str
    run_id: int | None
    audiences: list[AudienceReport]
    dry_run: bool = False
    orphans: list[dict[str, Any]] = field(default_factory=list)   # created by fbsync, no longer declared
    ad_sets: list[dict[str, Any]] = field(default_factory=list)   # targeting changes, per ad set

    @property
    def exit_code(self) -> int:
        failed = any(a.status in ("failed", "refused", "interrupted") for a in self.audiences)
        return 1 if failed or any(s["status"] == "failed" for s in self.ad_sets) else 0

    def to_dict(self) -> dict[str, Any]:
        return {"command": self.command, "run_id": self.run_id, "dry_run": self.dry_run,
                "exit_code": self.exit_code, "audiences": [asdict(a) for a in self.audiences],
                "orphans": self.orphans, "ad_sets": self.ad_sets}


def is_consent(value: Any) -> bool:
    """Consent is given only by 1, true, t, yes, y or oui (any case); NULL and anything else is no."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in TRUE_WORDS


class Syncer:
    """Runs ``sync``/``plan`` for the audiences of one loaded config."""

    def __init__(self, loaded: LoadedConfig, settings: Settings,
                 client_factory: Callable[[Settings, str], MetaClient] | None = None) -> None:
        self.loaded, self.cfg, self.settings = loaded, loaded.config, settings
        self.client_factory = client_factory or self._default_client
        self._client: MetaClient | None = None
        self.stop = threading.Event()
        self.progress: Callable[[str, str, int, int | None], None] = lambda *a: None
        crm_url = settings.crm_url or self.cfg.crm.url
        self.crm = CrmSource(crm_url, base_dir=loaded.path.parent) if crm_url else None
        self.account = settings.account(self.cfg.ad_account_id)

    # ------------------------------------------------------------------ helpers
    def _default_client(self, settings: Settings, account: str) -> MetaClient:
        api = self.cfg.api
        policy = RetryPolicy(attempts=api.max_attempts, maximum=api.max_backoff_seconds,
                             total=api.max_wait_per_call_seconds, per_audience=api.max_wait_per_audience_seconds)
        return MetaClient(settings, account, policy, Governor(slow_from=api.slow_down_from_percent))

    @property
    def client(self) -> MetaClient:
        if self._client is None:
            self._client = self.client_factory(self.settings, self.account)
        return self._client

    def select(self, names: Sequence[str]) -> list[Audience]:
        for n in names:
            self.loaded.audience(n)
        return [a for a in self.cfg.audiences if not names or a.name in names]

    @property
    def source(self) -> CrmSource:
        if self.crm is None:
            raise ConfigError("No CRM: set crm.url in audiences.yaml or FBSYNC_CRM_URL.")
        return self.crm

    def preflight(self, auds: Sequence[Audience]) -> None:
        """Everything that can be checked before sending anything: suppression, push-down, every query's columns."""
        problems = []
        try:
            check_suppression(self.cfg, self.crm, self.loaded.path.parent)
            for a in auds:
                if not a.is_lookalike and effective(self.cfg, a).hash_in_database:
                    pushdown.require_postgresql(self.source.dialect, a.name)
        except ConfigError as exc:
            problems.append(str(exc))
        for a in auds:
            if a.is_lookalike:
                continue
            wanted = dict(a.keys or {})
            consent = effective(self.cfg, a).consent
            if consent:
                wanted["consent"] = consent
            try:
                self.source.check_columns(a.query or "", wanted, f"audience {a.name}")
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("\n".join(problems), problems)

    # ------------------------------------------------------------------ run
    def run(self, names: Sequence[str] = (), *, dry_run: bool = False, force: bool = False,
            command: str = "sync", stop: threading.Event | None = None, prune: bool = False) -> RunReport:
        """Sync (or plan) the audiences named (all when empty).

        ``stop`` (set by a signal handler) is checked between batches: the batch in flight finishes and
        is recorded, the remaining audiences are reported as interrupted, and the next run goes on.
        """
        self.stop = stop or threading.Event()
        auds = self.select(names)
        self.preflight(auds)
        st = self.settings
        store = StateStore.open(st.state_dir, st.state_url)
        cipher = RowCipher(load_master_key(st.state_key, st.state_dir))
        clean_stale(st.state_dir)
        self.suppression = load_suppression(self.cfg, self.crm, cipher, store, self.loaded.path.parent,
                                            self.cfg.defaults.default_country)
        self._cipher, self._idsets = cipher, {}
        run_id = None if dry_run else store.start_run(command, self.loaded.digest)
        reports: list[AudienceReport] = []
        status = "ok"
        try:
            # Customer lists first: a lookalike is created after its source synced in the same run.
            for a in sorted(auds, key=lambda x: x.is_lookalike):
                rep = AudienceReport(a.name)
                reports.append(rep)
                if self.stop.is_set():
                    rep.status, rep.message = "interrupted", "not started: the run was asked to stop"
                    continue
                try:
                    # One run per audience at a time, across processes (and hosts on a PostgreSQL state).
                    with nullcontext() if dry_run else audience_lock(store, a.name):
                        if self._client is not None:
                            self._client.start_audience()
                        if a.is_lookalike:
                            self._lookalike(a, rep, store, dry_run=dry_run)
                        else:
                            self._audience(a, rep, store, cipher, dry_run=dry_run, force=force)
                except AuthError as exc:
                    rep.status, rep.message = "failed", str(exc)
                    status = "failed"
                    raise
                except ShrinkRefused as exc:
                    rep.status, rep.message = "refused", str(exc)
                except Interrupted as exc:
                    rep.status, rep.message = "interrupted", str(exc)
                except (MetaApiError, AudienceError) as exc:
                    rep.status, rep.message = "failed", str(exc)
                    log.error("audience %s failed: %s", a.name, exc)
                finally:
                    if run_id is not None:
                        store.record_audience_run(
                            run_id, a.name, status=rep.status, meta_id=rep.meta_id, rows_read=rep.rows_read,
                            rows_dropped=rep.rows_left_out,
                            rows_added=rep.added + rep.replaced,
                            rows_removed=rep.removed, size_lower=rep.size_lower, size_upper=rep.size_upper,
                            message=rep.message, details={"drops": rep.drops, "empty": rep.empty,
                                                          "no_consent": rep.rows_no_consent,
                                                          "suppressed": rep.rows_suppressed,
                                                          "excluded": rep.rows_excluded,
                                                          "not_intersecting": rep.rows_not_intersecting,
                                                          "desired": rep.rows_desired,
                                                          "strategy": rep.strategy, "action": rep.action})
            report = RunReport(command, run_id, reports, dry_run)
            report.orphans = self._orphans(store, prune=prune and not dry_run and not names)
            if self.cfg.ad_sets and not self.stop.is_set() and (not dry_run or self.settings.access_token):
                from . import adsets

                report.ad_sets = adsets.wire(self.cfg, self.client, store, apply=not dry_run)
            if report.exit_code:
                status = "partial" if any(r.status == "ok" for r in reports) else "failed"
            return report
        except FbsyncError:
            status = "failed"
            raise
        finally:
            if run_id is not None:
                store.finish_run(run_id, status, {"audiences": len(reports)})
            store.engine.dispose()
            if self.crm is not None:
                self.crm.dispose()

    # ------------------------------------------------------------------ one audience
    def _audience(self, a: Audience, rep: AudienceReport, store: StateStore, cipher: RowCipher,
                  *, dry_run: bool, force: bool) -> None:
        eff = effective(self.cfg, a)
        keys = dict(a.keys or {})
        schema = tuple(k for k in identity.KEYS if k in keys)
        display = a.display_name or a.name
        rec = store.audience(a.name) or {}
        remote_obj = self._find_remote(rec, display, lookup=not dry_run or bool(self.settings.access_token))
        remote = Remote(exists=remote_obj is not None,
                        name=(remote_obj or {}).get("name"), description=(remote_obj or {}).get("description"),
                        size_lower=as_int((remote_obj or {}).get("approximate_count_lower_bound")),
                        size_upper=as_int((remote_obj or {}).get("approximate_count_upper_bound")))
        meta_id = str(remote_obj["id"]) if remote_obj else None
        rep.meta_id = meta_id
        known = bool(meta_id and rec.get("meta_id") == meta_id and rec.get("schema") == ",".join(schema)
                     and rec.get("key_id") == cipher.key_id)
        with Staging(self.settings.state_dir) as stg:
            self._read(a, eff.consent, eff.default_country, keys, schema, stg, cipher, rep)
            self._remember_members(a.name, schema, stg)
            replace_state = store.extra(a.name).get("replace") if known or meta_id else None
            if known:
                for fps in store.iter_fingerprints(a.name):
                    stg.add_acked(fps)
            forced = self._suppressed_in_ledger(a.name, schema, stg, store, cipher) if eff.mode == "append" else 0
            view = LedgerView(known, store.ledger_count(a.name) if known else 0, stg.adds, stg.removes, forced)
            p = plan_audience(Desired(a.name, display, a.description, eff.mode, schema, rep.rows_desired,
                                      eff.max_shrink), view, remote, force=force)
            rep.strategy = p.strategy
            rep.notes += p.notes
            if dry_run:
                self._report_plan(p, rep)
                return
            if p.refused:
                raise ShrinkRefused(p.refused)
            meta_id = self._ensure(a, p, meta_id, display, eff.customer_file_source, rep)
            if not known:
                store.clear_ledger(a.name)
            store.save_audience(a.name, account_id=self.account, meta_id=meta_id, display_name=display,
                                description=a.description, subtype="CUSTOM", schema=",".join(schema),
                                key_id=cipher.key_id, **({"created_by_fbsync": True} if p.create else {}))
            if p.strategy == "replace":
                self._replace(a.name, meta_id, schema, stg, store, cipher, rep, replace_state)
            else:
                self._apply_diff(a.name, meta_id, schema, stg, store, cipher, rep, p)
        self._read_back(meta_id, rep)

    def _lookalike(self, a: Audience, rep: AudienceReport, store: StateStore, *, dry_run: bool) -> None:
        """Create the missing tiers of a lookalike (never edited: a changed spec is a new tier)."""
        from . import lookalikes

        src = a.lookalike.source if a.lookalike else ""
        src_aud = next((x for x in self.cfg.audiences if x.name == src), None)
        label = (src_aud.display_name or src_aud.name) if src_aud else None
        if dry_run:
            missing = [t for t in lookalikes.tiers(a) if not (store.audience(t.key) or {}).get("meta_id")]
            rep.status = "planned"
            rep.action = f"create {len(missing)} tier{'s' if len(missing) != 1 else ''}" if missing else "unchanged"
            return
        rep.action, rep.notes = lookalikes.sync_lookalike(a, self.client, store, self.account, label)
        if rep.action == "skipped":
            rep.status, rep.message = "skipped", rep.notes[0]
        rep.meta_id = ",".join(str((store.audience(t.key) or {}).get("meta_id") or "")
                               for t in lookalikes.tiers(a)).strip(",") or None

    def _orphans(self, store: StateStore, *, prune: bool) -> list[dict[str, Any]]:
        """Audiences fbsync created that the YAML no longer declares: listed, or deleted with --prune
        (lookalikes before their seeds); audiences fbsync did not create are never touched."""
        from . import lookalikes

        out = []
        for rec in lookalikes.prune_order(lookalikes.orphans(store, list(self.cfg.audiences))):
            item = {"name": rec["name"], "meta_id": rec["meta_id"], "display_name": rec.get("display_name"),
                    "action": "orphan"}
            if prune:
                try:
                    with audience_lock(store, lookalikes.parent_of(rec["name"])):
                        self.client.delete_audience(rec["meta_id"])
                        store.purge_audience(rec["name"])
                    item["action"] = "pruned"
                except MetaApiError as exc:
                    item["action"], item["message"] = "prune failed", str(exc)
            out.append(item)
        return out

    def _pushdown(self, query: str, keys: dict[str, str], country: str | None, what: str) -> pushdown.Pushdown:
        """Which keys PostgreSQL normalizes and hashes itself (only hashes leave it), from the query's types."""
        with self.source.read_only() as conn:
            try:
                pushdown.check_server(conn)
                types = pushdown.describe(conn, query)
            except sa.exc.SQLAlchemyError as exc:
                raise ConfigError(f"{what}: the database said “{str(getattr(exc, 'orig', exc)).splitlines()[0]}”; "
                                  "fix the query.") from None
        return pushdown.plan_pushdown(keys, country, types)

    def _set_filters(self, a: Audience, schema: tuple[str, ...], rows: list[tuple[str, ...]],
                     rep: AudienceReport) -> list[tuple[str, ...]]:
        """``exclude``: drop rows sharing any identifier with an excluded audience; ``intersect``: keep rows
        sharing one with each listed audience (identifiers compared as keyed hashes, key by key)."""
        if a.exclude:
            kept = [r for r in rows if not any(self._members(x).matches(schema, r) for x in a.exclude)]
            rep.rows_excluded += len(rows) - len(kept)
            rows = kept
        if a.intersect:
            kept = [r for r in rows if all(self._members(x).matches(schema, r) for x in a.intersect)]
            rep.rows_not_intersecting += len(rows) - len(kept)
            rows = kept
        return rows

    def _members(self, name: str) -> Suppression:
        """The identifiers of another audience's desired rows (its own consent, suppression and set rules
        applied, so chains resolve in dependency order), read once per run and kept as keyed hashes."""
        if name not in self._idsets:
            other = self.loaded.audience(name)
            eff = effective(self.cfg, other)
            keys = dict(other.keys or {})
            schema = tuple(k for k in identity.KEYS if k in keys)
            with Staging(self.settings.state_dir) as stg:
                self._read(other, eff.consent, eff.default_country, keys, schema, stg, self._cipher,
                           AudienceReport(name))
                self._remember_members(name, schema, stg)
        return self._idsets[name]

    def _remember_members(self, name: str, schema: tuple[str, ...], stg: Staging) -> None:
        """Keep an audience's identifiers when another audience of the file excludes or intersects it,
        so a run reads each referenced query once (here, or from the audience's own sync)."""
        if name in self._idsets or not any(name in a.exclude or name in a.intersect for a in self.cfg.audiences):
            return
        ids = Suppression(self._cipher)
        for batch in stg.iter_desired(10_000):
            ids.add_rows(schema, (self._cipher.decrypt(e) for _, e in batch), name)
        self._idsets[name] = ids

    def _suppressed_in_ledger(self, name: str, schema: tuple[str, ...], stg: Staging, store: StateStore,
                              cipher: RowCipher) -> int:
        """Append mode removes nothing, except people suppressed since they were sent: mark those."""
        if not self.suppression:
            return 0
        for fps in stg.iter_removes(10_000):
            stg.add_forced(fp for fp, enc in store.encrypted_rows(name, [f for (f,) in fps])
                           if self.suppression.matches(schema, cipher.decrypt(enc)))
        return stg.forced

    def _check_stop(self, rep: AudienceReport) -> None:
        if self.stop.is_set():
            raise Interrupted(f"{rep.name}: stopped between batches when asked to (+{rep.added:,} −{rep.removed:,} "
                              "recorded); the next run sends the rest.")

    def _find_remote(self, rec: dict[str, Any], display: str, *, lookup: bool) -> dict[str, Any] | None:
        """The Meta audience: by the id fbsync remembers, else by its name on Meta."""
        if not lookup:
            return {"id": rec["meta_id"], "name": rec.get("display_name"),
                    "description": rec.get("description")} if rec.get("meta_id") else None
        if rec.get("meta_id"):
            found = self.client.audience(rec["meta_id"])
            if found is not None:
                return found
            log.warning("audience %s (Meta id %s) no longer exists on Meta; looking it up by name",
                        rec.get("name"), rec["meta_id"])
        return next(self.client.audiences(name=display), None)

    def _read(self, a: Audience | None, consent: str | None, country: str | None, keys: dict[str, str],
              schema: tuple[str, ...], stg: Staging, cipher: RowCipher, rep: AudienceReport,
              chunks: Iterable[Chunk] | None = None) -> None:
        """Stream the CRM query (or the given chunks of a file), filter consent, normalize + hash, stage
        distinct rows; suppressed people never reach the staging."""
        columns = list(dict.fromkeys(list(keys.values()) + ([consent] if consent else [])))
        pd: pushdown.Pushdown | None = None
        if chunks is None:
            assert a is not None
            query, what = a.query or "", f"audience {a.name}"
            if effective(self.cfg, a).hash_in_database:
                pd = self._pushdown(query, keys, country, what)
                rep.notes += pd.plan_lines()
                keep = [consent] if consent else []
                query, columns = pushdown.rewrite(query, pd, keep=keep), pd.columns(keep=keep)
            chunks = self.source.stream(query, columns, what)
        drops: Counter[tuple[str, str]] = Counter()
        empty: Counter[str] = Counter()
        examples: dict[tuple[str, str], list[str]] = {}
        staged = 0
        for chunk in chunks:
            rep.rows_read += chunk.size
            cols = chunk.columns
            if consent:
                ok = [i for i, v in enumerate(cols[consent]) if is_consent(v)]
                rep.rows_no_consent += chunk.size - len(ok)
                if len(ok) != chunk.size:
                    cols = {c: [vals[i] for i in ok] for c, vals in cols.items()}
            batch = (pushdown.hash_chunk(cols, pd) if pd is not None
                     else identity.hash_batch({k: cols[c] for k, c in keys.items()}, country))
            assert batch.schema == schema
            rep.rows_dropped += batch.dropped_rows
            drops.update(batch.invalid)
            empty.update(batch.empty)
            for k, ex in batch.examples.items():
                examples.setdefault(k, [])
                examples[k] = (examples[k] + ex)[:3]
            rows = batch.rows
            if self.suppression:
                rows = [r for r in rows if not self.suppression.matches(schema, r)]
                rep.rows_suppressed += len(batch.rows) - len(rows)
            if a is not None and (a.exclude or a.intersect):
                rows = self._set_filters(a, schema, rows, rep)
            staged += len(rows)
            stg.add_desired((cipher.fingerprint(schema, r), cipher.encrypt(r)) for r in rows)
            self.progress(rep.name, "reading and hashing", rep.rows_read, None)
        rep.rows_desired = stg.desired
        rep.rows_duplicate = staged - rep.rows_desired
        for (key, reason), n in sorted(drops.items()):
            rep.drops.setdefault(key, {})[reason] = n
        rep.empty = dict(sorted(empty.items()))
        rep.examples = {f"{k}: {r}": v for (k, r), v in sorted(examples.items())}

    @staticmethod
    def _report_plan(p: Plan, rep: AudienceReport) -> None:
        rep.status = "refused" if p.refused else "planned"
        rep.message = p.refused
        rep.action = "create" if p.create else ("update " + ", ".join(p.update) if p.update else "unchanged")
        rep.added, rep.removed, rep.replaced = p.adds, p.removes, p.replace_rows

    def _ensure(self, a: Audience, p: Plan, meta_id: str | None, display: str, source: str,
                rep: AudienceReport) -> str:
        if p.create:
            meta_id = self.client.create_customer_list(display, a.description, source)
            rep.action = "created"
            log.info("created audience %s on Meta (id %s)", a.name, meta_id)
        elif p.update:
            assert meta_id
            self.client.update_audience(meta_id, **p.update)
            rep.action = "updated"
        assert meta_id
        rep.meta_id = meta_id
        return meta_id

    def _apply_diff(self, name: str, meta_id: str, schema: tuple[str, ...], stg: Staging, store: StateStore,
                    cipher: RowCipher, rep: AudienceReport, p: Plan) -> None:
        if p.adds:
            session = Session.new(p.adds)
            total = -(-p.adds // MAX_ROWS_PER_CALL)
            for i, batch in enumerate(stg.iter_adds(MAX_ROWS_PER_CALL)):
                self._check_stop(rep)
                rows = [cipher.decrypt(enc) for _, enc in batch]
                resp = self.client.add_users(meta_id, schema, rows, session, last=i + 1 >= total)
                store.record_added(name, batch)
                rep.added += len(batch)
                self.progress(name, "uploading adds", rep.added, p.adds)
                rep.invalid_on_meta += int(resp.get("num_invalid_entries") or 0)
        if p.removes:
            session = Session.new(p.removes)
            total = -(-p.removes // MAX_ROWS_PER_CALL)
            removes = stg.iter_forced(MAX_ROWS_PER_CALL) if p.forced_only else stg.iter_removes(MAX_ROWS_PER_CALL)
            for i, fps in enumerate(removes):
                self._check_stop(rep)
                enc = store.encrypted_rows(name, [f for (f,) in fps])
                rows = [cipher.decrypt(e) for _, e in enc]
                if rows:
                    self.client.remove_users(meta_id, schema, rows, session, last=i + 1 >= total)
                store.record_removed(name, [f for f, _ in enc])
                rep.removed += len(rows)
                self.progress(name, "uploading removals", rep.removed, p.removes)

    def _replace(self, name: str, meta_id: str, schema: tuple[str, ...], stg: Staging, store: StateStore,
                 cipher: RowCipher, rep: AudienceReport, prior: dict[str, Any] | None) -> None:
        """A full /usersreplace session; resumed if a killed run left one young enough, else restarted."""
        now = time.time()
        # Resumed even when no batch was recorded: if batch 1 reached Meta unrecorded, batch 2 goes on from it;
        # if it did not, Meta answers 1870147 and the client sends it again as batch 1.
        resume = bool(prior and prior.get("meta_id") == meta_id and now - prior["started"] < REPLACE_RESUME_S)
        stg.clear_acked()      # the ledger's rows say nothing about this session
        if resume and prior:
            session = Session(prior["session_id"], prior.get("estimated"), prior["batch_seq"])
            started = float(prior["started"])
            for fps in store.iter_fingerprints(name, table=pending):
                stg.add_acked(fps)
            rep.notes.append(f"resumed the replace session a killed run started {int(now - started)} s ago")
        else:
            store.clear_ledger(name, pending)
            session, started = Session.new(stg.desired), now
        todo = stg.adds
        total = max(1, -(-todo // MAX_ROWS_PER_CALL))
        # All rows already acknowledged but the closing batch never was: close with one row again.
        batches = stg.iter_adds(MAX_ROWS_PER_CALL) if todo else store.iter_ledger(name, chunk=1, table=pending)
        sent = 0
        # Recorded before each send: a batch_seq is never used twice, even if Meta got it and we died.
        session.on_next = lambda seq: store.set_extra(name, replace={
            "meta_id": meta_id, "session_id": session.session_id, "estimated": session.estimated_num_total,
            "batch_seq": seq, "started": started})
        for i, batch in enumerate(batches):
            self._check_stop(rep)
            rows = [cipher.decrypt(enc) for _, enc in batch]
            resp = self.client.replace_users(meta_id, schema, rows, session, last=i + 1 >= total)
            store.record_added(name, batch, pending)
            sent += len(batch)
            self.progress(name, "replacing", sent, todo)
            rep.invalid_on_meta += int(resp.get("num_invalid_entries") or 0)
        store.commit_replace(name)
        store.set_extra(name, replace=None)
        rep.replaced = sent

    def _read_back(self, meta_id: str, rep: AudienceReport) -> None:
        info = self.client.audience(meta_id) or {}
        rep.size_lower = as_int(info.get("approximate_count_lower_bound"))
        rep.size_upper = as_int(info.get("approximate_count_upper_bound"))
        ds = info.get("delivery_status") or {}
        rep.delivery = ds.get("description") if isinstance(ds, dict) else None
