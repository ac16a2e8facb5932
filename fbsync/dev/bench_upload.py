"""Benchmark group ``upload``: a first sync of 1 M members against the sandbox with Meta-like latency.

Meta takes about a second and a half to answer a 10,000-row ``/users`` call; the sandbox answers in
milliseconds, so ``--slow-ms`` (default ``1200-1800``: 1.5 s with jitter) puts the latency back on the
``/users`` edge.  One CRM is seeded (``--rows``, default 1 M), then the same first sync runs twice in the
same run, each into a fresh sandbox on the **Full** tier and a fresh state folder, in a child process
(its own peak RSS):

* ``sequential``: ``api.max_uploads_in_flight: 1``, one batch at a time (fbsync before this change);
* ``concurrent``: ``api.max_uploads_in_flight: --in-flight`` (default 8), as many as the governor allows.

Each figure says the wall time, the ``/users`` calls, the most calls the sandbox answered at once, the
peak RSS, whether the membership is exact (the sandbox holds exactly the rows fbsync recorded, each sent
once) and the calls refused for a rate limit; the ``ratio`` line divides the two wall times (target ≥ 3).

``limited`` then runs the concurrent setting on the **Limited** tier (score 60, 3 points a write), on
``--limited-rows`` rows (default 250,000: more writes than the score allows in one window), with the
score's decay shortened from 300 s to 60 s so that the case takes a couple of minutes: the governor reads
the window from Meta's headers either way.  Target: one batch at a time, no call refused.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .bench import Options, register
from .bench_refresh import run_child

YAML = """version: 1
ad_account_id: act_515151
crm: {url: "sqlite:///crm.db"}
defaults: {default_country: FR, consent: null, max_shrink: 0.9}
api: {max_uploads_in_flight: WIDTH}
audiences:
  - name: everyone
    query: "SELECT email, phone, first_name, last_name FROM customers"
    keys: {EMAIL: email, PHONE: phone, FN: first_name, LN: last_name}
"""


def _slow(raw: str) -> tuple[float, float]:
    low, _, high = raw.partition("-")
    return float(low), float(high or low)


def _first_sync(crm: Path, width: int, slow: tuple[float, float], tier: str, decay: float | None) -> dict[str, Any]:
    from ..sandbox import Faults, SandboxConfig, running_sandbox
    from ..sandbox.usage import UsageBudget

    usage = UsageBudget(score_decay_seconds=decay) if decay else UsageBudget()
    config = SandboxConfig(tier=tier, usage=usage)
    faults = Faults(slow_ms=slow, endpoints=("POST /users",)) if slow[1] else None
    with tempfile.TemporaryDirectory(prefix="fbsync-bench-upload-") as tmp:
        folder = Path(tmp)
        (folder / "crm.db").symlink_to(crm)
        (folder / "audiences.yaml").write_text(YAML.replace("WIDTH", str(width)), encoding="utf-8")
        with running_sandbox(config=config, faults=faults) as sb:
            env = {
                **os.environ,
                "FB_ACCESS_TOKEN": "bench-token-0000",
                "FBSYNC_GRAPH_URL": sb.url,
                "FBSYNC_STATE_DIR": str(folder / "state"),
            }
            rep, seconds, rss = run_child(folder, env)
            counts = sb.app.request_count()["by_endpoint"]
            peak = sb.app.in_flight.peaks().get("POST /users", 0)
            refused = dict(sb.app.usage.refused)
            on_meta = next(a.member_count for a in sb.store.list_audiences() if a.data.get("name") == "everyone")
        recorded = _ledger_rows(folder / "state" / "state.db")
    calls = counts.get("POST /users", 0)
    return {
        "seconds": round(seconds, 1),
        "rows_sent": rep["added"],
        "calls": calls,
        "peak_in_flight": peak,
        "peak_rss_mb": round(rss),
        "exact": on_meta == recorded == rep["rows_desired"] and calls == -(-rep["added"] // 10_000),
        "refused": refused,
        "api_wait": rep["api"]["throttle_wait"],
    }


def _ledger_rows(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT COUNT(*) FROM ledger").fetchone()[0])
    finally:
        con.close()


@register("upload", "first sync of 1 M members with Meta-like latency: sequential vs concurrent batches")
def bench_upload(options: Options) -> Iterator[dict[str, Any]]:
    from .demo import seed

    slow = _slow(options.slow_ms)
    with tempfile.TemporaryDirectory(prefix="fbsync-bench-crm-") as tmp:
        crm = Path(tmp) / "crm.db"
        seed(crm, n=options.rows, seed=options.seed)
        times: dict[str, float] = {}
        for case, width in (("sequential", 1), ("concurrent", options.in_flight)):
            fig = _first_sync(crm, width, slow, "full", None)
            times[case] = fig["seconds"]
            yield {
                "case": case,
                "tier": "Full",
                "in_flight": width,
                "slow_ms": options.slow_ms,
                "rows": options.rows,
                **fig,
            }
        yield {
            "case": "ratio",
            "rows": options.rows,
            "sequential_s": times["sequential"],
            "concurrent_s": times["concurrent"],
            "ratio": round(times["sequential"] / times["concurrent"], 2),
            "target": 3.0,
            "peak_rss_mb": None,  # see each case (the sandbox shares this process)
        }
        small = Path(tmp) / "limited.db"
        seed(small, n=options.limited_rows, seed=options.seed)
        fig = _first_sync(small, options.in_flight, slow, "limited", 60.0)
        yield {
            "case": "limited",
            "tier": "Limited",
            "in_flight": options.in_flight,
            "rows": options.limited_rows,
            **fig,
        }
