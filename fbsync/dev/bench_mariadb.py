"""Benchmark group ``mariadb``: reading a CRM segment from MariaDB/MySQL into hashed members.

The demo's customers (``FBSYNC_BENCH_MYSQL_SIZES``, default 1 M rows) are loaded into MariaDB
(``FBSYNC_BENCH_MYSQL_URL``, default the test server); each case runs in a child process:

* ``fetch``: the same query through PyMySQL's unbuffered cursor (``SSCursor``, rows streamed from the
  server as they are read, ``fetchmany``), counting rows: the fastest streaming path the driver offers,
  and the floor;
* ``fbsync``: :class:`fbsync.sources.crm.CrmSource` streaming (a read-only transaction, the same
  unbuffered cursor under SQLAlchemy), each chunk's text turned into Arrow arrays and hashed column-wise
  (:func:`fbsync.sources.columnar.arrow_text`, :func:`~fbsync.sources.columnar.hash_block`), as a plan
  reads such a segment;
* ``fbsync-lists``: the same, hashed from the cursor's lists (:func:`fbsync.identity.hash_batch`), as before;
* ``buffered``: PyMySQL's default cursor, which reads the whole result into memory first (what a
  driver does unless told to stream), for its memory.

Each line's ``ratio_vs_fetch`` divides its time by the ``fetch`` floor of the same run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from itertools import islice
from typing import Any

from .bench import Options, register
from .bench_postgres import COLUMNS, TABLE, child_case, demo_customers

URL = os.environ.get("FBSYNC_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4")

CHILD = r"""
import json, sys, time
case, url, query, keys = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
t = time.perf_counter(); rows = 0
if case in ("fetch", "buffered"):
    import pymysql, pymysql.cursors
    from sqlalchemy.engine import make_url
    u = make_url(url)
    conn = pymysql.connect(host=u.host, port=u.port or 3306, user=u.username, password=u.password or "",
                           database=u.database, charset="utf8mb4")
    cur = conn.cursor(pymysql.cursors.SSCursor if case == "fetch" else pymysql.cursors.Cursor)
    cur.execute(query)
    while True:
        part = cur.fetchmany(50000)
        if not part:
            break
        rows += len(part)
    conn.close()
else:
    from fbsync import identity
    from fbsync.sources import columnar
    from fbsync.sources.crm import CrmSource
    src = CrmSource(url)
    for chunk in src.stream(query, list(keys.values()), "bench"):
        cols = {k: chunk.columns[c] for k, c in keys.items()}
        if case == "fbsync":  # text to Arrow arrays, hashed column-wise: the fields a plan seals and stages
            columnar.hash_block(columnar.arrow_text(cols), "FR")
        else:  # fbsync-lists: hash_batch on the cursor's lists, as before
            identity.hash_batch(cols, "FR")
        rows += chunk.size
secs = time.perf_counter() - t
hwm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")]
print(json.dumps({"rows": rows, "seconds": round(secs, 2), "peak_rss_mb": round(int(hwm[0]) / 1024) if hwm else None}))
"""


def _load(n: int, seed: int) -> None:
    """Put n demo customers into MariaDB (multi-row INSERTs), replacing the previous table."""
    import sqlalchemy as sa

    eng = sa.create_engine(URL)
    with demo_customers(n, seed) as rows, eng.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {TABLE}")
        conn.exec_driver_sql(f"CREATE TABLE {TABLE} ({COLUMNS}) CHARACTER SET utf8mb4")
        raw = conn.connection.driver_connection
        assert raw is not None, "a checked-out connection has its driver's connection"
        with raw.cursor() as out:
            while part := list(islice(rows, 5000)):
                out.executemany(f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s, %s, %s, %s)", part)
    eng.dispose()


def _case(case: str) -> dict[str, Any]:
    return child_case(CHILD, case, URL)


@register("mariadb", "reading 1 M rows from MariaDB into hashed members, vs the driver's streaming fetch")
def bench_mariadb(options: Options) -> Iterator[dict[str, Any]]:
    sizes = [int(x) for x in os.environ.get("FBSYNC_BENCH_MYSQL_SIZES", "1000000").split(",") if x]
    for n in sizes:
        start = time.perf_counter()
        _load(n, options.seed)
        yield {"case": f"load_{n}", "rows": n, "seconds": round(time.perf_counter() - start, 1)}
        _case("fetch")  # warm the server's buffer pool: every case reads a settled table
        base = None
        for case in ("fetch", "fbsync", "fbsync-lists", "buffered"):
            fig = _case(case)
            base = base or fig["seconds"]
            yield {"case": f"{case}_{n}", **fig, "ratio_vs_fetch": round(fig["seconds"] / base, 2)}
