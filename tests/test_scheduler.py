"""The scheduler: fire times across DST, coalescing, misfire grace, a simulated month on a fake clock,
YAML reload, and the real APScheduler adapter (a job within a second, SIGTERM in a subprocess)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from fbsync.config import LoadedConfig, load_config
from fbsync.errors import AudienceError
from fbsync.scheduler import (
    ConfigWatcher,
    Dispatcher,
    Entry,
    Timetable,
    entries,
    format_next_runs,
    last_runs,
    next_runs,
    run_scheduler,
    serve,
    upcoming,
    utc_now,
)
from fbsync.state.store import StateStore

PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)
YAML = """\
version: 1
audiences:
  - {name: a, query: "SELECT e FROM t", keys: {EMAIL: e}}
  - {name: b, query: "SELECT e FROM t", keys: {EMAIL: e}}
  - {name: c, query: "SELECT e FROM t", keys: {EMAIL: e}, schedule: "0 6 * * *"}
  - {name: d, query: "SELECT e FROM t", keys: {EMAIL: e}, schedule: "30 9 1 * *", timezone: America/New_York}
  - name: lal
    lookalike: {source: a, countries: [FR], ratios: [0.01]}
"""


def write_config(folder: Path, text: str = YAML) -> LoadedConfig:
    path = folder / "audiences.yaml"
    path.write_text(text)
    return load_config(path, env={})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def entry(name: str, cron: str, tz: str = "UTC") -> Entry:
    return Entry(name, cron, tz, CronTrigger.from_crontab(cron, timezone=ZoneInfo(tz)))


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Recorder:
    """A fake run_sync: records (time, names), takes ``duration`` of fake time, may fail on chosen calls."""

    def __init__(
        self,
        clock: FakeClock,
        duration: timedelta | Callable[[list[str]], timedelta] = timedelta(minutes=5),
        failures: dict[int, Exception] | None = None,
    ) -> None:
        self.clock, self.duration, self.failures = clock, duration, failures or {}
        self.calls: list[tuple[datetime, list[str]]] = []

    def __call__(self, names: list[str], stop: threading.Event) -> None:
        self.calls.append((self.clock.now, names))
        self.clock.now += self.duration(names) if callable(self.duration) else self.duration
        if len(self.calls) in self.failures:
            raise self.failures[len(self.calls)]


def simulate(d: Dispatcher, clock: FakeClock, end: datetime) -> None:
    """What APScheduler does in real time: wake at the timetable's next instant and tick."""
    while (t := d.timetable.next_wakeup()) is not None and t < end:
        clock.now = max(clock.now, t)
        d.tick()


# --------------------------------------------------------------------------- fire times, --list


def test_next_runs_are_monday_6am_paris_across_both_dst_changes(tmp_path: Path) -> None:
    loaded = write_config(tmp_path)
    spring = {r["name"]: r for r in next_runs(loaded, utc(2025, 3, 24, 6))}  # Monday 07:00 CET
    assert spring["a"]["next_run"] == "2025-03-31T06:00:00+02:00"  # DST began on the 30th
    assert spring["a"]["upcoming"][:2] == ["2025-03-31T06:00:00+02:00", "2025-04-07T06:00:00+02:00"]
    assert spring["a"]["cron"] == "0 6 * * MON" and spring["a"]["timezone"] == "Europe/Paris"
    assert spring["lal"]["next_run"] == spring["a"]["next_run"]  # lookalikes are scheduled too
    assert spring["c"]["next_run"] == "2025-03-25T06:00:00+01:00"
    assert spring["d"]["next_run"] == "2025-04-01T09:30:00-04:00"
    autumn = {r["name"]: r for r in next_runs(loaded, utc(2025, 10, 20, 5))}  # Monday 07:00 CEST
    assert autumn["a"]["next_run"] == "2025-10-27T06:00:00+01:00"  # DST ended on the 26th
    assert datetime.fromisoformat(autumn["a"]["next_run"]) == utc(2025, 10, 27, 5)
    json.dumps(next_runs(loaded))
    table = format_next_runs(next_runs(loaded, utc(2025, 3, 24, 6)))
    assert table.splitlines()[0].split() == ["audience", "schedule", "timezone", "next", "run"]
    assert "lal" in table and "America/New_York" in table


