"""Several ``fbsync schedule`` workers on one PostgreSQL state store: each due run claimed once, the work
spread, a killed worker's run taken over within the lease, lookalikes after their seeds.  First the
claim logic against an in-memory store, then three real worker processes with one killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from e2e_helpers import TOKEN, admin, configure, expected_rows, make_workdir

from fbsync.fleet import Fleet

T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)


class MemoryClaims:
    """The claim table's rules, in memory (the PostgreSQL one is exercised end to end below)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, datetime], dict[str, Any]] = {}
        self.now = T0

    def claim_run(self, audience: str, due_at: datetime, worker: str) -> bool:
        if (audience, due_at) in self.rows:
            return False
        self.rows[(audience, due_at)] = dict(
            audience=audience, due_at=due_at, worker=worker, heartbeat_at=self.now, finished_at=None, takeovers=0
        )
        return True

    def take_over_run(self, audience: str, due_at: datetime, worker: str, stale_before: datetime) -> bool:
        r = self.rows.get((audience, due_at))
        if r is None or r["finished_at"] is not None or r["heartbeat_at"] >= stale_before:
            return False
        r.update(worker=worker, heartbeat_at=self.now, takeovers=r["takeovers"] + 1)
        return True

    def beat_runs(self, keys: Any, worker: str) -> None:
        for k in keys:
            if self.rows[k]["worker"] == worker:
                self.rows[k]["heartbeat_at"] = self.now

    def finish_claim(self, audience: str, due_at: datetime, worker: str, status: str) -> None:
        r = self.rows[(audience, due_at)]
        if r["worker"] == worker:
            r.update(finished_at=self.now, status=status)

    def open_claims(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows.values() if r["finished_at"] is None]


def fleet(store: MemoryClaims, worker: str, lease: float = 60) -> Fleet:
    return Fleet(
        store, lambda n: ["vip"] if n == "lal_vip" else [], lease=lease, worker=worker, clock=lambda: store.now
    )


def test_each_due_run_is_claimed_once_and_the_round_spreads() -> None:
    store = MemoryClaims()
    a, b = fleet(store, "a"), fleet(store, "b")
    qa = [("vip", T0), ("everyone", T0), ("recent", T0)]
    qb = list(qa)
    assert a.next(qa) == ("vip", T0)  # one at a time: a takes the first
    assert b.next(qb) == ("everyone", T0)  # b drops vip (a has it) and takes the next
    assert qb == [("recent", T0)] and qa == [("everyone", T0), ("recent", T0)]
    assert a.next(qa) == ("recent", T0) and qa == []  # everyone was b's: dropped
    assert b.next(qb) is None and qb == []
    assert sorted(store.rows) == [("everyone", T0), ("recent", T0), ("vip", T0)]


def test_a_lookalike_waits_for_its_seed_wherever_it_runs() -> None:
    store = MemoryClaims()
    a, b = fleet(store, "a"), fleet(store, "b")
    qa = [("vip", T0), ("lal_vip", T0)]
    qb = list(qa)
    assert a.next(qa) == ("vip", T0)
    assert b.next(qb) is None and qb == [("lal_vip", T0)]  # vip runs on a: lal_vip waits, still queued
    store.finish_claim("vip", T0, "a", "0")
    assert b.next(qb) == ("lal_vip", T0)
    # a queued seed blocks too, before anybody claimed it
    q = [("lal_vip", T0 + timedelta(days=7)), ("vip", T0 + timedelta(days=7))]
    assert fleet(store, "c").next(q) == ("vip", T0 + timedelta(days=7))


def test_a_dead_workers_run_is_taken_over_after_the_lease_only() -> None:
    store = MemoryClaims()
    a, b = fleet(store, "a", lease=10), fleet(store, "b", lease=10)
    assert a.next([("vip", T0)]) == ("vip", T0)
    store.now += timedelta(seconds=9)
    assert b.next([]) is None  # a's claim is still fresh
    store.beat_runs([("vip", T0)], "a")
    store.now += timedelta(seconds=9)
    assert b.next([]) is None  # a beat: alive
    store.now += timedelta(seconds=2)  # 11 s without a beat: a is dead
    assert b.next([]) == ("vip", T0)
    assert store.rows[("vip", T0)]["worker"] == "b" and store.rows[("vip", T0)]["takeovers"] == 1
    store.finish_claim("vip", T0, "a", "0")  # a late finish from the dead worker does not count
    assert store.rows[("vip", T0)]["finished_at"] is None


def test_running_beats_and_finishes_the_claim() -> None:
    store = MemoryClaims()
    w = fleet(store, "a", lease=0.2)
    key = w.next([("vip", T0)])
    assert key is not None
    with w.running(key) as done:
        store.now += timedelta(seconds=1)
        time.sleep(0.3)  # at least one beat (every lease / 4)
        assert store.rows[key]["heartbeat_at"] == store.now
        done("0")
    assert store.rows[key]["finished_at"] == store.now and store.rows[key]["status"] == "0"
    with w.running(("x", T0)) if store.claim_run("x", T0, "a") else pytest.fail("claim"):
        pass  # no done(): an interrupted run stays open for another worker
    assert store.rows[("x", T0)]["finished_at"] is None


