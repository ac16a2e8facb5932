"""``fbsync upload``: a one-off CSV/TSV/Parquet file into an audience.

Composed from the same steps as ``sync`` (:class:`~fbsync.orchestrator.Runner`): the identity engine,
suppression, the plan (and its shrink guard), create-once, the applier, locks and the run log.
Only the rows' origin (a file) and the mode's meaning differ:

* ``add`` sends the file's rows the ledger does not hold (the plan's ``append``);
* ``remove`` removes the file's rows (the plan's ``remove``);
* ``replace`` makes the audience exactly the file (a ``/usersreplace`` session, the plan's ``replace``):
  an empty file, or one that would shrink the audience beyond ``max_shrink``, is refused unless ``--force``.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from .alerts.hook import hooks_for
from .config import Audience, LoadedConfig, effective
from .errors import ConfigError
from .orchestrator import Runner, RunOptions
from .planning import Desired, Mode
from .quality import QualityMeter
from .read import Spec, open_crm, schema_of
from .results import ReadResult, RunResult
from .runlog import RunLog
from .settings import Settings
from .sources.crm import Chunk
from .sources.file_format import FileReport
from .sources.files import header_mapping, read_columns
from .state.staging import Staging
from .targets import ListTarget

MODES: dict[str, Mode] = {"add": "append", "remove": "remove", "replace": "replace"}


def upload_file(
    loaded: LoadedConfig,
    settings: Settings,
    path: Path,
    name: str,
    mode: str = "add",
    mapping: dict[str, str] | None = None,
    options: RunOptions | None = None,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> RunResult:
    """Upload a CSV/TSV/Parquet file into an audience of the YAML or a new one (created if missing).

    ``delimiter`` and ``encoding`` are sniffed when None (``,`` ``;`` tab ``|``; UTF-8, else Windows-1252).
    """
    options = options or RunOptions()
    if mode not in MODES:
        raise ConfigError(f"--mode {mode}: use add, remove or replace.")
    cfg = loaded.config
    a = next((x for x in cfg.audiences if x.name == name), None)
    if a is not None and a.is_lookalike:
        raise ConfigError(f"{name} is a lookalike audience; files go into customer lists.")
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ConfigError(f"--audience {name!r}: use lowercase letters, digits and _ (fbsync's stable key).")
    keys = mapping or header_mapping(path, delimiter=delimiter, encoding=encoding)
    # The file is checked here, before the state folder or Meta are touched: a file fbsync cannot read
    # costs nothing but its sentence.
    report = FileReport()
    wanted = list(dict.fromkeys(keys.values()))  # as pyarrow arrays: hashed column-wise when only identifiers are read
    rows = read_columns(path, wanted, delimiter=delimiter, encoding=encoding, report=report, arrays=True)
    target = _target(loaded, a, name, schema_of(keys), mode, path)
    spec = Spec(name, keys, country=effective(cfg, a).default_country if a else cfg.defaults.default_country)
    crm = open_crm(loaded, settings)  # only for the suppression query
    try:
        with RunLog(
            settings,
            "upload",
            loaded.digest,
            record=not options.dry_run,
            hooks=hooks_for(loaded, settings, options.clients),
        ) as runlog:
            rec = runlog.store.audience(name)
            run = Runner(loaded, settings, runlog.store, crm, options)
            if rec is not None and rec.schema and rec.schema != target.want.schema and rec.key_id == run.cipher.key_id:
                raise ConfigError(
                    f"{name} holds rows with the keys {','.join(rec.schema)}; map the same keys with "
                    f"--map (this file gives {','.join(target.want.schema)})."
                )
            chunks = (Chunk(d, len(next(iter(d.values()), []))) for d in rows)

            def read_into(stg: Staging, meter: QualityMeter | None) -> ReadResult:
                read = run.reader.chunks(spec, chunks, stg, meter=meter)
                return replace(read, notes=read.notes + tuple(report.notes()))  # rows skipped as malformed

            result, fatal = run.guarded(name, lambda: run.customer_list(target, read_into))
            runlog.record(result)
            if fatal is not None:
                raise fatal
            return runlog.finish(RunResult("upload", runlog.run_id, (result,), options.dry_run))
    finally:
        if crm is not None:
            crm.dispose()


def _target(
    loaded: LoadedConfig, a: Audience | None, name: str, schema: tuple[str, ...], mode: str, path: Path
) -> ListTarget:
    """The audience the file goes into: a declared one keeps its name, description and settings on Meta;
    a new one is named after ``--audience`` and its description on Meta is left as it is."""
    record = {"upload": mode, "file": path.name}
    if a is not None:
        declared = ListTarget.of(loaded, a)
        want = replace(declared.want, mode=MODES[mode], schema=schema, source="the file")
        return ListTarget(want, declared.file_source, record)  # declared: the YAML's, prunable once undeclared
    d = loaded.config.defaults
    want = Desired(name, name, None, MODES[mode], schema, 0, d.max_shrink, "the file", own_description=False)
    return ListTarget(want, d.customer_file_source, record, made_by="upload")
