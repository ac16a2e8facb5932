"""``python -m fbsync.bench postgres`` on a tiny table: every case runs, reads every row, and prints its
ratio against the COPY floor of the same run (the real figures come from 1 M rows, by hand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_the_postgres_benchmark_prints_every_case_with_its_ratio(pg_url: str) -> None:
    env = {**os.environ, "FBSYNC_BENCH_PG_URL": pg_url, "FBSYNC_BENCH_PG_SIZES": "3000"}
    p = subprocess.run(
        [sys.executable, "-m", "fbsync.bench", "postgres"], env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-2000:]
    figures = {f["case"]: f for f in map(json.loads, p.stdout.splitlines()) if f.get("bench") == "postgres"}
    cases = ["copy", "fbsync", "fbsync-rows", "fbsync-lists", "fbsync-cursor", "pushdown", "plan"]
    assert set(figures) == {f"{c}_3000" for c in cases} | {"load_3000"}
    for case in cases:
        fig = figures[f"{case}_3000"]
        assert fig["rows"] == 3000 and fig["seconds"] > 0 and fig["ratio_vs_copy"] > 0, fig
    assert figures["copy_3000"]["ratio_vs_copy"] == 1.0
    assert figures["plan_3000"]["adds"] == 0  # the sync before it filled the ledger: nothing left to add
