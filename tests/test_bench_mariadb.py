"""``python -m fbsync.bench mariadb`` on a tiny table: every case reads every row and prints its ratio
against the driver's streaming fetch of the same run (the real figures come from 1 M rows, by hand)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_the_mariadb_benchmark_prints_every_case_with_its_ratio(mysql_url: str) -> None:
    env = {**os.environ, "FBSYNC_BENCH_MYSQL_URL": mysql_url, "FBSYNC_BENCH_MYSQL_SIZES": "2000"}
    p = subprocess.run(
        [sys.executable, "-m", "fbsync.bench", "mariadb"], env=env, capture_output=True, text=True, timeout=600
    )
    assert p.returncode == 0, p.stderr[-2000:]
    figures = {f["case"]: f for f in map(json.loads, p.stdout.splitlines()) if f.get("bench") == "mariadb"}
    assert set(figures) == {"load_2000", "fetch_2000", "fbsync_2000", "fbsync-lists_2000", "buffered_2000"}
    for case in ("fetch", "fbsync", "fbsync-lists", "buffered"):
        fig = figures[f"{case}_2000"]
        assert fig["rows"] == 2000 and fig["seconds"] > 0 and fig["ratio_vs_fetch"] > 0, fig
    assert figures["fetch_2000"]["ratio_vs_fetch"] == 1.0
