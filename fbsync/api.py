"""fbsync as a library: what each command does, without the command line (no printing, no exit).

Every function takes a config (a :class:`~fbsync.config.LoadedConfig` or the path of an
``audiences.yaml``) and optional :class:`~fbsync.settings.Settings` (default: the environment and
``.env``, as the CLI reads them); each returns a typed result and raises fbsync's errors
(:class:`~fbsync.errors.FbsyncError` and its subclasses, each with an ``exit_code``).  These are
re-exported by :mod:`fbsync`::

    import fbsync

    config = fbsync.load_config("audiences.yaml")
    result = fbsync.sync(config, ["recent_buyers"])
    for a in result.audiences:
        print(a.name, a.status, a.sent.added, a.sent.removed)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Union

from .apply import Progress
from .config import LoadedConfig, load_config
from .erasure import ForgetReport
from .meta.factory import ClientFactory
from .results import RunResult
from .settings import Settings

ConfigLike = Union[LoadedConfig, str, "os.PathLike[str]"]


def loaded_config(config: ConfigLike) -> LoadedConfig:
    """A loaded config as given, or loaded from its path."""
    return config if isinstance(config, LoadedConfig) else load_config(config)


def settings_for(loaded: LoadedConfig, settings: Settings | None = None) -> Settings:
    """The settings given, or those of the environment (``.env`` included) for this config."""
    return settings or Settings.from_env(loaded.path)


def validate(config: ConfigLike, *, settings: Settings | None = None) -> LoadedConfig:
    """Check the YAML and that every query runs and returns its mapped columns; sends nothing."""
    from .errors import ConfigError
    from .read import open_crm, preflight, value_problem

    loaded = loaded_config(config)
    crm = open_crm(loaded, settings_for(loaded, settings))
    try:
        preflight(loaded, crm, loaded.config.audiences)
        problems = [p for p in (value_problem(loaded, crm, a) for a in loaded.config.audiences) if p]
        if problems:
            raise ConfigError("\n".join(problems), problems)
    finally:
        if crm is not None:
            crm.dispose()
    return loaded


def plan(
    config: ConfigLike,
    names: Sequence[str] = (),
    *,
    settings: Settings | None = None,
    force: bool = False,
    progress: Progress | None = None,
    clients: ClientFactory | None = None,
) -> RunResult:
    """What a sync would do per audience (create, update, +adds, −removes, replace, skip and why); sends nothing."""
    return sync(
        config, names, settings=settings, dry_run=True, force=force, progress=progress, clients=clients, command="plan"
    )


def sync(
    config: ConfigLike,
    names: Sequence[str] = (),
    *,
    settings: Settings | None = None,
    dry_run: bool = False,
    force: bool = False,
    prune: bool = False,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    clients: ClientFactory | None = None,
    command: str = "sync",
) -> RunResult:
    """Bring the audiences named (all when none) on Meta in step with the CRM; see ``fbsync sync``."""
    from .orchestrator import RunOptions, run_sync

    loaded = loaded_config(config)
    options = RunOptions(dry_run, force, stop, progress, clients)
    return run_sync(loaded, settings_for(loaded, settings), names, options, prune=prune, command=command)


def upload_file(
    config: ConfigLike,
    path: str | os.PathLike[str],
    audience: str,
    mode: str = "add",
    mapping: dict[str, str] | None = None,
    *,
    settings: Settings | None = None,
    dry_run: bool = False,
    force: bool = False,
    stop: threading.Event | None = None,
    progress: Progress | None = None,
    clients: ClientFactory | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> RunResult:
    """A one-off CSV/TSV/Parquet file into an audience (created if missing); see ``fbsync upload``."""
    from .orchestrator import RunOptions
    from .upload import upload_file as run_upload

    loaded = loaded_config(config)
    options = RunOptions(dry_run, force, stop, progress, clients)
    return run_upload(
        loaded,
        settings_for(loaded, settings),
        Path(path),
        audience,
        mode,
        mapping,
        options,
        delimiter=delimiter,
        encoding=encoding,
    )


def forget_person(
    config: ConfigLike,
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
    *,
    settings: Settings | None = None,
    clients: ClientFactory | None = None,
) -> ForgetReport:
    """RGPD erasure: remove one person from every audience fbsync manages and keep them out; see ``fbsync forget``."""
    from .erasure import forget_person as run_forget

    loaded = loaded_config(config)
    return run_forget(loaded, settings_for(loaded, settings), emails, phones, clients)
