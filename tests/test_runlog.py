"""The run log: one home for a run's bookkeeping, and the "run finished" hook every command calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_helpers import make_workdir

import fbsync
from fbsync.config import load_config
from fbsync.errors import Interrupted
from fbsync.results import AudienceResult, RunResult, Sent
from fbsync.runlog import RunLog, hooked
from fbsync.sandbox import running_sandbox
from fbsync.settings import Settings
from fbsync.state.store import StateStore


def history(tmp_path: Path) -> list:
    store = StateStore.open(tmp_path)
    try:
        return store.history()
    finally:
        store.close()


def test_a_run_is_recorded_with_each_audience_then_the_hooks_get_the_typed_result(tmp_path: Path) -> None:
    seen: list[RunResult] = []
    with hooked(seen.append), RunLog(Settings(state_dir=tmp_path), "sync", "d" * 64) as log:
        log.record(AudienceResult("vip", sent=Sent(added=3)))
        log.record(AudienceResult("lapsed", "refused", message="shrink"))
    (run,) = history(tmp_path)
    assert run.status == "partial" and [a.audience for a in run.audiences] == ["lapsed", "vip"]
    assert [a.rows_added for a in run.audiences if a.audience == "vip"] == [3]
    (result,) = seen
    assert result.run_id == run.id and result.status == "partial" and result.exit_code == 1
    assert [a.name for a in result.audiences] == ["vip", "lapsed"]


@pytest.mark.parametrize(
    "exc, status",
    [(RuntimeError("boom"), "failed"), (KeyboardInterrupt(), "interrupted"), (Interrupted("stop"), "interrupted")],
)
def test_a_run_that_raises_is_recorded_as_it_ended(tmp_path: Path, exc: BaseException, status: str) -> None:
    seen: list[RunResult] = []
    with pytest.raises(type(exc)), hooked(seen.append), RunLog(Settings(state_dir=tmp_path), "sync", None) as log:
        log.record(AudienceResult("vip"))
        raise exc
    (run,) = history(tmp_path)
    assert run.status == status and run.finished_at is not None
    assert seen[0].status == status


def test_a_failing_hook_never_fails_the_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(result: RunResult) -> None:
        raise OSError("the alert destination is down")

    seen: list[RunResult] = []
    with hooked(broken), hooked(seen.append), RunLog(Settings(state_dir=tmp_path), "sync", None) as log:
        log.record(AudienceResult("vip"))
    assert history(tmp_path)[0].status == "ok" and len(seen) == 1
    assert "run-finished hook failed" in caplog.text


def test_plans_are_not_recorded_and_call_no_hook(tmp_path: Path) -> None:
    seen: list[RunResult] = []
    with hooked(seen.append), RunLog(Settings(state_dir=tmp_path), "plan", None, record=False) as log:
        log.record(AudienceResult("vip", "planned"))
    assert history(tmp_path) == [] and seen == []


def test_sync_upload_and_forget_all_finish_through_the_hook(tmp_path: Path, demo_crm: Path) -> None:
    """The public API and the CLI's commands share the one run log."""
    seen: list[RunResult] = []
    with running_sandbox() as sb, hooked(seen.append):
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        loaded = load_config(wd.path / "audiences.yaml", env={})
        settings = Settings.from_env(loaded.path, environ=wd.env())
        result = fbsync.sync(loaded, ["vip"], settings=settings)
        assert isinstance(result, RunResult) and result.exit_code == 0
        assert fbsync.plan(loaded, settings=settings).run_id is None  # a plan records nothing
        csv = tmp_path / "f.csv"
        csv.write_text("email\nsomeone@exemple.fr\n", encoding="utf-8")
        assert fbsync.upload_file(loaded, csv, "salon", settings=settings).exit_code == 0
        assert fbsync.forget_person(loaded, ["someone@exemple.fr"], settings=settings).found
        assert wd.run("sync", "vip").exit_code == 0  # the CLI goes through it too
    assert [r.command for r in seen] == ["sync", "upload", "forget", "sync"]
    assert all(r.status == "ok" and r.run_id for r in seen)
    assert seen[2].audience("salon").sent.removed == 1
