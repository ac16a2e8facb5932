"""Member batches in flight together against the live sandbox: they overlap on Full access and never on
Limited, the membership is exact under faults (errors, dropped answers of applied calls, latency), a
replace still opens and closes its session alone, and nothing is sent twice when nothing failed.
(kill -9 during overlapping batches: tests/test_crash.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import EVERYONE_KEYS as KEYS
from e2e_helpers import EVERYONE_QUERY as QUERY
from e2e_helpers import everyone_yaml, expected_rows, make_workdir

from fbsync.sandbox import Faults, SandboxConfig, running_sandbox

pytestmark = pytest.mark.e2e


def yaml(mode: str = "mirror", width: int = 4) -> str:
    return everyone_yaml("act_778", mode, width, ", max_backoff_seconds: 0.05, max_attempts: 20")


def sync(wd: Any) -> dict[str, Any]:
    r = wd.run("sync", "--json")
    assert r.exit_code == 0, r.output
    return dict(json.loads(r.stdout)["audiences"][0])


def calls(wd: Any, endpoint: str) -> int:
    return int(wd.requests()["by_endpoint"].get(endpoint, 0))


def peak(wd: Any, endpoint: str) -> int:
    return int(wd.requests()["in_flight_peak"].get(endpoint, 0))


def batches(rows: int) -> int:
    return -(-rows // 10_000)


def test_a_first_sync_overlaps_its_batches_on_full_access_and_sends_each_once(tmp_path: Path, big_crm: Path) -> None:
    with running_sandbox(faults=Faults(slow_ms=(40, 80), endpoints=("POST /users",))) as sb:
        wd = make_workdir(tmp_path, big_crm, sb.url, yaml(width=4))
        want = expected_rows(wd.crm, QUERY, KEYS)
        rep = sync(wd)
        assert wd.members("everyone") == want and rep["added"] == len(want)
        assert peak(wd, "POST /users") >= 2  # batches overlapped
        assert peak(wd, "POST /users") <= 4
        assert 2 <= rep["api"]["in_flight"] <= 4  # the run report says so too
        assert calls(wd, "POST /users") == batches(len(want))  # one call per batch: nothing sent twice


def test_removals_overlap_too_and_leave_exactly_the_wanted_rows(tmp_path: Path, big_crm: Path) -> None:
    with running_sandbox(faults=Faults(slow_ms=(40, 80), endpoints=("DELETE /users",))) as sb:
        wd = make_workdir(tmp_path, big_crm, sb.url, yaml(width=3))
        sync(wd)
        wd.change_crm("UPDATE customers SET consent = 0 WHERE id % 2 = 0")  # half the list leaves
        want = expected_rows(wd.crm, QUERY, KEYS)
        rep = sync(wd)
        assert rep["removed"] > 20_000
        assert wd.members("everyone") == want
        assert 2 <= peak(wd, "DELETE /users") <= 3


def test_batches_never_overlap_on_limited_access(tmp_path: Path, big_crm: Path) -> None:
    faults = Faults(slow_ms=(20, 40), endpoints=("POST /users",))
    with running_sandbox(config=SandboxConfig(tier="limited"), faults=faults) as sb:
        wd = make_workdir(tmp_path, big_crm, sb.url, yaml(width=8))
        want = expected_rows(wd.crm, QUERY, KEYS)
        rep = sync(wd)
        assert wd.members("everyone") == want
        assert peak(wd, "POST /users") == 1 and rep["api"]["in_flight"] == 1


def test_the_membership_is_exact_under_errors_dropped_answers_and_latency(tmp_path: Path, big_crm: Path) -> None:
    faults = Faults(
        seed=3,
        error_rate=0.15,
        drop_rate=0.1,
        drop_after_apply=0.5,  # half the dropped calls were applied by Meta: their batch goes again
        slow_ms=(20, 60),
        endpoints=("POST /users", "DELETE /users"),
    )
    with running_sandbox(faults=faults) as sb:
        wd = make_workdir(tmp_path, big_crm, sb.url, yaml(width=4))
        want = expected_rows(wd.crm, QUERY, KEYS)
        sync(wd)
        assert wd.members("everyone") == want
        assert peak(wd, "POST /users") >= 2
        injected = sb.app.injector.injected
        assert injected["error_500"] + injected["drop"] > 0, injected
        wd.change_crm("UPDATE customers SET consent = 0 WHERE id % 3 = 0")
        want = expected_rows(wd.crm, QUERY, KEYS)
        sync(wd)
        assert wd.members("everyone") == want
        rep = sync(wd)  # the ledger is exact: nothing left to send
        assert (rep["added"], rep["removed"]) == (0, 0)


def test_a_replace_opens_and_closes_its_session_alone_and_overlaps_the_middle(tmp_path: Path, big_crm: Path) -> None:
    with running_sandbox(faults=Faults(slow_ms=(40, 80), endpoints=("POST /usersreplace",))) as sb:
        wd = make_workdir(tmp_path, big_crm, sb.url, yaml("replace", width=4))
        sync(wd)
        wd.change_crm("DELETE FROM customers WHERE id % 7 = 0")
        want = expected_rows(wd.crm, QUERY, KEYS)
        before = calls(wd, "POST /usersreplace")
        rep = sync(wd)
        assert rep["strategy"] == "replace"
        assert wd.members("everyone") == want
        # Meta refuses a batch before batch 1 (1870147) or after the last (1870159): none was refused.
        assert calls(wd, "POST /usersreplace") - before == batches(len(want))
        assert peak(wd, "POST /usersreplace") >= 2
