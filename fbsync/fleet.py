"""Several ``fbsync schedule`` workers sharing one PostgreSQL state store (docs/scheduling.md, "Several workers").

Every worker reads the same YAML, so every worker knows which audiences are due and for which cron fire.
Each due run is *claimed* once, as a row keyed by (audience, fire) in the state store: the worker whose
insert succeeds runs it, the others drop it.  A worker claims one audience at a time and claims the
next only when it is free again, so a round of many audiences spreads over the workers.

While it runs an audience, a worker *beats* (refreshes the claim's ``heartbeat_at``) every
``lease / 4`` seconds.  A claim left unfinished with no beat for ``lease`` seconds belongs to a worker
that died (``kill -9``, a lost node): any other worker takes it over and runs the audience again, which
resumes where the ledger says Meta stopped (the crash rules of :mod:`fbsync.apply`), so a killed
worker's audiences finish within ``lease`` plus one poll.  A worker asked to stop (SIGTERM) finishes
its batch in flight and leaves its claim unfinished: another worker resumes it the same way.

Dependencies hold across workers: a lookalike is claimed only once no claim of its source is still
open, and not while its source is due in the same round and not yet claimed.  Exclusions and
intersections need no order: they are read from the CRM in the audience's own run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

log = logging.getLogger(__name__)

Key = tuple[str, datetime]

#: Seconds without a beat after which a worker's claim is taken over by another (``--lease``).
DEFAULT_LEASE_SECONDS = 60.0


class ClaimStore(Protocol):
    """What the workers share (:class:`~fbsync.state.store.StateStore` on PostgreSQL)."""

    def claim_run(self, audience: str, due_at: datetime, worker: str) -> bool: ...
    def take_over_run(self, audience: str, due_at: datetime, worker: str, stale_before: datetime) -> bool: ...
    def beat_runs(self, keys: Sequence[Key], worker: str) -> None: ...
    def finish_claim(self, audience: str, due_at: datetime, worker: str, status: str) -> None: ...
    def open_claims(self) -> list[dict[str, Any]]: ...


def worker_id() -> str:
    """``host:pid``, as the claims and the logs name a worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Fleet:
    """One worker's side of the claims: claim, beat, take over, finish; and which runs must wait."""

    def __init__(
        self,
        store: ClaimStore,
        seeds: Callable[[str], Sequence[str]],
        *,
        lease: float = DEFAULT_LEASE_SECONDS,
        worker: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store, self.seeds, self.lease = store, seeds, lease
        self.worker, self.clock = worker or worker_id(), clock

    @property
    def poll(self) -> float:
        """How often a worker looks again at waiting runs and dead workers' claims."""
        return max(0.5, min(15.0, self.lease / 4))

    def blocked(self, name: str, queued: Sequence[Key], open_: Sequence[dict[str, Any]]) -> bool:
        """Whether ``name`` must wait: a source of it is still queued here, or claimed and not finished."""
        seeds = set(self.seeds(name))
        if not seeds:
            return False
        return any(n in seeds for n, _ in queued) or any(c["audience"] in seeds for c in open_)

    def next(self, queue: list[Key]) -> Key | None:
        """The run this worker takes now: the first due run it can claim (dropping those another worker
        claimed), else a dead worker's run; None when nothing can run yet.  ``queue`` is updated."""
        open_ = self.store.open_claims()
        for key in list(queue):
            name, due = key
            if self.blocked(name, [k for k in queue if k != key], open_):
                continue
            queue.remove(key)
            if self.store.claim_run(name, due, self.worker):
                return key
            log.info("%s (fire of %s) is claimed by another worker.", name, due.isoformat())
        stale_before = self.clock() - timedelta(seconds=self.lease)
        for c in open_:
            key = (c["audience"], _aware(c["due_at"]))
            beat = _aware(c["heartbeat_at"])
            if beat >= stale_before or self.blocked(key[0], queue, [o for o in open_ if o is not c]):
                continue
            if self.store.take_over_run(key[0], key[1], self.worker, stale_before):
                log.warning(
                    "%s: worker %s stopped beating at %s; this worker (%s) takes its run over.",
                    key[0],
                    c["worker"],
                    beat.isoformat(),
                    self.worker,
                )
                return key
        return None

    @contextmanager
    def running(self, key: Key) -> Iterator[Callable[[str], None]]:
        """Beat for ``key`` while the block runs; the block calls ``done(status)`` when the run finished
        (a run left without ``done``, e.g. interrupted, stays open for another worker to resume)."""
        stop = threading.Event()
        finished: list[str] = []

        def beat() -> None:
            while not stop.wait(self.lease / 4):
                try:
                    self.store.beat_runs([key], self.worker)
                except Exception:  # a blip of the state store: the next beat tries again
                    log.warning("could not renew the claim of %s; retrying", key[0], exc_info=True)

        t = threading.Thread(target=beat, name=f"fbsync-beat-{key[0]}", daemon=True)
        t.start()
        try:
            yield finished.append
        finally:
            stop.set()
            t.join()
            if finished:
                self.store.finish_claim(key[0], key[1], self.worker, finished[-1])


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def lookalike_sources(loaded: Any) -> Callable[[str], list[str]]:
    """For a YAML: the audiences of the file each audience must run after (a lookalike's source)."""
    by_name = {a.name: a for a in loaded.config.audiences}

    def seeds(name: str) -> list[str]:
        a = by_name.get(name)
        if a is None or a.lookalike is None or a.lookalike.source not in by_name:
            return []
        return [a.lookalike.source]

    return seeds
