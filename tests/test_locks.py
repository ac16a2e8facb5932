"""One run per audience at a time: in one process, across processes (kill -9 included), across PostgreSQL sessions."""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fbsync.errors import AudienceError, ConfigError, FbsyncError
from fbsync.settings import Settings
from fbsync.state.locks import LockBusy, advisory_key, audience_lock, scheduler_lock
from fbsync.state.store import StateStore

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from fbsync.state.locks import audience_lock
    from fbsync.settings import Settings
    target = Settings(state_url=sys.argv[2]) if sys.argv[2] else Settings(state_dir=Path(sys.argv[1]))
    with audience_lock(target, "vip"):
        print("locked", flush=True)
        time.sleep(60)
""")


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[object]:
    """Start a process that takes audience 'vip' and sleeps; yields a starter returning the Popen."""
    procs: list[subprocess.Popen[str]] = []

    def start(state_url: str = "") -> subprocess.Popen[str]:
        p = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(tmp_path), state_url], stdout=subprocess.PIPE, text=True
        )
        procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "locked"
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _acquire_soon(target: object, name: str, seconds: float = 5.0) -> bool:
    """The lock can be taken within ``seconds`` (the OS/server frees it just after the holder dies)."""
    end = time.monotonic() + seconds
    while True:
        try:
            with audience_lock(target, name):  # type: ignore[arg-type]
                return True
        except LockBusy:
            if time.monotonic() > end:
                return False
            time.sleep(0.05)


# --------------------------------------------------------------------------- file lock


def test_same_audience_twice_in_one_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)
    with audience_lock(s, "vip"):
        with pytest.raises(LockBusy) as info, audience_lock(s, "vip"):
            pass
    msg = str(info.value)
    assert "audience 'vip' is already being synced" in msg and f"pid {os.getpid()}" in msg
    assert isinstance(info.value, AudienceError) and isinstance(info.value, FbsyncError)
    assert info.value.exit_code == 1
    with audience_lock(s, "vip"):  # released on exit
        pass


def test_different_audiences_run_together(tmp_path: Path) -> None:
    s = Settings(state_dir=tmp_path)
    with audience_lock(s, "vip"), audience_lock(s, "recent_buyers"), scheduler_lock(s):
        pass


def test_lock_file_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    with audience_lock(Settings(state_dir=tmp_path / "st"), "vip"):
        folder = tmp_path / "st" / "locks"
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "vip.lock").stat().st_mode) == 0o600
        assert str(os.getpid()) in (folder / "vip.lock").read_text()
    assert (folder / "vip.lock").read_text() == ""  # a released lock names nobody


def test_sqlite_store_and_settings_share_the_lock_folder(tmp_path: Path) -> None:
    store = StateStore.open(tmp_path)
    try:
        with audience_lock(store, "vip"):
            with pytest.raises(LockBusy), audience_lock(Settings(state_dir=tmp_path), "vip"):
                pass
        assert (tmp_path / "locks" / "vip.lock").exists()
    finally:
        store.engine.dispose()


def test_a_name_that_is_not_an_audience_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError), audience_lock(Settings(state_dir=tmp_path), "../etc/passwd"):
        pass


def test_another_process_is_refused_and_a_killed_holder_releases(tmp_path: Path, holder: object) -> None:
    proc = holder()  # type: ignore[operator]
    s = Settings(state_dir=tmp_path)
    with pytest.raises(LockBusy, match=f"pid {proc.pid} on host"), audience_lock(s, "vip"):
        pass
    with audience_lock(s, "other"):  # its neighbour is free
        pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _acquire_soon(s, "vip")


def test_advisory_key_is_stable_signed_64_bit() -> None:
    k = advisory_key("fbsync:vip")
    assert k == advisory_key("fbsync:vip") and -(2**63) <= k < 2**63
    assert k != advisory_key("fbsync:vip2")
    assert k == int.from_bytes(hashlib.sha256(b"fbsync:vip").digest()[:8], "big", signed=True)  # as documented


# --------------------------------------------------------------------------- PostgreSQL advisory lock


@pytest.mark.db
def test_postgres_advisory_lock_across_two_connections(pg_url: str) -> None:
    s = Settings(state_url=pg_url, state_dir=Path("/nonexistent/never-used"))
    with audience_lock(s, "vip"):
        with pytest.raises(LockBusy, match=r"audience 'vip' is already being synced \(held by fbsync pid"):
            with audience_lock(s, "vip"):
                pass
        with audience_lock(s, "other"):
            pass
    with audience_lock(s, "vip"):  # released
        pass


@pytest.mark.db
def test_postgres_store_target_and_a_killed_holder_on_another_process(pg_url: str, holder: object) -> None:
    store = StateStore.open(Path("/nonexistent/never-used"), pg_url)
    try:
        proc = holder(pg_url)  # type: ignore[operator]
        with pytest.raises(LockBusy, match=f"fbsync pid {proc.pid}"), audience_lock(store, "vip"):
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert _acquire_soon(store, "vip")
    finally:
        store.engine.dispose()
