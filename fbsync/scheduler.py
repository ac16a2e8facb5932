"""The weekly refresh in the foreground: ``fbsync schedule`` (see docs/scheduling.md).

* **Pure** — :class:`Timetable` knows each audience's cron in its time zone (APScheduler's
  ``CronTrigger``, DST-correct) and says, for a ``now`` it is given, which audiences are due: the
  fires an audience missed coalesce into one run; one missed while no scheduler ran is caught up at
  start-up only within the misfire grace (from the last run in the state store); audiences due at
  the same instant come out together and run in **one** sync call.
* **Thin** — :class:`Dispatcher` turns that into ``run_sync(names, stop)`` calls, one at a time,
  every exception logged; :func:`serve` hosts it on an APScheduler ``BackgroundScheduler`` (one
  worker thread; a wake-up job with ``coalesce``/``max_instances=1`` re-armed at the next due
  instant; a YAML reload job) until SIGTERM/SIGINT set the stop event; then exit 0.

Instants are UTC inside (aware datetimes of one zone compare without their DST fold), local outside.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from .config import LoadedConfig, effective, load_config
from .errors import FbsyncError
from .fleet import Fleet, lookalike_sources
from .signals import first_signal

log = logging.getLogger(__name__)

RunSync = Callable[[list[str], threading.Event], Any]
Clock = Callable[[], datetime]
DEFAULT_GRACE_SECONDS = 3600
RELOAD_EVERY_SECONDS = 60.0
_US = timedelta(microseconds=1)


def utc_now() -> datetime:
    """The real clock (tests pass their own)."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------- fire times (pure)


@dataclass(frozen=True)
class Entry:
    """One audience's schedule: its cron in its time zone."""

    name: str
    cron: str
    timezone: str
    trigger: BaseTrigger = field(compare=False, repr=False)


def entries(loaded: LoadedConfig) -> list[Entry]:
    """One entry per audience of the file, lookalikes included, in file order."""
    cfg = loaded.config
    out = []
    for a in cfg.audiences:
        eff = effective(cfg, a)
        trigger = CronTrigger.from_crontab(eff.schedule, timezone=ZoneInfo(eff.timezone))
        out.append(Entry(a.name, eff.schedule, eff.timezone, trigger))
    return out


def _repeated(fire: datetime, tz: Any) -> bool:
    """True for the second occurrence of a local time that happens twice (the autumn DST hour)."""
    local = fire.astimezone(UTC).astimezone(tz)
    return bool(local.fold) and local.replace(fold=0).utcoffset() != local.utcoffset()


def next_fire(trigger: BaseTrigger, after: datetime) -> datetime | None:
    """The first fire time strictly after ``after``, in UTC.

    A local time that happens twice (02:30 on the night clocks go back) fires once,
    like cron; one that does not happen (02:30 when they go forward) fires an hour later.
    """
    t = after.astimezone(UTC)
    tz = getattr(trigger, "timezone", UTC)
    while True:
        fire = trigger.get_next_fire_time(None, t + _US)
        if fire is None:
            return None
        t = fire.astimezone(UTC)
        if not _repeated(t, tz):
            return t


