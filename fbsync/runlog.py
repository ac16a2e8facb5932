"""The run log: the one place that keeps a run's history, for every command that changes something.

::

    with RunLog(settings, "sync", loaded.digest) as log:
        ...                      # log.store is the open state store
        log.record(result)       # each audience's result, as soon as it is known
        log.finish(run_result)   # the run's typed result
    # the store is closed; the run is recorded as ok, partial, failed or interrupted;
    # then every "run finished" hook was called with the RunResult

The run's status is the truth: ``ok``/``partial``/``failed`` from the results, ``interrupted`` when a
stop was asked (SIGINT/SIGTERM) or the process was interrupted, ``failed`` when anything else escaped,
fbsync's own errors or not.  A hook that fails is logged and never fails the run: alerts and
metrics hang here, so ``sync``, ``upload``, ``forget``, ``purge`` and ``schedule`` report alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from types import TracebackType
from typing import Any

from .errors import FbsyncError, Interrupted
from .redact import scrub
from .results import AudienceResult, ReadResult, RunResult, RunStatus
from .settings import Settings
from .state.store import StateStore

log = logging.getLogger(__name__)
Hook = Callable[[RunResult], None]
_HOOKS: list[Hook] = []


def on_run_finished(hook: Hook) -> Callable[[], None]:
    """Call ``hook(result)`` after every recorded run of this process; returns a function that removes it."""
    _HOOKS.append(hook)
    return lambda: _HOOKS.remove(hook) if hook in _HOOKS else None


@contextmanager
def hooked(hook: Hook) -> Iterator[None]:
    """``on_run_finished`` for the duration of a block."""
    remove = on_run_finished(hook)
    try:
        yield
    finally:
        remove()


def history_row(r: AudienceResult) -> dict[str, Any]:
    """One audience's line in the run history: counts, outcome and the details the report draws."""
    details: dict[str, Any] = {"strategy": r.strategy, "action": r.action_text}
    if r.account:
        details["account"] = r.account
    if r.sharing:
        details["sharing"] = dict(r.sharing)
    if r.sent.resent:
        details["resent"] = r.sent.resent  # of rows_added: kept rows sent again after a removal took their person
    if r.sent.invalid_on_meta:
        details["invalid_on_meta"] = r.sent.invalid_on_meta  # Meta's count (a range's lower bound)
    if r.read is not None:
        details.update(
            drops={k: dict(v) for k, v in r.read.drops.items()},
            empty=dict(r.read.empty),
            no_consent=r.read.rows_no_consent,
            suppressed=r.read.rows_suppressed,
            excluded=r.read.rows_excluded,
            not_intersecting=r.read.rows_not_intersecting,
        )
        if r.read.carrying:  # the match-rate insight: per key, rows carrying it and rows it alone identifies
            details.update(people=r.read.people, keys=r.read.key_coverage())
        rate = r.match_rate if r.status == "ok" else None
        if rate:
            details["match_rate"] = [round(x, 4) for x in rate]
    if r.seconds is not None:
        details["seconds"] = round(r.seconds, 3)
    if r.api:
        details["api"] = dict(r.api)  # calls, retries, retry_wait, throttle_wait, usage (the metrics read these)
    if r.gates:
        details["quality"] = [dict(g) for g in r.gates]  # figures and thresholds, run after run (the report's drift)
    details.update(r.record)
    read = r.read or ReadResult()
    return {
        "status": r.status,
        "meta_id": r.meta_id,
        "rows_read": read.rows_read,
        "rows_dropped": read.rows_left_out,
        "rows_added": r.sent.added + r.sent.replaced,
        "rows_removed": r.sent.removed,
        "size_lower": r.size.lower,
        "size_upper": r.size.upper,
        "message": scrub(r.message) if r.message else None,  # the history holds no secret and no identifier
        "details": details,
    }


def error_of(exc: BaseException | None) -> dict[str, Any]:
    """What stopped a run, for the hooks: fbsync's own sentence and code, or a generic one (never a traceback)."""
    if exc is None or isinstance(exc, (Interrupted, KeyboardInterrupt)):
        return {}
    if isinstance(exc, FbsyncError):
        return {"error": scrub(str(exc)), "error_code": exc.exit_code}
    return {"error": f"an unexpected error stopped the run ({type(exc).__name__}); see the log", "error_code": 1}


class RunLog:
    """Opens the store, starts the run, records each audience, finishes the run, closes, calls the hooks."""

    def __init__(
        self,
        settings: Settings,
        command: str,
        config_digest: str | None,
        *,
        record: bool = True,
        hooks: tuple[Hook, ...] = (),
    ) -> None:
        self.settings, self.command, self.digest = settings, command, config_digest
        self.recording = record  # False for plans and dry runs: nothing is written
        self.hooks = hooks
        self.results: list[AudienceResult] = []
        self.summary: dict[str, Any] = {}
        self.result: RunResult | None = None
        self.run_id: int | None = None
        self._store: StateStore | None = None

    @property
    def store(self) -> StateStore:
        assert self._store is not None, "RunLog.store is only open inside the with block"
        return self._store

    def __enter__(self) -> RunLog:
        self._store = StateStore.open(self.settings.state_dir, self.settings.state_url)
        try:
            if self.recording:
                self.run_id = self._store.start_run(self.command, self.digest)
        except BaseException:
            self._store.close()
            raise
        return self

    def record(self, result: AudienceResult) -> None:
        """Keep one audience's result (written at once, so a crash later still shows it)."""
        self.results.append(result)
        if self.run_id is not None:
            self.store.record_audience_run(self.run_id, result.name, **history_row(result))

    def finish(self, result: RunResult) -> RunResult:
        """The run's typed result (what the hooks receive)."""
        self.result = result
        return result

    def status(self, exc: BaseException | None) -> RunStatus:
        if isinstance(exc, (Interrupted, KeyboardInterrupt)):
            return "interrupted"
        if exc is not None:
            return "failed"
        return (self.result or RunResult(self.command, self.run_id, tuple(self.results))).status

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        status = self.status(exc)
        try:
            if self.run_id is not None:
                self.store.finish_run(self.run_id, status, self.summary or {"audiences": len(self.results)})
        finally:
            self.store.close()
            self._store = None
        if self.run_id is not None:
            result = replace(
                self.result or RunResult(self.command, self.run_id, tuple(self.results)),
                run_status=status,
                **error_of(exc),
            )
            for hook in (*_HOOKS, *self.hooks):
                try:
                    hook(result)
                except Exception:
                    log.exception("a run-finished hook failed (%s); the run itself is recorded", hook)
