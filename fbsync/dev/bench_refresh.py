"""Benchmark group ``refresh``: a weekly refresh of a large audience with 1 % churn, against the sandbox.

For each size (1 M and 10 M members by default; ``FBSYNC_BENCH_REFRESH_SIZES=200000,1000000`` to
change), it seeds a synthetic CRM, runs a first full sync into a sandbox (its own SQLite file), plays
1 % churn, then times the refresh.  Each ``fbsync sync`` runs in a child process so its peak RSS is
its own.  Figures: rows read, rows sent, the ratio rows sent / true churn (target ≤ 1.05), wall time,
peak RSS (target < 1 GB at 10 M).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .bench import Options, register

YAML = """version: 1
ad_account_id: act_424242
crm: {url: "sqlite:///crm.db"}
defaults: {default_country: FR, consent: null, max_shrink: 0.9}
audiences:
  - name: everyone
    query: "SELECT email, phone, first_name, last_name FROM customers"
    keys: {EMAIL: email, PHONE: phone, FN: first_name, LN: last_name}
"""
# The child's own high-water mark: VmHWM belongs to the process image exec created, whereas
# getrusage's ru_maxrss survives exec and would report the (sandbox-holding) parent's size.
CHILD = """
import sys
from fbsync.cli import app
try:
    app(sys.argv[1:])
finally:
    hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    sys.stderr.write("\\nPEAK_RSS_KB %s\\n" % (hwm[0] if hwm else 0))
"""


def run_child(folder: Path, env: dict[str, str], command: str = "sync") -> tuple[dict[str, Any], float, float]:
    """One ``fbsync sync --json`` (or ``plan``) in a child process: (audience report, seconds, peak RSS MB)."""
    start = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", CHILD, command, "--json", "-c", str(folder / "audiences.yaml")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    rss = next((int(line.split()[1]) for line in p.stderr.splitlines() if line.startswith("PEAK_RSS_KB")), 0)
    if p.returncode != 0:
        raise RuntimeError(f"fbsync {command} failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout)["audiences"][0], seconds, rss / 1024


def _sizes() -> list[int]:
    raw = os.environ.get("FBSYNC_BENCH_REFRESH_SIZES", "1000000,10000000")
    return [int(x) for x in raw.split(",") if x.strip()]


@register("refresh", "weekly refresh of 1 M / 10 M members with 1 % churn against the sandbox")
def bench_refresh(options: Options) -> Iterator[dict[str, Any]]:
    from ..sandbox import running_sandbox
    from .demo import churn, seed

    for n in _sizes():
        with tempfile.TemporaryDirectory(prefix="fbsync-bench-") as tmp:
            folder = Path(tmp)
            seed(folder / "crm.db", n=n, seed=options.seed)
            (folder / "audiences.yaml").write_text(YAML, encoding="utf-8")
            with running_sandbox(data=str(folder / "sandbox.db")) as sb:
                env = {
                    **os.environ,
                    "FB_ACCESS_TOKEN": "bench-token-0000",
                    "FBSYNC_GRAPH_URL": sb.url,
                    "FBSYNC_STATE_DIR": str(folder / "state"),
                }
                first, first_s, first_rss = run_child(folder, env)
                yield {
                    "case": f"first_sync_{n}",
                    "rows": first["rows_read"],
                    "rows_read": first["rows_read"],
                    "rows_sent": first["added"],
                    "seconds": round(first_s, 1),
                    "peak_rss_mb": round(first_rss),
                }
                c = churn(folder / "crm.db", seed=3, fraction=0.01)
                true_churn = c["deleted"] + c["inserted"] + 2 * c["email_changed"]
                rep, secs, rss = run_child(folder, env)
                sent = rep["added"] + rep["removed"] + rep["replaced"]
                yield {
                    "case": f"refresh_{n}",
                    "rows": rep["rows_read"],
                    "rows_read": rep["rows_read"],
                    "rows_sent": sent,
                    "true_churn": true_churn,
                    "sent_per_churn": round(sent / true_churn, 3),
                    "seconds": round(secs, 1),
                    "peak_rss_mb": round(rss),
                }