def upcoming(trigger: BaseTrigger, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` fire times after ``after``, in UTC."""
    out: list[datetime] = []
    while len(out) < count and (t := next_fire(trigger, out[-1] if out else after)) is not None:
        out.append(t)
    return out


def latest_fire(trigger: BaseTrigger, start: datetime, end: datetime) -> datetime | None:
    """The last fire time in ``[start, end]`` (UTC), or None."""
    last, fire = None, next_fire(trigger, start - _US)
    while fire is not None and fire <= end:
        last, fire = fire, next_fire(trigger, fire)
    return last


def missed_at_startup(
    trigger: BaseTrigger, last_run: datetime | None, now: datetime, grace: timedelta
) -> datetime | None:
    """The fire to catch up at start-up: the latest within the grace period that no recorded run served."""
    start = now - grace
    if last_run is not None:
        start = max(start, last_run.astimezone(UTC) + _US)
    return latest_fire(trigger, start, now)


# --------------------------------------------------------------------------- timetable (pure), --list


class Timetable:
    """Which audiences are due when.  Pure: every method is given the time.

    ``last_runs`` maps an audience to when its last run started (None: never);
    without it (no state store) nothing is caught up at start-up.
    """

    def __init__(
        self,
        schedule: Sequence[Entry],
        now: datetime,
        *,
        grace: timedelta,
        last_runs: Mapping[str, datetime | None] | None = None,
    ) -> None:
        self.grace, now = grace, now.astimezone(UTC)
        self.entries: dict[str, Entry] = {e.name: e for e in schedule}
        self.catch_up: dict[str, datetime] = {}
        if last_runs is not None:
            missed = {e.name: missed_at_startup(e.trigger, last_runs.get(e.name), now, grace) for e in schedule}
            self.catch_up = {n: t for n, t in missed.items() if t is not None}
        self.due: dict[str, datetime | None] = {
            e.name: self.catch_up.get(e.name) or next_fire(e.trigger, now) for e in schedule
        }
        #: The cron fire each audience last taken was due for (the key under which workers claim its run).
        self.fires: dict[str, datetime] = {}

    def next_wakeup(self) -> datetime | None:
        """The earliest instant an audience is due (may be in the past: due now)."""
        return min((d for d in self.due.values() if d is not None), default=None)

    def take_due(self, now: datetime, *, busy_since: datetime | None = None) -> list[str]:
        """The audiences to run at ``now`` (file order), each moved on to its first fire after ``now``.

        All the fires an audience missed coalesce into this one run.  It runs if its latest missed
        fire is within the grace period, or came while a run was in progress (since ``busy_since``):
        queueing behind a long sync is not a misfire.  Otherwise it waits for its next fire.
        """
        now = now.astimezone(UTC)
        lo = now - self.grace if busy_since is None else min(now - self.grace, busy_since.astimezone(UTC))
        names = []
        for name, e in self.entries.items():
            due = self.due[name]
            if due is None or due > now:
                continue
            self.due[name] = next_fire(e.trigger, now)
            caught = self.catch_up.pop(name, None)
            fire = latest_fire(e.trigger, max(due, lo), now)
            if caught is not None or fire is not None:
                self.fires[name] = caught or fire or due
                names.append(name)
            else:
                log.warning(
                    "audience %s missed its run of %s by more than the %s grace period; next run %s.",
                    name,
                    _local(due, e),
                    self.grace,
                    _local(self.due[name], e),
                )
        return names

    def replace(self, schedule: Sequence[Entry], now: datetime) -> None:
        """A new config: unchanged schedules keep their due time; new or changed ones start after ``now``."""
        old, self.entries = self.entries, {e.name: e for e in schedule}
        kept = {n for n, e in self.entries.items() if n in old and old[n] == e}  # same name, cron and zone
        self.due = {n: self.due[n] if n in kept else next_fire(e.trigger, now) for n, e in self.entries.items()}
        self.catch_up = {n: t for n, t in self.catch_up.items() if n in kept}


def _local(t: datetime | None, e: Entry) -> str:
    return t.astimezone(ZoneInfo(e.timezone)).isoformat() if t else "never"


def next_runs(loaded: LoadedConfig, now: datetime | None = None, count: int = 3) -> list[dict[str, Any]]:
    """Each audience's next run(s), ISO 8601 in its own time zone (``fbsync schedule --list [--json]``)."""
    now = (now or utc_now()).astimezone(UTC)
    rows = []
    for e in entries(loaded):
        fires = [t.astimezone(ZoneInfo(e.timezone)).isoformat() for t in upcoming(e.trigger, now, count)]
        rows.append(
            {
                "name": e.name,
                "cron": e.cron,
                "timezone": e.timezone,
                "next_run": fires[0] if fires else None,
                "upcoming": fires,
            }
        )
    return rows


def format_next_runs(rows: Sequence[Mapping[str, Any]]) -> str:
    """A plain table of :func:`next_runs` for a terminal."""
    head = ("audience", "schedule", "timezone", "next run")
    body = [(r["name"], r["cron"], r["timezone"], r["next_run"] or "never") for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line("-" * w for w in widths), *(line(b) for b in body)])


# --------------------------------------------------------------------------- state store, YAML, dispatcher


def last_runs(store: Any, names: Sequence[str]) -> dict[str, datetime | None]:
    """When each audience's last recorded run started; an interrupted one does not count."""
    out: dict[str, datetime | None] = {}
    for name in names:
        row = store.last_audience_run(name)
        out[name] = row.started_at if row is not None and row.status != "interrupted" else None
    return out


class ConfigWatcher:
    """Tells when the YAML file changed (mtime/size, then SHA-256) and loads the new version."""

    def __init__(self, loaded: LoadedConfig, env: dict[str, str] | None = None) -> None:
        self.loaded, self.env = loaded, env
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.loaded.path)
            return st.st_mtime_ns, st.st_size
        except OSError:
            return None

    def changed(self) -> LoadedConfig | None:
        """The new config when the file's content changed and is valid; a broken file is logged once and kept out."""
        stamp = self._stat()
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            new = load_config(self.loaded.path, env=self.env)
        except FbsyncError as exc:
            log.error("%s changed but cannot be used; the schedule stays as it was: %s", self.loaded.path, exc)
            return None
        if new.digest == self.loaded.digest:
            return None
        self.loaded = new
        return new


class Dispatcher:
    """Runs what the timetable says is due: one ``run_sync`` call per group, one at a time."""

    def __init__(
        self,
        timetable: Timetable,
        run_sync: RunSync,
        *,
        stop: threading.Event,
        clock: Clock = utc_now,
        watcher: ConfigWatcher | None = None,
        fleet: Fleet | None = None,
    ) -> None:
        self.timetable, self.run_sync, self.stop = timetable, run_sync, stop
        self.clock, self.watcher = clock, watcher
        self.fleet = fleet  # several workers on one PostgreSQL state store: due runs are claimed (fleet.py)
        self.queue: list[tuple[str, datetime]] = []  # due runs this worker has not claimed or dropped yet

    def check_reload(self) -> bool:
        """Rebuild the timetable when the YAML changed; True when it did."""
        new = self.watcher.changed() if self.watcher else None
        if new is None:
            return False
        self.timetable.replace(entries(new), self.clock())
        if self.fleet is not None:
            self.fleet.seeds = lookalike_sources(new)
        log.info("%s changed: schedule reloaded (%d audiences).", new.path, len(self.timetable.entries))
        return True

    def tick(self) -> None:
        """Run every group due now; audiences that come due during a run follow it at once, coalesced."""
        self.check_reload()
        if self.fleet is not None:
            return self._tick_claimed(self.fleet)
        busy_since: datetime | None = None
        while not self.stop.is_set():
            now = self.clock()
            names = self.timetable.take_due(now, busy_since=busy_since)
            if not names:
                return
            busy_since = now
            self._run(names)

    def _tick_claimed(self, fleet: Fleet) -> None:
        """As a worker of several: claim the due runs one audience at a time (others claim the rest), then
        take over dead workers' runs; what must wait (a lookalike whose source runs elsewhere) waits."""
        busy_since: datetime | None = None
        while not self.stop.is_set():
            now = self.clock()
            self.queue += [(n, self.timetable.fires[n]) for n in self.timetable.take_due(now, busy_since=busy_since)]
            key = fleet.next(self.queue)
            if key is None:
                return
            busy_since = now
            with fleet.running(key) as done:
                result = self._run([key[0]])
                if result is not None and getattr(result, "status", None) != "interrupted":
                    done(str(getattr(result, "exit_code", 0)))
                elif result is None and not self.stop.is_set():
                    done("error")

    def pending(self) -> bool:
        """Whether due runs wait for another worker (the wake-up then comes back after ``fleet.poll``)."""
        return bool(self.queue)

    def _run(self, names: list[str]) -> Any:
        log.info("scheduled sync of %s starts.", ", ".join(names))
        try:
            result = self.run_sync(list(names), self.stop)
        except FbsyncError as exc:
            log.error("scheduled sync of %s failed: %s", ", ".join(names), exc)
        except Exception:
            log.exception("scheduled sync of %s failed unexpectedly; the scheduler goes on.", ", ".join(names))
        else:
            code = getattr(result, "exit_code", 0)
            log.log(
                logging.WARNING if code else logging.INFO,
                "scheduled sync of %s finished (exit code %s).",
                ", ".join(names),
                code,
            )
            return result
        return None


# --------------------------------------------------------------------------- APScheduler adapter


class _Service:
    """A BackgroundScheduler with one worker thread and one job, re-armed after each wake-up.

    The job wakes at the timetable's next due instant, and at least every ``reload_every`` seconds
    when the YAML is watched (a tick first reloads a changed file); it never overlaps itself.
    """

    WAKEUP = "fbsync-wakeup"

    def __init__(self, dispatcher: Dispatcher, reload_every: float) -> None:
        self.d, self.reload_every = dispatcher, reload_every
        self._seq, self._running = 0, ""
        self._lock, self._closed = threading.Lock(), False
        self.sched = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> None:
        self._arm()
        self.sched.start()

    def _arm(self) -> None:
        """(Re)schedule the wake-up job (at once when the next due instant is past)."""
        with self._lock:
            if not self._closed:
                self._arm_locked()

    def _arm_locked(self) -> None:
        when = self.d.timetable.next_wakeup()
        if self.d.watcher is not None:
            soon = self.d.clock() + timedelta(seconds=self.reload_every)
            when = min(when, soon) if when else soon
        if self.d.fleet is not None:  # waiting runs and dead workers' claims are looked at every poll
            soon = self.d.clock() + timedelta(seconds=self.d.fleet.poll)
            when = min(when, soon) if when else soon
        if self.d.stop.is_set() or when is None:
            return
        # A fresh id per wake-up: APScheduler removes a fired date job itself, so re-using one id from
        # inside the running job raced with that removal (JobLookupError, or the new wake-up removed).
        self._seq += 1
        job_id = f"{self.WAKEUP}-{self._seq}"
        for job in self.sched.get_jobs():
            if job.id.startswith(self.WAKEUP) and job.id != self._running:
                try:
                    job.remove()
                except JobLookupError:
                    pass
        self.sched.add_job(self._wake, DateTrigger(run_date=when), args=[job_id], id=job_id)

    def _wake(self, job_id: str = "") -> None:
        self._running = job_id
        try:
            self.d.tick()
        except Exception:
            log.exception("the scheduler's wake-up failed; it goes on.")
        finally:
            self._arm()

    def shutdown(self) -> None:
        """Wait for the job in flight (the sync stops between batches once ``stop`` is set).

        The wake-up jobs are removed first, while the scheduler still runs: APScheduler marks
        itself stopped before taking its lock, and a date job it fired just then was looked
        up among the pending jobs instead of its store (JobLookupError in its thread).
        """
        with self._lock:
            self._closed = True  # no wake-up is added from here on
            if self.sched.running:
                self.sched.remove_all_jobs()
        if self.sched.running:
            self.sched.shutdown(wait=True)


def serve(dispatcher: Dispatcher, *, reload_every: float = RELOAD_EVERY_SECONDS) -> int:
    """Run the dispatcher on APScheduler until the stop event is set or a signal comes; return 0."""
    stop = dispatcher.stop
    service = _Service(dispatcher, reload_every)
    with first_signal() as received:  # the loop below sees it; a second signal acts as by default
        try:
            service.start()
            while not stop.is_set() and not received:
                stop.wait(0.2)
            if received:
                log.warning(
                    "%s received: finishing the batches in flight, then stopping.", signal.Signals(received[0]).name
                )
        finally:
            stop.set()
            service.shutdown()
    log.info("scheduler stopped.")
    return 0


def run_scheduler(
    loaded: LoadedConfig,
    run_sync: RunSync,
    *,
    store: Any = None,
    misfire_grace_seconds: float = DEFAULT_GRACE_SECONDS,
    stop: threading.Event | None = None,
    reload: bool = True,
    reload_every: float = RELOAD_EVERY_SECONDS,
    env: dict[str, str] | None = None,
    fleet: Fleet | None = None,
) -> int:
    """Run the weekly refresh in the foreground until SIGTERM/SIGINT or ``stop``; return the exit code (0).

    ``store`` (a :class:`~fbsync.state.store.StateStore`) gives the last runs: a run missed while no scheduler
    ran is caught up at start-up within ``misfire_grace_seconds``.  ``reload`` rebuilds the jobs when
    the YAML changes (checked every ``reload_every`` s and before each run; ``env`` goes to load_config).
    """
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # our own log says what runs and why
    stop = stop or threading.Event()
    schedule = entries(loaded)
    history = last_runs(store, [e.name for e in schedule]) if store is not None else None
    now = utc_now()
    timetable = Timetable(schedule, now, grace=timedelta(seconds=misfire_grace_seconds), last_runs=history)
    for e in schedule:
        if e.name in timetable.catch_up:
            log.warning(
                "audience %s missed its run of %s while no scheduler ran; running it now.",
                e.name,
                _local(timetable.catch_up[e.name], e),
            )
        log.info("audience %s: %s (%s), next run %s.", e.name, e.cron, e.timezone, _local(next_fire(e.trigger, now), e))
    watcher = ConfigWatcher(loaded, env) if reload else None
    if fleet is not None:
        log.info("worker %s: due runs are claimed on the shared state store (lease %gs).", fleet.worker, fleet.lease)
    dispatcher = Dispatcher(timetable, run_sync, stop=stop, watcher=watcher, fleet=fleet)
    return serve(dispatcher, reload_every=reload_every)
