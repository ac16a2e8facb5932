"""Benchmark group ``postgres``: reading a CRM segment from PostgreSQL into hashed members.

For 1 M and 5 M rows (``FBSYNC_BENCH_PG_SIZES``) of the demo's customers loaded into PostgreSQL
(``FBSYNC_BENCH_PG_URL``, default the test server), each case runs in a child process so its peak
RSS (VmHWM) is its own:

* ``copy``: ``COPY (SELECT …) TO STDOUT`` of the same columns through psycopg — the physical floor;
* ``fbsync``: :class:`fbsync.sources.crm.CrmSource` streaming (COPY drained in blocks and read ahead in a
  thread, text columns as Arrow arrays) hashed column-wise (:func:`fbsync.sources.columnar.hash_block`)
  into blocks of hashed fields, which a plan of such a segment seals and stages without building rows;
* ``fbsync-rows``: the same, the blocks then turned into rows of str (``Block.batch``), as a read with a
  suppression list or a set rule needs them;
* ``fbsync-lists``: the same COPY read as Python lists through ``hash_batch`` (before the column-wise path);
* ``fbsync-cursor``: the same through the server-side cursor (the reading before the COPY reader);
* ``pushdown``: the query rewritten by :mod:`fbsync.sources.pushdown` so PostgreSQL normalizes and hashes
  (only when that module is present);
* ``plan`` (the first size only): a complete ``fbsync plan`` of that segment as one audience, in a child
  process, after a first ``fbsync sync`` into the sandbox filled the ledger (not timed): reading, hashing,
  staging, encryption and the comparison with the ledger, which is what a weekly refresh does before it
  sends anything.

Each line's ``ratio_vs_copy`` divides its time by the ``copy`` floor of the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .bench import Options, register

URL = os.environ.get("FBSYNC_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TABLE = "fbsync_bench_customers"
QUERY = f"SELECT email, phone, first_name, last_name, city, zip, country FROM {TABLE}"
KEYS = {
    "EMAIL": "email",
    "PHONE": "phone",
    "FN": "first_name",
    "LN": "last_name",
    "CT": "city",
    "ZIP": "zip",
    "COUNTRY": "country",
}

CHILD = r"""
import json, sys, time
case, url, query, keys = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t = time.perf_counter(); rows = 0
if case == "copy":
    import psycopg
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor().copy(f"COPY ({query}) TO STDOUT") as cp:
            for block in cp:
                rows += bytes(block).count(b"\n")
else:
    from fbsync.sources.crm import CrmSource
    from fbsync import identity
    src = CrmSource(url)
    src.copy = case != "fbsync-cursor"  # the server-side cursor, as before the COPY reader
    # fbsync-lists: COPY's text as Python lists through hash_batch, as before the column-wise path
    if case == "pushdown":
        from fbsync.sources import pushdown
        with src.read_only() as conn:
            types = pushdown.describe(conn, query)
        pd = pushdown.plan_pushdown(keys, "FR", types)
        q = pushdown.rewrite(query, pd)
        with src.read_only() as conn:
            import sqlalchemy as sa
            res = conn.execution_options(stream_results=True, max_row_buffer=50000).execute(sa.text(q))
            while True:
                part = res.fetchmany(50000)
                if not part:
                    break
                rows += len(part)
    else:
        from fbsync.sources.columnar import hash_block, hash_members
        arrays = case in ("fbsync", "fbsync-rows")  # COPY's text as Arrow arrays, hashed column-wise
        for chunk in src.stream(query, list(keys.values()), "bench", arrays=arrays):
            cols = {k: chunk.columns[c] for k, c in keys.items()}
            if case == "fbsync":  # the hashed fields a plan seals and stages
                b = hash_block(cols, "FR")
            else:  # rows of str, as a read with a suppression list or a set rule needs them
                b = hash_members(cols, "FR") if arrays else identity.hash_batch(cols, "FR")
            rows += chunk.size