# -- three worker processes on PostgreSQL, one killed ---------------------------------------------------


@pytest.fixture
def pg_state(pg_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for the state store, dropped afterwards."""
    name = f"fbsync_workers_{uuid.uuid4().hex[:8]}"
    admin_engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as c:
        c.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield pg_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin_engine.connect() as c:
            c.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin_engine.dispose()


AUDIENCES = 8


def workers_yaml(fire: datetime) -> str:
    lines = [
        "version: 1",
        "ad_account_id: act_1234567890",
        'crm: {url: "sqlite:///demo/crm.db"}',
        f'defaults: {{default_country: FR, consent: consent, schedule: "{fire.minute} {fire.hour} * * *", '
        "timezone: UTC}",
        "audiences:",
    ]
    for k in range(AUDIENCES):
        lines += [
            f"  - name: part_{k}",
            f'    query: "SELECT email, phone, consent FROM customers WHERE id % {AUDIENCES} = {k}"',
            "    keys: {EMAIL: email, PHONE: phone}",
        ]
    lines += ["  - name: lal_part_0", "    lookalike: {source: part_0, countries: [FR], ratios: [0.01]}"]
    return "\n".join(lines) + "\n"


@pytest.mark.e2e
def test_three_workers_share_one_schedule_and_survive_a_kill(tmp_path: Path, demo_crm: Path, pg_state: str) -> None:
    from fbsync.sandbox import running_sandbox
    from fbsync.sandbox.faults import Faults
    from fbsync.state.store import StateStore

    fire = (datetime.now(UTC) - timedelta(minutes=2)).replace(second=0, microsecond=0)
    with running_sandbox(faults=Faults(slow_ms=(250.0, 250.0))) as sb:  # Meta-like latency: runs take seconds
        admin(sb.url, "/__sandbox/reset", "POST")
        configure(sb.url, min_audience_size_after_removal=None)
        wd = make_workdir(tmp_path, demo_crm, sb.url, workers_yaml(fire))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("FB_", "FBSYNC_"))},
            "FB_ACCESS_TOKEN": TOKEN,
            "FBSYNC_GRAPH_URL": sb.url,
            "FBSYNC_STATE_URL": pg_state,
            "FBSYNC_STATE_KEY": "a-long-enough-state-key-for-the-workers",
            "PYTHONUNBUFFERED": "1",
        }
        procs = []
        for i in range(3):
            worker_env = {**env, "FBSYNC_STATE_DIR": str(tmp_path / f"worker{i}")}  # its own log folder
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "fbsync", "schedule", "-c", "audiences.yaml", "--lease", "3"],
                    cwd=wd.path,
                    env=worker_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        store = StateStore.open(tmp_path / "reader", pg_state)
        killed = f":{procs[0].pid}"
        try:
            deadline = time.monotonic() + 60
            victim = None
            while victim is None:  # kill worker 0 while it holds a run
                assert time.monotonic() < deadline, "worker 0 never claimed a run"
                mine = [c for c in store.open_claims() if c["worker"].endswith(killed)]
                victim = mine[0]["audience"] if mine else None
                time.sleep(0.05)
            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(timeout=10)
            deadline = time.monotonic() + 120
            while True:
                claims = store.claims()
                done = [c for c in claims if c["finished_at"] is not None]
                if len(done) == AUDIENCES + 1:
                    break
                assert time.monotonic() < deadline, f"not every run finished: {claims}"
                time.sleep(0.2)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

        claims = {c["audience"]: c for c in store.claims()}
        names = {f"part_{k}" for k in range(AUDIENCES)} | {"lal_part_0"}
        assert set(claims) == names  # one claim per audience for the one fire
        assert {c["due_at"].astimezone(UTC) for c in claims.values()} == {fire}
        assert all(c["status"] == "0" for c in claims.values()), claims
        taken = claims[victim]
        assert taken["takeovers"] == 1 and not taken["worker"].endswith(killed)
        assert not any(c["worker"].endswith(killed) for c in claims.values())  # its runs all finished elsewhere
        assert len({c["worker"] for c in claims.values()}) == 2  # the two survivors shared the round
        seed, lal = claims["part_0"], claims["lal_part_0"]
        assert lal["claimed_at"] >= seed["finished_at"]  # the lookalike after its seed
        # nothing lost, nothing twice: every list on Meta is exactly its query; one successful run each
        for k in range(AUDIENCES):
            query = f"SELECT email, phone, consent FROM customers WHERE id % {AUDIENCES} = {k}"
            assert wd.members(f"part_{k}") == expected_rows(wd.crm, query, {"EMAIL": "email", "PHONE": "phone"})
            ok = [r for r in store.audience_runs(f"part_{k}", 10) if r.status == "ok"]
            assert len(ok) == 1 or f"part_{k}" == victim, (k, ok)
        lal_meta = [a for a in wd.audiences().values() if a["subtype"] == "LOOKALIKE"]
        assert len(lal_meta) == 1
        store.close()
