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
import os
import random
import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

from .demo_data import (
    CITY_TABLE,
    COUNTRY_TABLE,
    DOM,
    DOMAIN_TABLE,
    FEMALE_LABELS,
    FIRST_TABLE,
    GARBAGE_PHONES,
    LAST_TABLE,
    MALE_LABELS,
)

__all__ = ["REF_DATE", "churn", "main", "seed"]

#: "Today" of a freshly seeded CRM.  Fixed so that contents never depend on the clock.
REF_DATE = date(2025, 6, 1)

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
    updated_at TEXT
)"""
# AUTOINCREMENT: ids are never reused after a delete, so a churned-in customer
# can never inherit the id of one who left (what a sync would misread as an edit).
OPTOUTS_DDL = "CREATE TABLE optouts (email TEXT, phone TEXT)"
_INSERT = "INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"

EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
"""What ``churn`` (and the tests) call a well-formed e-mail, after trimming."""


# ------------------------------------------------------------------------- phones
def _fmt_fr(nsn: str, style: float) -> str:
    """Write a French national significant number (9 digits) the way people do."""
    d = "0" + nsn
    p = (d[0:2], d[2:4], d[4:6], d[6:8], d[8:10])
    if style < 0.34:
        return " ".join(p)  # 06 12 34 56 78
    if style < 0.58:
        return d  # 0612345678
    if style < 0.68:
        return f"+33 {nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # +33 6 12 34 56 78
    if style < 0.76:
        return "+33" + nsn  # +33612345678
    if style < 0.80:
        return f"+33 (0){nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # +33 (0)6 12 34 56 78
    if style < 0.84:
        return "0033" + nsn  # 0033612345678
    if style < 0.92:
        return ".".join(p)  # 06.12.34.56.78
    if style < 0.96:
        return "-".join(p)  # 06-12-34-56-78
    if style < 0.98:
        return "33" + nsn  # 33612345678
    return f"{nsn[0]} {p[1]} {p[2]} {p[3]} {p[4]}"  # 6 12 34 56 78 (spreadsheet ate the 0)


def _fmt_phone(region: str, nsn: str, style: float) -> str:
    if region in DOM:
        if style < 0.3:  # the correct international form uses the DOM's own code
            cc = DOM[region][2]
            return f"+{cc} {nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"
        return _fmt_fr(nsn, style * 0.6)  # national styles only
    if region == "BE":
        if style < 0.4:
            return f"0{nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"  # 0475 12 34 56
        if style < 0.7:
            return f"+32 {nsn[0:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}"  # +32 475 12 34 56
        if style < 0.85:
            return f"0{nsn[0:3]}/{nsn[3:5]}.{nsn[5:7]}.{nsn[7:9]}"  # 0475/12.34.56
        return "0032" + nsn
    if region == "CH":
        if style < 0.45:
            return f"0{nsn[0:2]} {nsn[2:5]} {nsn[5:7]} {nsn[7:9]}"  # 079 123 45 67
        if style < 0.85:
            return f"+41 {nsn[0:2]} {nsn[2:5]} {nsn[5:7]} {nsn[7:9]}"  # +41 79 123 45 67
        return "0041" + nsn
    if region == "LU":
        if style < 0.5:
            return f"+352 {nsn[0:3]} {nsn[3:6]} {nsn[6:9]}"  # +352 621 123 456
        if style < 0.8:
            return f"{nsn[0:3]} {nsn[3:6]} {nsn[6:9]}"  # 621 123 456
        return "00352" + nsn
    return _fmt_fr(nsn, style)


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
class _Factory:
    """Draws people and renders them as CRM rows; every draw comes from ``rng``.

    ``emails`` and ``phones`` hold what is already taken, so two different
    people never share an address or a number by accident: the only shared
    ones are the deliberate duplicates.
    """

    def __init__(self, rng: random.Random, today: date, emails: set[str], phones: set[str]) -> None:
        self.r = rng.random
        self.today = today.toordinal()
        self.emails = emails
        self.phones = phones
        self._dates: dict[int, str] = {}

    def _iso(self, ordinal: int) -> str:
        s = self._dates.get(ordinal)
        if s is None:
            s = self._dates[ordinal] = date.fromordinal(ordinal).isoformat()
        return s

    def _timestamp(self, days_ago: int) -> str:
        s = int(self.r() * 86400)
        return f"{self._iso(self.today - days_ago)}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def new_email(self, first_ascii: str, last_ascii: str, region: str, domain: str | None = None) -> str:
        r = self.r
        f, la = first_ascii, last_ascii.replace("-", "") if r() < 0.5 else last_ascii
        x = r()
        if x < 0.40:
            local = f"{f}.{la}"
        elif x < 0.50:
            local = f + la
        elif x < 0.58:
            local = f"{f[0]}.{la}"
        elif x < 0.62:
            local = f"{f}_{la}"
        elif x < 0.68:
            local = f"{la}.{f}"
        elif x < 0.83:
            local = f"{f}.{la}{int(r() * 99) + 1:02d}"
        elif x < 0.90:
            local = f"{f}{la}{1950 + int(r() * 56)}"
        elif x < 0.95:
            local = f"{f}{int(r() * 999) + 1}"
        else:
            local = f"{f[0]}{la}"
        if domain is None:
            t = DOMAIN_TABLE[region if region in DOMAIN_TABLE else "FR"]
            domain = t[int(r() * len(t))]
        email = f"{local}@{domain}"
        while email in self.emails:
            email = f"{local}{int(r() * 9000) + 100}@{domain}"
        self.emails.add(email)
        return email

    def new_phone(self, region: str, mobile: bool) -> str:
        r = self.r
        while True:
            if region in DOM:
                mob, land, _ = DOM[region]
                pre = mob[int(r() * len(mob))] if mobile else land
                nsn = f"{pre}{int(r() * 1_000_000):06d}"
            elif region == "BE":
                nsn = f"4{7 + int(r() * 3)}{int(r() * 10_000_000):07d}"
            elif region == "CH":
                nsn = f"7{5 + int(r() * 5)}{int(r() * 10_000_000):07d}"
            elif region == "LU":
                nsn = f"6{('21', '61', '91')[int(r() * 3)]}{int(r() * 1_000_000):06d}"
            elif mobile:
                nsn = (
                    f"6{int(r() * 100_000_000):08d}" if r() < 0.8 else f"7{3 + int(r() * 7)}{int(r() * 10_000_000):07d}"
                )
            else:
                pre = region if r() < 0.85 else "9"  # 09: internet-box numbers
                nsn = f"{pre}{int(r() * 100_000_000):08d}"
            if nsn not in self.phones:
                self.phones.add(nsn)
                return nsn

    def person(self) -> tuple:
        """A person as the CRM knows them, before any typing noise."""
        r = self.r
        first, sex, fa = FIRST_TABLE[int(r() * len(FIRST_TABLE))]
        if sex == "X":
            sex = "F" if r() < 0.5 else "M"
        last, la = LAST_TABLE[int(r() * len(LAST_TABLE))]
        city, zips, region, city_plain = CITY_TABLE[int(r() * len(CITY_TABLE))]
        zip_ = zips[int(r() * len(zips))]
        email = self.new_email(fa, la, region)
        nsn = self.new_phone(region, r() < 0.85)
        x = r()
        if x < 0.12:
            birth = None
        elif x < 0.122:
            birth = "1900-01-01"  # the CRM's "unknown" placeholder
        else:
            age_days = int((18 + 62 * (r() + r()) / 2) * 365.25)
            birth = self._iso(REF_DATE.toordinal() - age_days)
        return (first, sex, fa, last, la, city, zip_, region, city_plain, email, nsn, birth)

    def row(
        self,
        pid: int,
        p: tuple,
        *,
        email_shared: bool = False,
        phone_shared: bool = False,
        lod: int | None = None,
        updated_days_ago: int | None = None,
    ) -> tuple:
        """Render person ``p`` as a ``customers`` row, with the mess real CRMs have.

        A shared e-mail or phone (a deliberate duplicate) is kept well-formed so
        that the two rows really do collide after normalisation.
        """
        r = self.r
        first, sex, fa, last, la, city, zip_, region, city_plain, email, nsn, birth = p

        # e-mail: ~3 % missing, ~2 % malformed, some mixed case or padded with spaces
        x = r()
        if not email_shared and x < 0.024:
            email = None
        elif not email_shared and x < 0.03:
            email = ""
        elif not email_shared and x < 0.05:
            local, _, domain = email.partition("@")
            y = r()
            if y < 0.25:
                email = local + "@"  # jean.dupont@
            elif y < 0.45:
                email = f"{local}.{domain}"  # jean.dupont.orange.fr
            elif y < 0.65:
                email = f"{fa} {la}@{domain}"  # jean dupont@free.fr
            elif y < 0.78:
                email = f"{local}@@{domain}"  # jean.dupont@@gmail.com
            elif y < 0.90:
                email = f"{local}@{domain.rsplit('.', 1)[0]}"  # jean.dupont@gmail
            else:
                email = f"{local}@{domain.replace('.', ',')}"  # jean.dupont@gmail,com
        else:
            y = r()
            if y < 0.04:  # Jean.Dupont@Orange.fr
                local, _, domain = email.partition("@")
                email = f"{'.'.join(w.capitalize() for w in local.split('.'))}@{domain.capitalize()}"
            elif y < 0.05:
                email = email.upper()
            if r() < 0.02:
                email = (" " + email + " ") if r() < 0.5 else (email + " ")

        # phone: ~5 % missing, ~1 % garbage, otherwise one of many formats
        x = r()
        if not phone_shared and x < 0.04:
            phone = None
        elif not phone_shared and x < 0.05:
            phone = ""
        elif not phone_shared and x < 0.06:
            phone = GARBAGE_PHONES[int(r() * len(GARBAGE_PHONES))]
        else:
            phone = _fmt_phone(region, nsn, r())

        # names and places, as typed
        x = r()
        if x < 0.12:
            last = last.upper()  # DUPONT: the French paperwork habit
        elif x < 0.14:
            last = last.lower()
        x = r()
        if x < 0.02:
            first = first.lower()
        elif x < 0.03:
            first = first.upper()
        elif x < 0.04:
            first = first + " "
        x = r()
        if x < 0.03:
            city = city.upper()
        elif x < 0.05:
            city = city_plain  # Saint-Etienne, Besancon
        if zip_[0] == "0" and r() < 0.15:
            zip_ = zip_[1:]  # 6000: a spreadsheet ate the leading zero
        elif region == "LU" and r() < 0.5:
            zip_ = "L-" + zip_
        t = COUNTRY_TABLE[region if region in COUNTRY_TABLE else "FR"]
        country = t[int(r() * len(t))]
        t = FEMALE_LABELS if sex == "F" else MALE_LABELS
        gender = t[int(r() * len(t))]

        is_vip = 1 if r() < 0.08 else 0
        consent = 1 if r() < 0.85 else 0
        if lod is None:
            lod = int(r() * 31) if r() < 0.25 else 31 + int(690 * r() ** 1.6)
        if updated_days_ago is None:
            updated_days_ago = int(r() * (lod + 1))
        return (
            pid,
            email,
            phone,
            first,
            last,
            city,
            zip_,
            country,
            birth,
            gender,
            is_vip,
            lod,
            consent,
            self._timestamp(updated_days_ago),
        )

    def changed_email(self, email: str) -> str:
        """Same person, new provider: ``jean.dupont@orange.fr`` -> ``jean.dupont@gmail.com``."""
        local, _, old = email.strip().lower().partition("@")
        t = DOMAIN_TABLE["FR"]
        domain = old
        while domain == old:
            domain = t[int(self.r() * len(t))]
        new = f"{local}@{domain}"
        while new in self.emails:
            new = f"{local}{int(self.r() * 9000) + 100}@{domain}"
        self.emails.add(new)
        return new


def _customers(f: _Factory, n: int, first_id: int, dup_rate: float = 0.01) -> Iterator[tuple]:
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


def _optouts(f: _Factory, conn: sqlite3.Connection, n_customers: int) -> list[tuple]:
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
            phone = _fmt_fr(nsn, r())  # typed differently on the opt-out form
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
        out.append((p[9], _fmt_phone(p[7], p[10], r()) if r() < 0.3 else None))
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
    f = _Factory(rng, REF_DATE, set(), set())
    conn = sqlite3.connect(tmp, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a fresh scratch file: nothing to roll back to
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        conn.execute(CUSTOMERS_DDL)
        conn.execute(OPTOUTS_DDL)
        conn.executemany(_INSERT, _customers(f, n, 1))
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
        phones = {k for _, _, p in rows if (k := _phone_key(p))}
        rng = random.Random(seed)
        f = _Factory(rng, today, emails, phones)
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