secs = time.perf_counter() - t
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"rows": rows, "seconds": round(secs, 2), "peak_rss_mb": round(int(hwm[0]) / 1024) if hwm else None}))
"""


COLUMNS = "email text, phone text, first_name text, last_name text, city text, zip text, country text"


@contextmanager
def demo_customers(n: int, seed: int) -> Iterator[Iterator[tuple[Any, ...]]]:
    """The rows of ``n`` demo customers (the columns of :data:`QUERY`), drawn into a scratch SQLite file."""
    import sqlite3

    from .demo import seed as make

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "crm.db"
        make(db, n=n, seed=seed)
        src = sqlite3.connect(db)
        try:
            yield src.execute("SELECT email, phone, first_name, last_name, city, zip, country FROM customers")
        finally:
            src.close()


def child_case(child: str, case: str, url: str) -> dict[str, Any]:
    """One case of a benchmark in a child process (its own peak RSS): the figures it prints."""
    p = subprocess.run(
        [sys.executable, "-c", child, case, url, QUERY, json.dumps(KEYS)], capture_output=True, text=True, check=False
    )
    if p.returncode != 0:
        raise RuntimeError(f"{case} failed: {p.stderr[-1500:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def _load(n: int, seed: int) -> None:
    """Put n demo customers into PostgreSQL with COPY (fast), replacing the previous table."""
    import psycopg

    with (
        demo_customers(n, seed) as rows,
        psycopg.connect(URL.replace("postgresql+psycopg://", "postgresql://")) as conn,
    ):
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(f"CREATE TABLE {TABLE} ({COLUMNS})")
        with conn.cursor().copy(f"COPY {TABLE} FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)


def _case(case: str) -> dict[str, Any]:
    return child_case(CHILD, case, URL)


@register("postgres", "reading 1 M / 5 M rows from PostgreSQL into hashed members, vs COPY")
def bench_postgres(options: Options) -> Iterator[dict[str, Any]]:
    import importlib.util

    sizes = [int(x) for x in os.environ.get("FBSYNC_BENCH_PG_SIZES", "1000000,5000000").split(",") if x]
    cases = ["copy", "fbsync", "fbsync-rows", "fbsync-lists", "fbsync-cursor"] + (
        ["pushdown"] if importlib.util.find_spec("fbsync.sources.pushdown") else []
    )
    for n in sizes:
        start = time.perf_counter()
        _load(n, options.seed)
        yield {"case": f"load_{n}", "rows": n, "seconds": round(time.perf_counter() - start, 1)}
        _case("copy")  # the first scan after a load sets PostgreSQL's hint bits: every case reads a settled table
        base = None
        for case in cases:
            fig = _case(case)
            base = base or fig["seconds"]
            yield {"case": f"{case}_{n}", **fig, "ratio_vs_copy": round(fig["seconds"] / base, 2)}
        if n == sizes[0] and base:
            fig = _plan()
            yield {"case": f"plan_{n}", **fig, "ratio_vs_copy": round(fig["seconds"] / base, 2)}


PLAN_YAML = f"""version: 1
ad_account_id: act_616161
crm: {{url: "{URL}"}}
defaults: {{default_country: FR, consent: null, max_shrink: 0.9}}
audiences:
  - name: everyone
    query: "{QUERY}"
    keys: {json.dumps(KEYS)}
"""


def _plan() -> dict[str, Any]:
    """``fbsync plan`` of the loaded segment, timed after a first sync filled the ledger."""
    from ..sandbox import running_sandbox
    from .bench_refresh import run_child

    with tempfile.TemporaryDirectory(prefix="fbsync-bench-plan-") as tmp:
        folder = Path(tmp)
        (folder / "audiences.yaml").write_text(PLAN_YAML, encoding="utf-8")
        with running_sandbox() as sb:
            env = {
                **os.environ,
                "FB_ACCESS_TOKEN": "bench-token-0000",
                "FBSYNC_GRAPH_URL": sb.url,
                "FBSYNC_STATE_DIR": str(folder / "state"),
            }
            run_child(folder, env)
            rep, seconds, rss = run_child(folder, env, "plan")
    return {"rows": rep["rows_read"], "seconds": round(seconds, 2), "peak_rss_mb": round(rss), "adds": rep["added"]}