def test_a_local_time_that_happens_twice_runs_once_and_a_skipped_one_an_hour_later() -> None:
    trig = entry("x", "30 2 * * *", "Europe/Paris").trigger
    autumn = [t.astimezone(PARIS).isoformat() for t in upcoming(trig, utc(2025, 10, 25, 12), 2)]
    assert autumn == ["2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00"]
    spring = upcoming(trig, utc(2025, 3, 29, 12), 2)
    assert spring == [utc(2025, 3, 30, 1, 30), utc(2025, 3, 31, 0, 30)]  # 03:30 CEST, then 02:30 CEST


# --------------------------------------------------------------------------- coalescing and misfire grace


def test_several_missed_runs_coalesce_into_one() -> None:
    tt = Timetable([entry("h", "0 * * * *")], utc(2025, 3, 3, 6, 30), grace=HOUR)
    assert tt.next_wakeup() == utc(2025, 3, 3, 7)
    assert tt.take_due(utc(2025, 3, 3, 10, 30)) == ["h"]  # 07:00, 08:00, 09:00, 10:00 → one run
    assert tt.next_wakeup() == utc(2025, 3, 3, 11)
    assert tt.take_due(utc(2025, 3, 3, 10, 31)) == []


WEEKLY = entry("a", "0 6 * * MON", "Europe/Paris")
FIRE = utc(2025, 3, 24, 5)  # Monday 24 March 06:00 CET


def test_a_run_missed_30_minutes_ago_runs_at_start_up() -> None:
    last = {"a": utc(2025, 3, 17, 5, 0, 10)}  # the previous Monday's run
    tt = Timetable([WEEKLY], FIRE + timedelta(minutes=30), grace=HOUR, last_runs=last)
    assert tt.catch_up == {"a": FIRE} and tt.next_wakeup() == FIRE
    assert tt.take_due(FIRE + timedelta(minutes=30, seconds=1)) == ["a"]
    assert tt.next_wakeup() == utc(2025, 3, 31, 4)  # then the next Monday (CEST)


def test_a_run_missed_two_days_ago_waits_for_the_next_one_with_a_1h_grace() -> None:
    tt = Timetable([WEEKLY], FIRE + timedelta(days=2), grace=HOUR, last_runs={"a": utc(2025, 3, 17, 5)})
    assert tt.catch_up == {} and tt.next_wakeup() == utc(2025, 3, 31, 4)


def test_start_up_catch_up_needs_a_missed_run() -> None:
    served = Timetable([WEEKLY], FIRE + timedelta(minutes=30), grace=HOUR, last_runs={"a": FIRE + timedelta(seconds=1)})
    assert served.catch_up == {}  # that fire already ran
    never = Timetable([WEEKLY], FIRE + timedelta(minutes=30), grace=HOUR, last_runs={})
    assert never.catch_up == {"a": FIRE}  # never ran: catch up
    unknown = Timetable([WEEKLY], FIRE + timedelta(minutes=30), grace=HOUR)
    assert unknown.catch_up == {}  # no state store: nothing is known


def test_a_fire_missed_while_suspended_beyond_the_grace_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    tt = Timetable([WEEKLY], FIRE - HOUR, grace=HOUR)
    with caplog.at_level(logging.WARNING, "fbsync.scheduler"):
        assert tt.take_due(FIRE + timedelta(days=2)) == []
    assert "audience a missed its run of 2025-03-24T06:00:00+01:00" in caplog.text
    assert tt.next_wakeup() == utc(2025, 3, 31, 4)


def test_last_runs_come_from_the_state_store(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path)
    try:
        run = store.start_run("sync", None)
        store.record_audience_run(run, "a", status="ok")
        store.record_audience_run(run, "b", status="interrupted")
        store.finish_run(run, "partial")
        got = last_runs(store, ["a", "b", "c"])
    finally:
        store.engine.dispose()
    assert got["b"] is None and got["c"] is None
    assert got["a"] is not None and got["a"].tzinfo is not None and abs(utc_now() - got["a"]) < timedelta(minutes=1)


# --------------------------------------------------------------------------- simulated time


