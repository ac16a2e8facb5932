"""``fbsync upload``: a one-off CSV/TSV/Parquet file into an audience, through the same identity engine,
suppression, ledger, locks and client as ``sync``."""

from __future__ import annotations

import re
from contextlib import nullcontext
from pathlib import Path

from . import identity
from .config import Audience, effective
from .crm import Chunk
from .crypto import RowCipher, load_master_key
from .errors import AudienceError, ConfigError, MetaApiError
from .locks import audience_lock
from .meta.client import MAX_ROWS_PER_CALL, Session
from .plan import Plan
from .privacy import load_suppression
from .staging import Staging, clean_stale
from .state import StateStore
from .sync import AudienceReport, RunReport, Syncer


class Uploader(Syncer):
    """A :class:`Syncer` that takes its rows from a file instead of the CRM."""

    def upload(self, path: Path, name: str, mode: str = "add", mapping: dict[str, str] | None = None,
               *, dry_run: bool = False) -> RunReport:
        """Upload a CSV/TSV/Parquet file into an audience of the YAML or a new one (created if missing).

        ``add`` sends the file's rows the ledger does not hold; ``remove`` removes the file's rows;
        ``replace`` makes the audience exactly the file (a /usersreplace session). Same identity
        engine, suppression, ledger and client as ``sync``.
        """
        from .files import header_mapping, read_columns

        if mode not in ("add", "remove", "replace"):
            raise ConfigError(f"--mode {mode}: use add, remove or replace.")
        a = next((x for x in self.cfg.audiences if x.name == name), None)
        if a is not None and a.is_lookalike:
            raise ConfigError(f"{name} is a lookalike audience; files go into customer lists.")
        if not re.fullmatch(r"[a-z0-9_]+", name):
            raise ConfigError(f"--audience {name!r}: use lowercase letters, digits and _ (fbsync's stable key).")
        keys = mapping or header_mapping(path)
        schema = tuple(k for k in identity.KEYS if k in keys)
        st = self.settings
        store = StateStore.open(st.state_dir, st.state_url)
        cipher = RowCipher(load_master_key(st.state_key, st.state_dir))
        rec = store.audience(name) or {}
        if rec.get("schema") and rec["schema"] != ",".join(schema) and rec.get("key_id") == cipher.key_id:
            raise ConfigError(f"{name} holds rows with the keys {rec['schema']}; map the same keys with --map "
                              f"(this file gives {','.join(schema)}).")
        clean_stale(st.state_dir)
        self.suppression = load_suppression(self.cfg, self.crm, cipher, store, self.loaded.path.parent,
                                            self.cfg.defaults.default_country)
        eff = effective(self.cfg, a) if a else None
        country = eff.default_country if eff else self.cfg.defaults.default_country
        display = (a.display_name or a.name) if a else name
        rep = AudienceReport(name, strategy="replace" if mode == "replace" else "diff")
        run_id = None if dry_run else store.start_run("upload", self.loaded.digest)
        status = "failed"
        try:
            with audience_lock(store, name) if not dry_run else nullcontext(), Staging(st.state_dir) as stg:
                chunks = (Chunk(d, len(next(iter(d.values()), []))) for d in
                          read_columns(path, list(dict.fromkeys(keys.values()))))
                self._read(None, None, country, keys, schema, stg, cipher, rep, chunks)
                remote_obj = self._find_remote(rec, display, lookup=not dry_run or bool(st.access_token))
                meta_id = str(remote_obj["id"]) if remote_obj else None
                known = bool(meta_id and rec.get("meta_id") == meta_id and rec.get("key_id") == cipher.key_id)
                if known:
                    for fps in store.iter_fingerprints(name):
                        stg.add_acked(fps)
                p = Plan(name, create=meta_id is None, strategy=rep.strategy)
                if mode == "add":
                    p.adds = stg.adds
                elif mode == "remove":
                    p.removes = rep.rows_desired
                else:
                    p.replace_rows = rep.rows_desired
                if dry_run:
                    self._report_plan(p, rep)
                    return RunReport("upload", None, [rep], True)
                meta_id = self._ensure(a or Audience(name=name, query="-", keys=keys), p, meta_id, display,
                                       eff.customer_file_source if eff else self.cfg.defaults.customer_file_source,
                                       rep)
                if not known:
                    store.clear_ledger(name)
                store.save_audience(name, account_id=self.account, meta_id=meta_id, display_name=display,
                                    subtype="CUSTOM", schema=",".join(schema), key_id=cipher.key_id,
                                    **({"created_by_fbsync": True} if p.create else {}))
                if mode == "replace":
                    self._replace(name, meta_id, schema, stg, store, cipher, rep, None)
                elif mode == "add":
                    self._apply_diff(name, meta_id, schema, stg, store, cipher, rep, p)
                else:
                    self._remove_rows(name, meta_id, schema, stg, store, cipher, rep)
            self._read_back(meta_id, rep)
            status = "ok"
            return RunReport("upload", run_id, [rep])
        except (MetaApiError, AudienceError) as exc:
            rep.status, rep.message = "failed", str(exc)
            return RunReport("upload", run_id, [rep])
        finally:
            if run_id is not None:
                store.record_audience_run(run_id, name, status=rep.status, meta_id=rep.meta_id,
                                          rows_read=rep.rows_read, rows_dropped=rep.rows_dropped + rep.rows_suppressed,
                                          rows_added=rep.added + rep.replaced, rows_removed=rep.removed,
                                          size_lower=rep.size_lower, size_upper=rep.size_upper, message=rep.message,
                                          details={"drops": rep.drops, "upload": mode, "file": path.name})
                store.finish_run(run_id, status if rep.status == "ok" else "failed", {"audiences": 1})
            store.engine.dispose()

    def _remove_rows(self, name: str, meta_id: str, schema: tuple[str, ...], stg: Staging, store: StateStore,
                     cipher: RowCipher, rep: AudienceReport) -> None:
        """Remove the staged rows themselves (``upload --mode remove``), ledger updated as Meta acknowledges."""
        session = Session.new(rep.rows_desired)
        total = max(1, -(-rep.rows_desired // MAX_ROWS_PER_CALL))
        for i, batch in enumerate(stg.iter_desired(MAX_ROWS_PER_CALL)):
            self.client.remove_users(meta_id, schema, [cipher.decrypt(e) for _, e in batch], session,
                                     last=i + 1 >= total)
            store.record_removed(name, [fp for fp, _ in batch])
            rep.removed += len(batch)
