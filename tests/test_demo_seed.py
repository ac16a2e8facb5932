"""The synthetic French CRM (fbsync.dev.demo): reproducible, realistic, and fast."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from fbsync.dev import demo, demo_data

N = 20_000
COLUMNS = [
    "id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "zip",
    "country",
    "birth_date",
    "gender",
    "is_vip",
    "last_order_days",
    "consent",
    "updated_at",
    "lifetime_value",
    "email_pro",
]


def _rows(path: Path, table: str = "customers") -> list[tuple]:
    with sqlite3.connect(path) as conn:
        order = "id" if table == "customers" else "rowid"
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()


def _valid(email: str | None) -> bool:
    return bool(email) and bool(demo.EMAIL_SHAPE.match(email.strip()))


@pytest.fixture(scope="module")
def crm(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crm") / "nested" / "dir" / "crm.db"  # parents are created
    assert demo.seed(path, n=N, seed=42) == N
    return path


@pytest.fixture(scope="module")
def rows(crm) -> list[tuple]:
    return _rows(crm)


# ------------------------------------------------------------------ shape & seed
def test_schema_is_exactly_the_documented_one(crm):
    with sqlite3.connect(crm) as conn:
        info = conn.execute("PRAGMA table_info(customers)").fetchall()
        assert [c[1] for c in info] == COLUMNS
        types = {c[1]: c[2] for c in info}
        assert types["id"] == "INTEGER" and info[0][5] == 1  # the primary key
        assert {types[c] for c in ("is_vip", "last_order_days", "consent")} == {"INTEGER"}
        assert types["lifetime_value"] == "REAL"
        numbers = ("id", "is_vip", "last_order_days", "consent", "lifetime_value")
        assert all(types[c] == "TEXT" for c in COLUMNS if c not in numbers)
        assert [c[1] for c in conn.execute("PRAGMA table_info(optouts)")] == ["email", "phone"]


def test_row_count_and_ids(rows):
    assert len(rows) == N
    assert [r[0] for r in rows] == list(range(1, N + 1))


def test_same_seed_same_contents_different_seed_different(tmp_path, rows, crm):
    again = tmp_path / "again.db"
    demo.seed(again, n=N, seed=42)
    assert _rows(again) == rows
    assert _rows(again, "optouts") == _rows(crm, "optouts")
    other = tmp_path / "other.db"
    demo.seed(other, n=N, seed=43)
    other_rows = _rows(other)
    assert len(other_rows) == N and other_rows != rows
    assert sum(a != b for a, b in zip(rows, other_rows)) > N * 0.9


def test_seed_overwrites_an_existing_file(tmp_path):
    path = tmp_path / "crm.db"
    path.write_bytes(b"not a database at all")
    assert demo.seed(path, n=500, seed=1) == 500
    assert len(_rows(path)) == 500
    assert demo.seed(path, n=300, seed=1) == 300
    assert len(_rows(path)) == 300
    assert not list(tmp_path.glob("*.seeding*"))  # no scratch file left behind


def test_small_and_empty_crms(tmp_path):
    assert demo.seed(tmp_path / "empty.db", n=0) == 0
    assert _rows(tmp_path / "empty.db") == []
    assert demo.seed(tmp_path / "one.db", n=1) == 1
    with pytest.raises(ValueError):
        demo.seed(tmp_path / "bad.db", n=-1)


def test_20k_rows_in_well_under_two_seconds(tmp_path):
    t0 = time.perf_counter()
    demo.seed(tmp_path / "timed.db", n=N, seed=5)
    assert time.perf_counter() - t0 < 2.0


# ------------------------------------------------------------------ realism
def test_names_carry_french_accents(rows):
    firsts = {r[3].strip() for r in rows}
    lasts = {r[4] for r in rows}
    assert {"Élodie", "François", "Hélène", "Jérôme", "Zoé", "Anaïs", "Loïc", "Gaëlle", "Noël", "Maël"} <= firsts
    assert {"Lefèvre", "Müller-Durand", "D'Almeida", "Le Goff", "Ménard", "Bernard"} <= lasts
    accented = sum(1 for r in rows if re.search(r"[À-ÿŒœ]", r[3] + r[4]))
    assert accented > N * 0.2
    assert any(r[4].isupper() for r in rows)  # DUPONT, as French forms often have it


def test_cities_match_their_postcodes(rows):
    zips = {}
    for r in rows:
        zips.setdefault(r[5], set()).add(r[6])
    assert zips["Paris"] <= {f"750{i:02d}" for i in range(1, 21)} and len(zips["Paris"]) == 20
    assert zips["Lyon"] <= {f"6900{i}" for i in range(1, 10)}
    assert zips["Marseille"] <= {f"130{i:02d}" for i in range(1, 17)}
    for city, code in [
        ("Saint-Étienne", "42000"),
        ("Besançon", "25000"),
        ("Orléans", "45000"),
        ("Nîmes", "30000"),
        ("Clermont-Ferrand", "63000"),
        ("Aix-en-Provence", "13100"),
        ("Ajaccio", "20000"),
        ("Fort-de-France", "97200"),
    ]:
        assert code in zips[city], city
    assert all(re.fullmatch(r"(L-)?\d{4,5}", r[6]) for r in rows)


def test_phone_formats_are_mixed(rows):
    phones = [r[2] for r in rows]
    shapes = Counter(re.sub(r"\d", "9", p) for p in phones if p)
    for shape in [
        "99 99 99 99 99",
        "9999999999",
        "+99 9 99 99 99 99",
        "+99 (9)9 99 99 99 99",
        "9999999999999",
        "99.99.99.99.99",
    ]:
        assert shapes[shape] > N * 0.01, shape
    assert any(p and p.startswith("0033") for p in phones)
    assert any(p and re.fullmatch(r"0[1-5]( \d\d){4}", p) for p in phones)  # landlines
    missing = sum(1 for p in phones if not p)
    assert 0.035 * N < missing < 0.065 * N
    garbage = sum(1 for p in phones if p and sum(c.isdigit() for c in p) < 8)
    assert 0.005 * N < garbage < 0.02 * N
    assert "n/a" in phones or "12" in phones


def test_emails_are_derived_from_names_and_messy(rows):
    emails = [r[1] for r in rows]
    present = [e for e in emails if e]
    assert 0.02 * N < N - len(present) < 0.04 * N  # ~3 % missing
    invalid = [e for e in present if not _valid(e)]
    assert 0.015 * N < len(invalid) < 0.025 * N  # ~2 % malformed
    assert any(e.endswith("@") for e in invalid)
    assert any("@" not in e for e in invalid)
    assert any(" " in e.strip() for e in invalid)
    assert any(e != e.strip() for e in present)  # surrounding spaces
    assert any(e.strip() != e.strip().lower() and _valid(e) for e in present)  # Jean.Dupont@Orange.fr
    assert all(e.isascii() for e in present)  # accents stripped
    domains = Counter(e.strip().lower().rsplit("@", 1)[-1] for e in present if _valid(e))
    for d in ["gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr", "yahoo.fr", "outlook.fr"]:
        assert domains[d] > 0, d
    by_id = {r[0]: r for r in rows}
    elodie = [r for r in by_id.values() if r[3] == "Élodie" and r[4] == "Lefèvre" and _valid(r[1])]
    assert not elodie or any("elodie" in r[1].lower() or "lefevre" in r[1].lower() for r in elodie)
    derived = sum(
        1
        for r in rows
        if _valid(r[1]) and re.sub(r"[^a-z]", "", demo_data._ascii(r[4]))[:4] in r[1].lower().replace("-", "")
    )
    assert derived > N * 0.8


def test_duplicated_people_are_present(rows):
    emails = Counter(r[1].strip().lower() for r in rows if _valid(r[1]))
    phones = Counter(k for r in rows if (k := demo._phone_key(r[2])))
    dup_email_rows = sum(c for c in emails.values() if c > 1)
    dup_phone_rows = sum(c for c in phones.values() if c > 1)
    assert 0.005 * N < dup_email_rows < 0.03 * N
    assert 0.005 * N < dup_phone_rows < 0.03 * N
    # a duplicate is the same person: same first-name spelling (modulo case) on both ids
    by_email: dict[str, list[tuple]] = {}
    for r in rows:
        if _valid(r[1]):
            by_email.setdefault(r[1].strip().lower(), []).append(r)
    pairs = [v for v in by_email.values() if len(v) > 1]
    assert all(len({r[3].strip().lower() for r in v}) == 1 for v in pairs)


def test_country_gender_vip_orders_consent(rows):
    countries = Counter(r[7] for r in rows)
    assert countries["FR"] > 0.75 * N
    assert {"France", "fr", "BE", "Belgique", "CH", "LU"} <= set(countries)
    assert {r[9] for r in rows} <= {"Homme", "Femme", "M", "F", "Mme", "M.", None}
    assert {"Homme", "Femme", "M", "F", "Mme", "M.", None} == {r[9] for r in rows}
    vip = sum(r[10] for r in rows) / N
    assert 0.065 < vip < 0.095
    consent = sum(r[12] for r in rows) / N
    assert 0.83 < consent < 0.87
    assert {r[10] for r in rows} == {0, 1} and {r[12] for r in rows} == {0, 1}
    lod = [r[11] for r in rows]
    assert min(lod) >= 0 and max(lod) <= 720
    assert 0.22 < sum(1 for d in lod if d <= 30) / N < 0.28


def test_dates_are_iso(rows):
    births = [r[8] for r in rows]
    assert any(b is None for b in births)
    assert all(b is None or re.fullmatch(r"\d{4}-\d\d-\d\d", b) for b in births)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", r[13]) for r in rows)
    assert max(r[13] for r in rows) < demo.REF_DATE.isoformat() + "T23:59:60"


def test_optouts_are_mostly_customers(crm, rows):
    optouts = _rows(crm, "optouts")
    assert 45 <= len(optouts) <= 55
    assert all(e or p for e, p in optouts)
    emails = {r[1].strip().lower() for r in rows if _valid(r[1])}
    phones = {demo._phone_key(r[2]) for r in rows} - {None}
    known = sum(1 for e, p in optouts if (e and e.strip().lower() in emails) or demo._phone_key(p) in phones)
    assert len(optouts) * 0.6 <= known < len(optouts)


# ------------------------------------------------------------------ churn
@pytest.fixture
def churned_pair(crm, tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    shutil.copy(crm, a)
    shutil.copy(crm, b)
    return a, b


def test_churn_counts_and_reproducibility(churned_pair, rows):
    a, b = churned_pair
    counts = demo.churn(a, seed=7, fraction=0.01)
    assert counts == {"deleted": 67, "inserted": 67, "email_changed": 67, "reordered": 67}
    assert demo.churn(b, seed=7, fraction=0.01) == counts
    after = _rows(a)
    assert after == _rows(b)
    assert len(after) == N

    before = {r[0]: r for r in rows}
    now = {r[0]: r for r in after}
    assert len(set(before) - set(now)) == 67  # deleted
    new_ids = set(now) - set(before)
    assert len(new_ids) == 67 and min(new_ids) > max(before)  # inserted with fresh ids
    kept = set(before) & set(now)
    changed_email = [i for i in kept if now[i][1] != before[i][1]]
    assert len(changed_email) == 67
    for i in changed_email:  # same person, another provider
        old_local = before[i][1].strip().lower().split("@")[0]
        assert now[i][1].startswith(old_local) and _valid(now[i][1])
        assert now[i][1].split("@")[1] != before[i][1].strip().lower().split("@")[1]
    aged = [i for i in kept if now[i][11] == before[i][11] + 7]
    reordered = [i for i in kept if now[i][11] <= 6 and now[i][11] != before[i][11] + 7]
    assert len(reordered) == 67
    assert len(aged) == len(kept) - 67
    assert all(0 <= now[i][11] <= 6 for i in new_ids)
    touched = set(changed_email) | set(reordered) | new_ids
    assert all(now[i][13] > max(r[13] for r in rows) for i in touched)
    assert all(now[i][13] == before[i][13] for i in kept - touched)


def test_churn_other_seed_differs_and_ids_stay_unique(churned_pair):
    a, b = churned_pair
    demo.churn(a, seed=7)
    demo.churn(b, seed=8)
    assert _rows(a) != _rows(b)
    for _ in range(3):  # week after week: ids never collide nor get reused
        before = {r[0] for r in _rows(a)}
        demo.churn(a, seed=9)
        after = [r[0] for r in _rows(a)]
        assert len(after) == len(set(after))
        assert min(set(after) - before) > max(before)
    with sqlite3.connect(a) as conn:
        emails = [e.strip().lower() for (e,) in conn.execute("SELECT email FROM customers") if _valid(e)]
    # only the seeded duplicates share an address, churn adds none
    assert sum(c for c in Counter(emails).values() if c > 1) < 0.03 * N


def test_churn_fraction_scales_and_validates(crm, tmp_path):
    path = tmp_path / "c.db"
    shutil.copy(crm, path)
    assert demo.churn(path, fraction=0.03) == {"deleted": 200, "inserted": 200, "email_changed": 200, "reordered": 200}
    assert demo.churn(path, fraction=0.0) == {"deleted": 0, "inserted": 0, "email_changed": 0, "reordered": 0}
    with pytest.raises(ValueError):
        demo.churn(path, fraction=1.5)
    with pytest.raises(FileNotFoundError):
        demo.churn(tmp_path / "missing.db")


# ------------------------------------------------------------------ command line
def test_cli_prints_counts_only(tmp_path, capsys):
    path = tmp_path / "cli" / "crm.db"
    assert demo.main(["seed", str(path), "--rows", "1000", "--seed", "3"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("seeded 1000 customers") and "\n" not in out
    assert "@" not in out
    assert demo.main(["churn", str(path), "--seed", "3", "--fraction", "0.03"]) == 0
    out = capsys.readouterr().out.strip()
    assert "deleted=10" in out and "inserted=10" in out and "email_changed=10" in out and "reordered=10" in out
    assert "@" not in out and "\n" not in out
    with pytest.raises(SystemExit):
        demo.main(["seed", str(path), "--rows", "-5"])
