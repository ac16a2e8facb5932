"""A synthetic French CRM in one SQLite file, for demos, tests and benchmarks.

``seed`` (re)creates the file with a ``customers`` table of made-up French
customers that look like a real CRM export: accented names, postcodes that
match their city, phone numbers in every format people type, a few broken
e-mails, duplicated people, country written four different ways.  It also
writes a small ``optouts`` table for suppression features.

``churn`` then mutates that file the way a week of real life would (a few
customers leave, a few arrive, some change e-mail, some order again), so a
second sync has something to do.

Everything is drawn from one ``random.Random(seed)`` and a fixed reference date,
never the clock: the same seed gives the same table contents on every machine.
No personal data is real; the command line prints counts only.

    python -m fbsync.dev.demo seed demo/crm.db --rows 20000 --seed 42
    python -m fbsync.dev.demo churn demo/crm.db --seed 7 --fraction 0.01
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

from .demo_people import REF_DATE, Factory, fmt_fr, fmt_phone

__all__ = ["REF_DATE", "churn", "main", "seed"]


CUSTOMERS_DDL = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    city TEXT,
    zip TEXT,
    country TEXT,
    birth_date TEXT,
    gender TEXT,
    is_vip INTEGER,
    last_order_days INTEGER,
    consent INTEGER,
    updated_at TEXT,
    lifetime_value REAL,
    email_pro TEXT
)"""
# AUTOINCREMENT: ids are never reused after a delete, so a churned-in customer
# can never inherit the id of one who left (what a sync would misread as an edit).
OPTOUTS_DDL = "CREATE TABLE optouts (email TEXT, phone TEXT)"
_INSERT = (
    "INSERT INTO customers (id, email, phone, first_name, last_name, city, zip, country, birth_date, gender,"
    " is_vip, last_order_days, consent, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_COMPANIES = ("acme", "batiplus", "mutuelle-ouest", "logista", "agrinova", "cabinet-roux", "techsud", "hexafor")


def _unit(seed_: int, pid: int, salt: str) -> float:
    """A number in [0, 1) fixed by (seed, id, salt): the extra columns never shift the main draws."""
    h = hashlib.blake2b(f"{seed_}:{pid}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _fill_extras(conn: sqlite3.Connection, seed_: int) -> None:
    """``lifetime_value`` (euros, skewed: most spend little, VIPs and recent buyers more, a few outliers) and
    ``email_pro`` (about 12 % have a work address too) for the rows that have none yet."""
    rows = conn.execute(
        "SELECT id, first_name, last_name, is_vip, last_order_days FROM customers WHERE lifetime_value IS NULL"
    ).fetchall()
    out = []
    for pid, first, last, vip, lod in rows:
        u = _unit(seed_, pid, "ltv")
        ltv = 15 + 900 * u**3 + (1500 * _unit(seed_, pid, "vip") if vip else 0) + (200 if (lod or 999) <= 30 else 0)
        if _unit(seed_, pid, "outlier") < 0.002:
            ltv *= 60  # a reseller buying in bulk: the outliers a clip or a quality gate is for
        pro = None
        if _unit(seed_, pid, "pro") < 0.12 and first and last:
            local = ".".join(_ascii(x) for x in (first, last))
            company = _COMPANIES[int(_unit(seed_, pid, "company") * len(_COMPANIES))]
            pro = f"{local}@{company}.fr" if local.strip(".") else None
        out.append((round(ltv, 2), pro, pid))
    conn.executemany("UPDATE customers SET lifetime_value = ?, email_pro = ? WHERE id = ?", out)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(c for c in folded if c.isascii() and (c.isalnum() or c == "-"))


EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
"""What ``churn`` (and the tests) call a well-formed e-mail, after trimming."""


# ------------------------------------------------------------------------- phones


def _phone_key(phone: str | None) -> str | None:
    """Last nine digits: enough to keep generated numbers from colliding by accident."""
    if not phone:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    return digits[-9:] if len(digits) >= 9 and digits.strip("0") else None


def _metropolitan(country: str | None, zip_: str | None) -> bool:
    """A customer in mainland France or Corsica, whose number any French format fits."""
    return (country is None or country.upper() in ("FR", "FRANCE")) and not (zip_ or "").startswith("97")


# ------------------------------------------------------------------------- people


def _customers(f: Factory, n: int, first_id: int, dup_rate: float = 0.01) -> Iterator[tuple]:
    """``n`` rows; about ``dup_rate`` of them are a second record of an earlier person."""
    r = f.r
    pool: list[tuple] = []  # reservoir sample of earlier people, for duplicates
    cap = 5000
    for k in range(n):
        pid = first_id + k
        if pool and r() < dup_rate:
            p = pool[int(r() * len(pool))]
            x = r()
            if x < 0.5:  # same e-mail, same phone (maybe typed differently)
                yield f.row(pid, p, email_shared=True, phone_shared=True)
            elif x < 0.75:  # same e-mail, a new phone
                p2 = p[:10] + (f.new_phone(p[7], True),) + p[11:]
                yield f.row(pid, p2, email_shared=True)
            else:  # same phone, a new e-mail
                p2 = p[:9] + (f.new_email(p[2], p[4], p[7]),) + p[10:]
                yield f.row(pid, p2, phone_shared=True)
            continue
        p = f.person()
        if len(pool) < cap:
            pool.append(p)
        else:
            j = int(r() * (k + 1))
            if j < cap:
                pool[j] = p
        yield f.row(pid, p)


def _optouts(f: Factory, conn: sqlite3.Connection, n_customers: int) -> list[tuple]:
    """~50 opt-outs, ~80 % of them customers, written as the opt-out form got them."""
    r = f.r
    total = min(50, max(1, n_customers // 100)) if n_customers else 10
    known = min(n_customers, round(total * 0.8))
    out: list[tuple] = []
    picked: set[int] = set()
    tries = 0
    while len(out) < known and tries < known * 20:
        tries += 1
        cid = 1 + int(r() * n_customers)
        if cid in picked:
            continue
        picked.add(cid)
        email, phone, country, zip_ = conn.execute(
            "SELECT email, phone, country, zip FROM customers WHERE id = ?", (cid,)
        ).fetchone()
        email = email.strip() if email and EMAIL_SHAPE.match(email.strip()) else None
        nsn = _phone_key(phone)
        if email is None and nsn is None:
            continue
        if nsn is not None and _metropolitan(country, zip_) and r() < 0.5:
            phone = fmt_fr(nsn, r())  # typed differently on the opt-out form
        x = r()
        if email is not None and (x < 0.45 or nsn is None):
            row = (email.lower() if r() < 0.7 else email.upper(), None)
        elif nsn is not None and (x < 0.65 or email is None):
            row = (None, phone)
        else:
            row = (email, phone)
        out.append(row)
    while len(out) < total:  # people who never bought anything
        p = f.person()
        out.append((p[9], fmt_phone(p[7], p[10], r()) if r() < 0.3 else None))
    return out


# --------------------------------------------------------------------------- API
def _remove_db(path: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def _seed(path: str | Path, n: int, seed_: int) -> tuple[int, int]:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a whole number >= 0, got {n!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".seeding")
    _remove_db(tmp)
    rng = random.Random(seed_)
    f = Factory(rng, REF_DATE, set(), set())
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a fresh scratch file: nothing to roll back to
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(CUSTOMERS_DDL)
        conn.execute(OPTOUTS_DDL)
        conn.executemany(_INSERT, _customers(f, n, 1))
        _fill_extras(conn, seed_)
        opt = _optouts(f, conn, n)
        conn.executemany("INSERT INTO optouts VALUES (?, ?)", opt)
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        _remove_db(tmp)
        raise
    conn.close()
    _remove_db(path)
    os.replace(tmp, path)  # readers never see a half-written CRM
    return n, len(opt)


def seed(path: str | Path, n: int = 20_000, seed: int = 42) -> int:
    """(Re)create the SQLite CRM at ``path`` with ``n`` synthetic French customers.

    Parent directories are created and an existing file is replaced.  The same
    ``seed`` always gives the same table contents.  Returns the number of
    customers written.
    """
    return _seed(path, n, seed)[0]


def churn(path: str | Path, seed: int = 7, fraction: float = 0.01) -> dict[str, int]:
    """Age the CRM at ``path`` by one week, reproducibly.

    Every ``last_order_days`` grows by 7; then ``round(rows * fraction / 3)``
    customers are deleted, as many new ones are inserted (fresh ids, never
    reused), as many existing customers get a new e-mail (same name, another
    provider) and as many order again (``last_order_days`` 0-6).  Changed rows
    get an ``updated_at`` within the new week; the clock is the latest
    ``updated_at`` in the file plus 7 days, never the machine's.  Same file and
    same ``seed`` give the same result.  Returns the four counts.
    """
    if isinstance(fraction, bool) or not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CRM at {path}: run `python -m fbsync.dev.demo seed {path}` first")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute("SELECT id, email, phone FROM customers ORDER BY id").fetchall()
        last = conn.execute("SELECT max(updated_at) FROM customers").fetchone()[0]
        today = (date.fromisoformat(last[:10]) if last else REF_DATE) + timedelta(days=7)
        emails = {e.strip().lower() for _, e, _ in rows if e}
        phones = {key for _, _, p in rows if (key := _phone_key(p))}
        rng = random.Random(seed)
        f = Factory(rng, today, emails, phones)
        k = round(len(rows) * fraction / 3)

        def draw(ids: list[int], m: int) -> list[int]:  # partial Fisher-Yates on random() only
            ids = list(ids)
            m = min(m, len(ids))
            for i in range(m):
                j = i + int(rng.random() * (len(ids) - i))
                ids[i], ids[j] = ids[j], ids[i]
            return sorted(ids[:m])

        all_ids = [i for i, _, _ in rows]
        deleted = draw(all_ids, k)
        gone = set(deleted)
        valid = [i for i, e, _ in rows if i not in gone and e and EMAIL_SHAPE.match(e.strip())]
        email_changed = draw(valid, k)
        touched = gone | set(email_changed)
        reordered = draw([i for i in all_ids if i not in touched], k)

        conn.execute("UPDATE customers SET last_order_days = last_order_days + 7")
        conn.executemany("DELETE FROM customers WHERE id = ?", [(i,) for i in deleted])
        by_id = {i: e for i, e, _ in rows}
        conn.executemany(
            "UPDATE customers SET email = ?, updated_at = ? WHERE id = ?",
            [(f.changed_email(by_id[i]), f._timestamp(int(rng.random() * 7)), i) for i in email_changed],
        )
        upd = []
        for i in reordered:
            lod = int(rng.random() * 7)
            upd.append((lod, f._timestamp(lod), i))
        conn.executemany("UPDATE customers SET last_order_days = ?, updated_at = ? WHERE id = ?", upd)
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'customers'").fetchone()
        next_id = max(seq[0] if seq else 0, all_ids[-1] if all_ids else 0) + 1
        new_rows = []
        for j in range(k):
            lod = int(rng.random() * 7)
            new_rows.append(f.row(next_id + j, f.person(), lod=lod, updated_days_ago=lod))
        conn.executemany(_INSERT, new_rows)
        _fill_extras(conn, seed)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()
    return {
        "deleted": len(deleted),
        "inserted": len(new_rows),
        "email_changed": len(email_changed),
        "reordered": len(reordered),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fbsync.dev.demo",
        description="Synthetic French CRM (SQLite) for demos and benchmarks. Prints counts only.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seed", help="(re)create PATH with synthetic customers")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--rows", type=int, default=20_000, help="customers to write (default 20000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p = sub.add_parser("churn", help="mutate PATH like one week of real life")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument(
        "--fraction",
        type=float,
        default=0.01,
        help="share of customers touched, split over delete/insert/new e-mail (default 0.01)",
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    try:
        if args.command == "seed":
            if args.rows < 0:
                parser.error("--rows must be >= 0")
            n, n_opt = _seed(args.path, args.rows, args.seed)
            print(f"seeded {n} customers and {n_opt} opt-outs into {args.path} in {time.perf_counter() - t0:.1f} s")
        else:
            if not 0 <= args.fraction <= 1:
                parser.error("--fraction must be between 0 and 1")
            c = churn(args.path, seed=args.seed, fraction=args.fraction)
            print("churned: " + " ".join(f"{k}={v}" for k, v in c.items()) + f" in {time.perf_counter() - t0:.1f} s")
    except (OSError, sqlite3.Error) as e:
        parser.exit(2, f"error: {e}\n")
    return 0


if __name__ == "__main__":
    main()
