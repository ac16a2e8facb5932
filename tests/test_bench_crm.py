"""``python -m fbsync.bench postgres`` and ``mariadb`` on tiny tables: every case runs, reads every row,
and prints its ratio against the floor of the same run (the real figures come from 1 M rows, by hand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any


def run_group(group: str, **env: str) -> dict[str, dict[str, Any]]:
    """The group's figures by case."""
    p = subprocess.run(
        [sys.executable, "-m", "fbsync.bench", group],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    return {f["case"]: f for f in map(json.loads, p.stdout.splitlines()) if f.get("bench") == group}


def check(figures: dict[str, dict[str, Any]], cases: list[str], rows: int, ratio: str) -> None:
    assert set(figures) == {f"{c}_{rows}" for c in cases} | {f"load_{rows}"}
    for case in cases:
        fig = figures[f"{case}_{rows}"]
        assert fig["rows"] == rows and fig["seconds"] > 0 and fig[ratio] > 0, fig
    assert figures[f"{cases[0]}_{rows}"][ratio] == 1.0


def test_the_postgres_benchmark_prints_every_case_with_its_ratio(pg_url: str) -> None:
    figures = run_group("postgres", FBSYNC_BENCH_PG_URL=pg_url, FBSYNC_BENCH_PG_SIZES="3000")
    check(figures, ["copy", "fbsync", "fbsync-rows", "fbsync-lists", "fbsync-cursor", "pushdown", "plan"], 3000,
          "ratio_vs_copy")  # fmt: skip
    assert figures["plan_3000"]["adds"] == 0  # the sync before it filled the ledger: nothing left to add


def test_the_mariadb_benchmark_prints_every_case_with_its_ratio(mysql_url: str) -> None:
    figures = run_group("mariadb", FBSYNC_BENCH_MYSQL_URL=mysql_url, FBSYNC_BENCH_MYSQL_SIZES="2000")
    check(figures, ["fetch", "fbsync", "fbsync-lists", "buffered"], 2000, "ratio_vs_fetch")
