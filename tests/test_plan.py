"""The pure planner: every decision from values only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fbsync.planning import Desired, LedgerView, Remote, plan_audience

D = Desired("vip", "Clients VIP", "desc", "mirror", ("EMAIL", "PHONE"), rows=1000, max_shrink=0.5)
NEW = Remote(exists=False)
SAME = Remote(exists=True, name="Clients VIP", description="desc", size_lower=1000, size_upper=1000)


def desired(**kw: object) -> Desired:
    return Desired(**{**D.__dict__, **kw})  # type: ignore[arg-type]


def test_new_audience_is_created_and_filled_by_adds() -> None:
    p = plan_audience(D, LedgerView(False, 0, 1000, 0), NEW)
    assert (p.create, p.strategy, p.adds, p.removes, p.refused) == (True, "diff", 1000, 0, None)


def test_mirror_sends_only_the_difference() -> None:
    p = plan_audience(D, LedgerView(True, 1000, 12, 7), SAME)
    assert (p.create, p.update, p.strategy, p.adds, p.removes) == (False, {}, "diff", 12, 7)


def test_append_never_removes() -> None:
    p = plan_audience(desired(mode="append"), LedgerView(True, 1000, 12, 700), SAME)
    assert (p.adds, p.removes, p.refused) == (12, 0, None)


def test_replace_mode_always_replaces() -> None:
    p = plan_audience(desired(mode="replace"), LedgerView(True, 1000, 0, 0), SAME)
    assert (p.strategy, p.replace_rows) == ("replace", 1000)


def test_existing_audience_without_ledger_starts_with_a_replace() -> None:
    p = plan_audience(D, LedgerView(False, 0, 1000, 0), SAME)
    assert (p.strategy, p.replace_rows, p.adds) == ("replace", 1000, 0)
    assert p.notes and "replace" in p.notes[0]


def test_name_and_description_changes_are_updates() -> None:
    remote = Remote(exists=True, name="Old name", description=None)
    p = plan_audience(D, LedgerView(True, 1000, 0, 0), remote)
    assert p.update == {"name": "Clients VIP", "description": "desc"}
    assert not p.create


@pytest.mark.parametrize(
    "ledger_rows, removes, force, refused",
    [
        (1000, 500, False, False),  # exactly 50 %: allowed
        (1000, 501, False, True),  # above: refused
        (1000, 1000, False, True),  # a broken query returning nothing
        (1000, 1000, True, False),  # --force
        (0, 0, False, False),
    ],
)
def test_shrink_guard(ledger_rows: int, removes: int, force: bool, refused: bool) -> None:
    p = plan_audience(desired(rows=ledger_rows - removes), LedgerView(True, ledger_rows, 0, removes), SAME, force=force)
    assert bool(p.refused) is refused
    if refused:
        assert "vip" in p.refused and f"{ledger_rows:,}" in p.refused and "--force" in p.refused


def test_shrink_guard_without_ledger_uses_metas_size() -> None:
    p = plan_audience(desired(rows=100), LedgerView(False, 0, 100, 0), SAME)
    assert p.refused and "1,000 to 100" in p.refused


def test_replace_with_nothing_is_refused_unless_forced() -> None:
    p = plan_audience(desired(rows=0, mode="replace"), LedgerView(True, 10, 0, 10), SAME)
    assert p.refused and "no usable row" in p.refused
    forced = plan_audience(desired(rows=0, mode="replace"), LedgerView(True, 10, 0, 10), SAME, force=True)
    assert (forced.refused, forced.strategy, forced.removes) == (None, "diff", 10)


def test_plan_module_is_pure() -> None:
    """planning.py imports only the standard library (style lesson 1)."""
    tree = ast.parse(Path(__file__).resolve().parents[1].joinpath("fbsync", "planning.py").read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    assert mods <= {"__future__", "dataclasses", "typing"}, mods
