"""kill -9 at several points of a long run, then run again: exact membership, nothing lost, at most the
batches in flight sent twice (one, or up to ``api.max_uploads_in_flight`` when batches overlap). A real
subprocess against the live sandbox; no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import EVERYONE_KEYS as KEYS
from e2e_helpers import EVERYONE_QUERY as QUERY
from e2e_helpers import HoldWrite, Workdir, everyone_yaml, expected_rows, make_workdir

from fbsync.dev.demo import seed
from fbsync.sandbox import running_sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture
def sb() -> Iterator[Any]:
    with running_sandbox() as s:
        yield s


def start(wd: Workdir) -> subprocess.Popen[bytes]:
    env = {**os.environ, **wd.env()}
    return subprocess.Popen(
        [sys.executable, "-m", "fbsync", "sync", "-c", str(wd.path / "audiences.yaml")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_at(sb: Any, wd: Workdir, at: int) -> None:
    switch = HoldWrite(at)
    sb.app.policies.append(switch)
    proc = start(wd)
    try:
        assert switch.reached.wait(120), proc.communicate(timeout=5)
        proc.kill()  # SIGKILL while Meta holds the request
        proc.wait(10)
    finally:
        switch.release.set()
        sb.app.policies.remove(switch)


def finish(wd: Workdir) -> None:
    proc = start(wd)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (out + err).decode()


def users_calls(wd: Workdir, edge: str) -> int:
    return sum(n for k, n in wd.requests()["by_endpoint"].items() if k.endswith(edge))


def yaml(mode: str, width: int = 1) -> str:
    return everyone_yaml("act_777", mode, width)


@pytest.mark.parametrize(
    "kills, width", [([1], 1), ([2], 1), ([4], 1), ([2, 3, 3], 1), ([2], 4), ([4], 4), ([2, 5, 3], 3)]
)
def test_mirror_killed_then_rerun_converges(
    tmp_path: Path, big_crm: Path, sb: Any, kills: list[int], width: int
) -> None:
    wd = make_workdir(tmp_path, big_crm, sb.url, yaml("mirror", width))
    want = expected_rows(wd.crm, QUERY, KEYS)
    batches = -(-len(want) // 10_000)
    assert batches >= 5
    for at in kills:
        kill_at(sb, wd, at)
    finish(wd)
    assert wd.members("everyone") == want
    sent = users_calls(wd, "/users") + users_calls(wd, "/usersreplace")
    assert sent <= batches + width * len(kills), sent  # at most the batches in flight again, per kill


@pytest.mark.parametrize("at, width", [(2, 1), (4, 1), (2, 4), (4, 4)])
def test_replace_killed_mid_session_is_resumed_not_left_half_applied(
    tmp_path: Path, big_crm: Path, sb: Any, at: int, width: int
) -> None:
    wd = make_workdir(tmp_path, big_crm, sb.url, yaml("replace", width))
    finish(wd)  # create + first replace
    wd.change_crm("DELETE FROM customers WHERE id % 50 = 0")
    want = expected_rows(wd.crm, QUERY, KEYS)
    before = users_calls(wd, "/usersreplace")
    kill_at(sb, wd, at)
    assert wd.members("everyone") != want  # Meta is mid-session: not yet the new list
    finish(wd)
    assert wd.members("everyone") == want
    batches = -(-len(want) // 10_000)
    assert users_calls(wd, "/usersreplace") - before <= batches + width


# ------------------------------------------------------------------ create once, for every kind of creation
class CreationKill:
    """Sandbox policy: the first creation of ``subtype`` is held until the test has killed the client, then
    Meta creates it anyway: the client never learns the id (the window between Meta's answer and fbsync's record)."""

    def __init__(self, subtype: str) -> None:
        self.subtype = subtype
        self.reached, self.release = threading.Event(), threading.Event()

    def intercept(self, app: Any, req: Any) -> None:
        if (
            req.method == "POST"
            and req.segments[-1:] == ["customaudiences"]
            and req.params.get("subtype") == self.subtype
            and not self.reached.is_set()
        ):
            self.reached.set()
            self.release.wait(60)
        return None


LAL_YAML = f"""
version: 1
ad_account_id: act_778
crm: {{url: "sqlite:///demo/crm.db"}}
defaults: {{default_country: FR, consent: consent}}
audiences:
  - name: everyone
    display_name: "Tout le monde"
    query: "{QUERY}"
    keys: {KEYS}
  - name: lal_everyone
    lookalike: {{source: everyone, countries: [FR], ratios: [0.01, 0.03]}}
