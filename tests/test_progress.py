"""Progress bars: drawn on a terminal, silent otherwise; the sync reports every phase."""

from __future__ import annotations

from pathlib import Path

from e2e_helpers import make_workdir

from fbsync.render.progress import terminal_progress
from fbsync.sandbox import running_sandbox


def test_quiet_when_not_a_terminal() -> None:
    with terminal_progress(enabled=False) as p:
        assert p is None


def test_draws_when_enabled(capsys) -> None:  # type: ignore[no-untyped-def]
    with terminal_progress(enabled=True) as p:
        assert p is not None
        p("vip", "uploading adds", 5_000, 10_000)
        p("vip", "uploading adds", 10_000, 10_000)


def test_sync_reports_each_phase(tmp_path: Path, demo_crm: Path) -> None:
    from fbsync.api import sync
    from fbsync.config import load_config
    from fbsync.settings import Settings

    calls: list[tuple[str, str, int, int | None]] = []
    with running_sandbox() as sb:
        wd = make_workdir(tmp_path, demo_crm, sb.url)
        loaded = load_config(wd.path / "audiences.yaml", env={})
        result = sync(
            loaded,
            ["vip"],
            settings=Settings.from_env(loaded.path, environ=wd.env()),
            progress=lambda *a: calls.append(a),
        )
        assert result.exit_code == 0
    phases = {(a, p) for a, p, _, _ in calls}
    assert phases == {("vip", "reading and hashing"), ("vip", "uploading adds")}
    last = [c for c in calls if c[1] == "uploading adds"][-1]
    assert last[2] == last[3] > 0
