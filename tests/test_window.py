"""The window of member batches in flight (fbsync.window) and the governor's allowance (Governor.allowed)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fbsync.errors import Interrupted
from fbsync.meta.governor import Governor
from fbsync.window import Item, send_all


class Meta:
    """A fake Meta answering after ``delay`` seconds; it counts calls in flight and remembers the peak."""

    def __init__(self, delay: float = 0.02, fail: set[int] | None = None) -> None:
        self.delay, self.fail = delay, fail or set()
        self.now = self.peak = 0
        self.lock = threading.Lock()
        self.seen: list[int] = []
        self.overlapped_alone = False
        self.alone_running = False

    def send(self, item: Item[int]) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            if self.alone_running or (item.alone and self.now > 1):
                self.overlapped_alone = True
            self.alone_running = self.alone_running or item.alone
            self.seen.append(item.value)
        try:
            time.sleep(self.delay)
            if item.value in self.fail:
                raise RuntimeError(f"batch {item.value} failed")
            return f"ack {item.value}"
        finally:
            with self.lock:
                self.now -= 1
                if item.alone:
                    self.alone_running = False


def items(n: int, alone: tuple[int, ...] = ()) -> list[Item[int]]:
    return [Item(i, last=i == n - 1, alone=i in alone) for i in range(n)]


def test_one_at_a_time_runs_in_the_callers_thread_in_order() -> None:
    meta, recorded, threads = Meta(0), [], set()

    def record(item: Item[int], resp: str) -> None:
        recorded.append((item.value, resp))
        threads.add(threading.get_ident())

    assert send_all(items(5), meta.send, record) == 1
    assert recorded == [(i, f"ack {i}") for i in range(5)]
    assert threads == {threading.get_ident()}


def test_batches_overlap_up_to_the_width_and_are_recorded_once_in_the_callers_thread() -> None:
    meta, recorded, threads = Meta(), [], set()

    def record(item: Item[int], resp: str) -> None:
        recorded.append(item.value)
        threads.add(threading.get_ident())

    peak = send_all(items(20), meta.send, record, cap=4, width=lambda: 4)
    assert sorted(recorded) == list(range(20)) and len(recorded) == 20
    assert threads == {threading.get_ident()}  # every ledger write in the caller's thread
    assert peak == meta.peak == 4


def test_the_governors_width_is_read_before_each_send() -> None:
    meta = Meta()
    widths = iter([3] * 6 + [1] * 100)  # usage rose: down to one at a time
    sent_at_one: list[int] = []

    def width() -> int:
        w = next(widths)
        if w == 1:
            sent_at_one.append(meta.now)
        return w

    send_all(items(12), meta.send, lambda i, r: None, cap=3, width=width)
    assert meta.peak == 3
    assert sent_at_one[-1] == 0  # at width 1 a batch starts only when nothing is in flight


def test_a_width_above_the_cap_is_held_to_the_cap() -> None:
    meta = Meta()
    send_all(items(10), meta.send, lambda i, r: None, cap=2, width=lambda: 50)
    assert meta.peak == 2


def test_alone_batches_never_overlap_anything() -> None:
    meta = Meta()
    recorded: list[int] = []
    send_all(items(10, alone=(0, 9)), meta.send, lambda i, r: recorded.append(i.value), cap=4, width=lambda: 4)
    assert not meta.overlapped_alone
    assert meta.seen[0] == 0 and meta.seen[-1] == 9 and recorded[-1] == 9 and recorded[0] == 0
    assert meta.peak == 4


def test_a_failure_stops_new_sends_records_what_was_in_flight_and_raises() -> None:
    meta = Meta(fail={5})
    recorded: list[int] = []
    with pytest.raises(RuntimeError, match="batch 5"):
        send_all(items(30), meta.send, lambda i, r: recorded.append(i.value), cap=3, width=lambda: 3)
    assert 5 not in recorded
    assert set(recorded) == set(meta.seen) - {5}  # every other batch Meta saw was recorded
    assert max(meta.seen) <= 5 + 3  # nothing started long after the failure


def test_a_stop_lets_the_batches_in_flight_finish_and_be_recorded() -> None:
    meta, stop = Meta(0.05), threading.Event()
    recorded: list[int] = []

    def check() -> None:
        if stop.is_set():
            raise Interrupted("stopped")

    def record(item: Item[int], resp: str) -> None:
        recorded.append(item.value)
        stop.set()  # asked to stop once the first batch is acknowledged

    with pytest.raises(Interrupted):
        send_all(items(50), meta.send, record, cap=4, width=lambda: 4, check=check)
    assert sorted(recorded) == sorted(meta.seen) and len(meta.seen) <= 5


def test_a_failing_source_drains_the_batches_in_flight_first() -> None:
    meta = Meta()
    recorded: list[int] = []

    def source() -> Iterator[Item[int]]:
        yield from items(3)
        raise OSError("staging unreadable")

    with pytest.raises(OSError, match="staging"):
        send_all(source(), meta.send, lambda i, r: recorded.append(i.value), cap=4, width=lambda: 4)
    assert sorted(recorded) == [0, 1, 2]


@pytest.mark.parametrize("cap", [1, 3])
def test_a_split_batch_is_sent_as_its_parts(cap: int) -> None:
    sent: list[Any] = []

    def send(item: Item[Any]) -> str:
        sent.append(item.value)
        if isinstance(item.value, int) and item.value == 2:
            raise ValueError("too big")
        return "ok"

    def split(item: Item[Any], exc: BaseException) -> list[Item[Any]] | None:
        if isinstance(exc, ValueError):
            return [Item(f"{item.value}a", False, item.alone), Item(f"{item.value}b", item.last, item.alone)]
        return None

    recorded: list[Any] = []
    send_all(items(4), send, lambda i, r: recorded.append(i.value), cap=cap, width=lambda: cap, split=split)
    assert sorted(map(str, recorded)) == ["0", "1", "2a", "2b", "3"]


# ------------------------------------------------------------------ the governor's allowance
def full(pct: float, tier: str = "full_access") -> dict[str, str]:
    usage = {"acc_id_util_pct": pct, "reset_time_duration": 120, "ads_api_access_tier": tier}
    return {"X-Ad-Account-Usage": json.dumps(usage)}


def test_one_batch_at_a_time_until_the_headers_show_full_access_and_room() -> None:
    g = Governor(cap=6)
    assert g.allowed() == 1  # nothing known yet
    g.observe(full(2, "development_access"))
    assert g.allowed() == 1  # Limited access: always one
    g.observe(full(2))
    assert g.allowed() == 6
    assert Governor(cap=1).allowed() == 1


def test_the_allowance_drops_as_usage_rises() -> None:
    g = Governor(cap=8, slow_from=75)
    g.observe(full(10))
    g.observe(full(30))  # each call costs about 20 points now: room for 2 more below 75 %
    assert g.allowed() == 2
    g.observe(full(76))
    assert g.allowed() == 1


def test_a_throttle_brings_it_back_to_one_for_a_window() -> None:
    now = [1000.0]
    g = Governor(cap=4, clock=lambda: now[0])
    g.observe(full(5))
    assert g.allowed() == 4
    g.throttled()
    assert g.allowed() == 1
    now[0] += 119
    assert g.allowed() == 1
    now[0] += 300
    assert g.allowed() == 4


def test_a_second_ctrl_c_does_not_wait_for_metas_answers() -> None:
    def send(item: Item[int]) -> str:
        time.sleep(0.01 if item.value == 0 else 5)  # batch 1 waits on a slow Meta
        return "ok"

    def record(item: Item[int], resp: str) -> None:
        raise KeyboardInterrupt  # the second Ctrl-C lands while batch 1 is in flight

    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        send_all(items(2), send, record, cap=2, width=lambda: 2)
    assert time.perf_counter() - start < 2  # the worker threads are daemons: nobody waits for batch 1
