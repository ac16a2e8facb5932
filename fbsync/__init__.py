"""fbsync: keep Meta ad audiences in step with your CRM.

The public Python API (see :mod:`fbsync.api` and the README's "Python API")::

    load_config(path)                      -> LoadedConfig
    validate(config)                       -> LoadedConfig      (every query returns its columns)
    plan(config, names=())                 -> RunResult         (sends nothing)
    sync(config, names=(), force=False)    -> RunResult
    upload_file(config, path, audience)    -> RunResult
    forget_person(config, emails, phones)  -> ForgetReport
    on_run_finished(hook)                  -> remover           (hook(RunResult) after every recorded run)

Results are typed (:mod:`fbsync.results`); errors are :class:`FbsyncError` and its subclasses, each
with the command line's ``exit_code``.  Names are imported on first use, so ``import fbsync`` is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_config": "fbsync.config",
    "LoadedConfig": "fbsync.config",
    "Settings": "fbsync.settings",
    "validate": "fbsync.api",
    "plan": "fbsync.api",
    "sync": "fbsync.api",
    "upload_file": "fbsync.api",
    "forget_person": "fbsync.api",
    "on_run_finished": "fbsync.runlog",
    "RunResult": "fbsync.results",
    "AudienceResult": "fbsync.results",
    "ReadResult": "fbsync.results",
    "Sent": "fbsync.results",
    "AdSetResult": "fbsync.results",
    "OrphanResult": "fbsync.results",
    "ForgetReport": "fbsync.erasure",
    "FbsyncError": "fbsync.errors",
    "ConfigError": "fbsync.errors",
    "AuthError": "fbsync.errors",
    "AudienceError": "fbsync.errors",
    "MetaApiError": "fbsync.errors",
    "Interrupted": "fbsync.errors",
}
__all__ = [
    "AdSetResult",
    "AudienceError",
    "AudienceResult",
    "AuthError",
    "ConfigError",
    "FbsyncError",
    "ForgetReport",
    "Interrupted",
    "LoadedConfig",
    "MetaApiError",
    "OrphanResult",
    "ReadResult",
    "RunResult",
    "Sent",
    "Settings",
    "forget_person",
    "load_config",
    "on_run_finished",
    "plan",
    "sync",
    "upload_file",
    "validate",
]

if TYPE_CHECKING:
    from fbsync.api import forget_person, plan, sync, upload_file, validate
    from fbsync.config import LoadedConfig, load_config
    from fbsync.erasure import ForgetReport
    from fbsync.errors import AudienceError, AuthError, ConfigError, FbsyncError, Interrupted, MetaApiError
    from fbsync.results import AdSetResult, AudienceResult, OrphanResult, ReadResult, RunResult, Sent
    from fbsync.runlog import on_run_finished
    from fbsync.settings import Settings


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fbsync' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