def test_a_simulated_month_runs_each_group_once_at_its_instant(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start, end = utc(2025, 3, 1), utc(2025, 4, 1)
    clock = FakeClock(start)
    run = Recorder(clock, failures={2: RuntimeError("boom"), 4: AudienceError("CRM down")})
    tt = Timetable(entries(write_config(tmp_path)), start, grace=HOUR)
    with caplog.at_level(logging.INFO, "fbsync.scheduler"):
        simulate(Dispatcher(tt, run, stop=threading.Event(), clock=clock), clock, end)

    expected = [(datetime(2025, 3, 1, 9, 30, tzinfo=NEW_YORK).astimezone(UTC), ["d"])]
    for day in range(1, 32):
        at = datetime(2025, 3, day, 6, tzinfo=PARIS)
        expected.append((at.astimezone(UTC), ["a", "b", "c", "lal"] if at.weekday() == 0 else ["c"]))
    expected.sort()
    assert run.calls == expected  # 32 calls; Mondays in one call; DST on the 30th
    assert run.calls[-1][0] == utc(2025, 3, 31, 4)
    assert "scheduled sync of d failed unexpectedly" in caplog.text  # calls 2 and 4 raised …
    assert "scheduled sync of a, b, c, lal failed: CRM down" in caplog.text
    assert len(run.calls) == 32  # … and the scheduler went on


def test_fires_during_a_long_run_follow_it_as_one_call() -> None:
    clock = FakeClock(utc(2025, 3, 3, 5))
    run = Recorder(
        clock, duration=lambda names: timedelta(hours=3, minutes=5) if "long" in names else timedelta(minutes=1)
    )
    tt = Timetable([entry("long", "0 6 * * *"), entry("hourly", "0 * * * *")], clock.now, grace=timedelta(seconds=60))
    simulate(Dispatcher(tt, run, stop=threading.Event(), clock=clock), clock, utc(2025, 3, 3, 10, 30))
    assert run.calls == [
        (utc(2025, 3, 3, 6), ["long", "hourly"]),
        (utc(2025, 3, 3, 9, 5), ["hourly"]),  # 07:00, 08:00 and 09:00 queued behind it
        (utc(2025, 3, 3, 10), ["hourly"]),
    ]


def test_a_set_stop_event_runs_nothing_more() -> None:
    clock = FakeClock(utc(2025, 3, 3, 5))
    stop = threading.Event()
    run = Recorder(clock)
    tt = Timetable([entry("x", "0 6 * * *")], clock.now, grace=HOUR)
    stop.set()
    clock.now = utc(2025, 3, 3, 6)
    Dispatcher(tt, run, stop=stop, clock=clock).tick()
    assert run.calls == []


# --------------------------------------------------------------------------- YAML reload


def test_yaml_changes_rebuild_the_jobs_and_a_broken_file_is_kept_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = write_config(tmp_path)
    clock = FakeClock(utc(2025, 3, 24, 6))  # Monday 07:00 CET
    tt = Timetable(entries(loaded), clock.now, grace=HOUR)
    d = Dispatcher(tt, Recorder(clock), stop=threading.Event(), clock=clock, watcher=ConfigWatcher(loaded, env={}))
    assert not d.check_reload()

    def rewrite(text: str, bump: int) -> None:
        loaded.path.write_text(text)
        os.utime(loaded.path, ns=(time.time_ns() + bump, time.time_ns() + bump))

    rewrite(YAML, 10**9)  # touched, same content: nothing to do
    assert not d.check_reload()
    new = (
        YAML.replace('schedule: "0 6 * * *"', 'schedule: "0 7 * * *"')
        + '  - {name: e, query: "SELECT e FROM t", keys: {EMAIL: e}, schedule: "0 8 * * *"}\n'
    )
    rewrite(new, 2 * 10**9)
    assert d.check_reload()
    assert list(tt.entries) == ["a", "b", "c", "d", "lal", "e"]
    assert tt.due["c"] == utc(2025, 3, 25, 6) and tt.due["e"] == utc(2025, 3, 24, 7)  # 08:00 CET today
    assert tt.due["a"] == utc(2025, 3, 31, 4)  # unchanged schedule keeps its due time
    with caplog.at_level(logging.ERROR, "fbsync.scheduler"):
        rewrite("version: 1\naudiences: [", 3 * 10**9)
        assert not d.check_reload()
    assert "cannot be used; the schedule stays as it was" in caplog.text
    assert "e" in tt.entries


# --------------------------------------------------------------------------- the real APScheduler adapter


def test_apscheduler_fires_a_job_within_a_second_and_survives_a_failing_run() -> None:
    stop = threading.Event()
    calls: list[float] = []

    def run_sync(names: list[str], ev: threading.Event) -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("first run fails")
        stop.set()

    every_second = Entry("x", "every second", "UTC", CronTrigger(second="*", timezone=UTC))
    t0 = time.monotonic()
    assert serve(Dispatcher(Timetable([every_second], utc_now(), grace=HOUR), run_sync, stop=stop)) == 0
    assert len(calls) == 2 and calls[0] - t0 < 1.5 and time.monotonic() - t0 < 5


def only_c_every_minute() -> str:
    """YAML where c runs every minute and the other audiences' default schedule is 12 hours away from now (the
    default, Monday 06:00 Paris, would be caught up too when a test runs within an hour after it)."""
    far = (datetime.now(UTC).hour + 12) % 24
    return YAML.replace('schedule: "0 6 * * *"', 'schedule: "* * * * *"').replace(
        "audiences:\n", f'defaults: {{schedule: "0 {far} * * *", timezone: UTC}}\naudiences:\n', 1
    )


def test_run_scheduler_catches_up_a_missed_run_from_the_store_then_stops(tmp_path: Path) -> None:
    loaded = write_config(tmp_path, only_c_every_minute())
    store = StateStore.open(tmp_path / "state")
    stop = threading.Event()
    got: list[list[str]] = []

    def run_sync(names: list[str], ev: threading.Event) -> None:
        got.append(names)
        ev.set()

    t0 = time.monotonic()
    try:
        assert run_scheduler(loaded, run_sync, store=store, stop=stop, env={}) == 0
    finally:
        store.engine.dispose()
    assert got == [["c"]] and time.monotonic() - t0 < 5


def test_stopping_right_after_a_wake_up_raises_nothing_in_apscheduler_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sync stops the scheduler from inside the first wake-up, so shutdown races with APScheduler
    # removing the date job it just fired; that used to fail ~1 time in 100 with JobLookupError in
    # APScheduler's thread. 40 rounds here (400 in a row passed when the fix went in).
    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    loaded = write_config(tmp_path, YAML.replace('schedule: "0 6 * * *"', 'schedule: "* * * * *"'))
    quiet, level = logging.getLogger("fbsync"), logging.getLogger("fbsync").level
    quiet.setLevel(logging.ERROR)  # 40 "missed its run" warnings say nothing here
    try:
        for round_ in range(40):
            store = StateStore.open(tmp_path / f"state{round_}")
            try:
                assert (
                    run_scheduler(loaded, lambda names, ev: ev.set(), store=store, stop=threading.Event(), env={}) == 0
                )
            finally:
                store.engine.dispose()
    finally:
        quiet.setLevel(level)
    assert errors == []


SIGTERM_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from fbsync.config import load_config
    from fbsync.scheduler import run_scheduler
    from fbsync.state.store import StateStore

    out = Path(sys.argv[2])

    def run_sync(names, stop):
        out.write_text("started " + ",".join(names) + "\\n")
        seen = stop.wait(20)                      # a batch in flight that checks the stop event
        with out.open("a") as f:
            f.write(f"stop seen {seen}\\n")

    code = run_scheduler(load_config(sys.argv[1], env={}), run_sync, store=StateStore.open(Path(sys.argv[3])),
                         env={})
    with out.open("a") as f:
        f.write(f"exit {code}\\n")
    sys.exit(code)
""")


def test_sigterm_sets_the_stop_event_lets_the_run_finish_and_exits_0(tmp_path: Path) -> None:
    loaded = write_config(tmp_path, only_c_every_minute())
    out = tmp_path / "out.txt"
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_SCRIPT, str(loaded.path), str(out), str(tmp_path / "st")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not (out.exists() and out.read_text().startswith("started")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0]
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert out.read_text().splitlines() == ["started c", "stop seen True", "exit 0"]


def test_a_changed_yaml_is_picked_up_while_the_scheduler_runs(tmp_path: Path) -> None:
    loaded = write_config(tmp_path)
    stop = threading.Event()
    d = Dispatcher(
        Timetable(entries(loaded), utc_now(), grace=HOUR),
        lambda names, ev: None,
        stop=stop,
        watcher=ConfigWatcher(loaded, env={}),
    )

    def edit_then_stop() -> None:
        time.sleep(0.3)
        loaded.path.write_text(YAML + '  - {name: e, query: "SELECT e FROM t", keys: {EMAIL: e}}\n')
        deadline = time.monotonic() + 5
        while "e" not in d.timetable.entries and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=edit_then_stop).start()
    assert serve(d, reload_every=0.2) == 0
    assert "e" in d.timetable.entries