"""


@pytest.fixture(scope="module")
def small_crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("smallcrm") / "crm.db"
    seed(path, n=2_000, seed=98)
    return path


def run_killed(sb: Any, switch: CreationKill, argv: list[str], wd: Workdir) -> None:
    sb.app.policies.append(switch)
    proc = subprocess.Popen(
        [sys.executable, "-m", "fbsync", *argv],
        env={**os.environ, **wd.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert switch.reached.wait(120), proc.communicate(timeout=5)
        proc.kill()  # SIGKILL while Meta holds the creation
        proc.wait(10)
    finally:
        switch.release.set()
        sb.app.policies.remove(switch)


def by_name(wd: Workdir) -> dict[str, list[dict[str, Any]]]:
    """Every audience on the sandbox, grouped by name (a name held twice is a creation made twice)."""
    from e2e_helpers import admin

    out: dict[str, list[dict[str, Any]]] = {}
    for a in admin(wd.sandbox_url, "/__sandbox/audiences")["data"]:
        out.setdefault(a["name"], []).append(a)
    return out


@pytest.mark.parametrize("kind", ["customer_list", "lookalike_tier", "upload"])
def test_creation_killed_before_it_was_recorded_is_never_made_twice(
    tmp_path: Path, small_crm: Path, sb: Any, kind: str
) -> None:
    wd = make_workdir(tmp_path, small_crm, sb.url, LAL_YAML)
    cfg = ["-c", str(wd.path / "audiences.yaml")]
    if kind == "upload":
        csv = tmp_path / "salon.csv"
        csv.write_text("email\n" + "".join(f"visiteur.{i}@exemple.fr\n" for i in range(300)), encoding="utf-8")
        argv = ["upload", str(csv), "--audience", "salon", *cfg]
    else:
        argv = ["sync", *cfg]
    if kind == "lookalike_tier":
        finish(wd)  # the seed and both tiers exist
        first = {n: [a["id"] for a in v] for n, v in by_name(wd).items()}
        wd.path.joinpath("audiences.yaml").write_text(
            LAL_YAML.replace("0.01, 0.03", "0.01, 0.03, 0.05"), encoding="utf-8"
        )
    run_killed(sb, CreationKill("LOOKALIKE" if kind == "lookalike_tier" else "CUSTOM"), argv, wd)
    made = by_name(wd)
    assert sum(len(v) for v in made.values()) == (4 if kind == "lookalike_tier" else 1)  # Meta made it
    proc = subprocess.run(
        [sys.executable, "-m", "fbsync", *argv], env={**os.environ, **wd.env()}, capture_output=True, timeout=300
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()
    if kind == "upload":
        proc = subprocess.run(
            [sys.executable, "-m", "fbsync", *argv], env={**os.environ, **wd.env()}, capture_output=True, timeout=300
        )  # and again: still one
        assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()
    after = by_name(wd)
    assert all(len(v) == 1 for v in after.values()), {n: len(v) for n, v in after.items()}
    if kind == "customer_list":
        assert set(after) == {"Tout le monde"} | {n for n in after if n.startswith("lal_everyone")}
        assert wd.members("Tout le monde") == expected_rows(wd.crm, QUERY, KEYS)
    elif kind == "lookalike_tier":
        assert {n: [a["id"] for a in v] for n, v in after.items() if n in first} == first
        assert len([n for n in after if n.startswith("lal_everyone")]) == 3
    else:
        assert set(after) == {"salon"} and len(wd.members("salon")) == 300
    # The adopted audience is known as fbsync's own: --prune may delete it once it is no longer declared.
    from fbsync.state.store import StateStore

    store = StateStore.open(wd.state)
    try:
        assert all(r.created_by_fbsync and not r.extra.get("creating") for r in store.all_audiences()), (
            store.all_audiences()
        )
    finally:
        store.close()
