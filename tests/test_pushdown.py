"""Push-down (``hash_in_database``): PostgreSQL's output equals the Python identity engine.

Every pushed key of every row of a table of tricky values (and of the demo CRM) is
compared with :func:`fbsync.identity.hash_one`: same value to send, same drop, same
reason.  The tables the SQL embeds (case mapping, character classes) and the
database's NFC/NFKD are also checked character by character over their whole domain.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import os
import random
import re
import sqlite3
import string
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fbsync.errors import ConfigError
from fbsync.identity import hash_batch, hash_one
from fbsync.identity._text import _FOLD_SPECIAL, fold_ascii
from fbsync.sources import pushdown as pd
from fbsync.sources import pushdown_sql as pds
from fbsync.sources.crm import CrmSource

TEXT_KEYS = pd.TEXT_KEYS
ALL_ON_V = dict.fromkeys(TEXT_KEYS, "v")
SHA = "5E884898DA28047151D0E56F8DC6292773603D0D6AABBDD62A11EF721D1542D8"

# Every example of docs/identity.md for the pushed keys, then tricky values.
DOC_EXAMPLES = [
    "jean@",
    "jean@orange.fr.",
    "n/a",
    "Élodie@Exemple.fr",
    "jean.dupont@example.com",
    SHA,
    SHA.lower(),
    "François",
    "Jean-Pierre",
    "D'Artagnan",
    "Valéry",
    "Vale\u0301ry",
    "Mary",
    "정",
    "Élodie",
    "J.",
    "Jean",
    "Homme",
    "H",
    "M",
    "M.",
    "Monsieur",
    "Mr",
    "male",
    "man",
    "boy",
    "Femme",
    "F",
    "Mme",
    "Madame",
    "Mlle",
    "Mrs",
    "Ms",
    "female",
    "woman",
    "girl",
    "X",
    "1",
    "2",
    "inconnu",
    "Saint-Étienne",
    "ST ETIENNE",
    "Paris 8e",
    "Lyon 3ème arrondissement",
    "PARIS CEDEX 08",
    "Marseille 13",
    "Villeneuve-St-Georges",
    "St. Louis",
    "東京",
    "California",
    "Île-de-France",
    "75",
    "2A",
    "Bavaria",
    "94035-1234",
    "940351234",
    "F-75008",
    "FR-75008",
    "75008 CEDEX 08",
    "M1 1AE",
    "SW1A 1AA",
    "2A004",
    "1000",
    "75018",
    "94035",
    "FR",
    "fra",
    "USA",
    "France",
    "Allemagne",
    "Royaume-Uni",
    "États-Unis",
    "UK",
    "United States",
    "Côte d'Ivoire",
    "ABC-123",
    " ABC-123 ",
    "6F9619FF-8B86-D011-B42D-00CF4FC964FF",
    "6f9619ff-8b86-d011-b42d-00cf4fc964ff",
    "00000000-0000-0000-0000-000000000000",
    "6f9619ff8b86d011b42d00cf4fc964ff",
]
TRICKY = [
    None,
    "",
    " ",
    "\t",
    "\u00a0",
    "\u3000 \u2028",
    "\u200b",
    "\ufeff",
    "Valéry",
    unicodedata.normalize("NFD", "Valéry"),
    "VALÉRY",
    unicodedata.normalize("NFD", "VALÉRY"),
    "Œuvrard",
    "œuvre",
    "Æsa",
    "æsa",
    "Straße",
    "STRASSE",
    "ẞ",
    "Øre",
    "Łódź",
    "Þór",
    "ı",
    "İstanbul",
    "ǅemal",
    "ﬁnn",
    "Ⅻ",
    "ℌans",
    "½",
    "²",
    "K",
    "Å",
    "ΣΑΣ",
    "σας",
    "ΣΟΦΙΑ",
    "Ελένη",
    "Dvořák",
    "Иван",
    "Ǆ",
    "ǈ",
    "O'Brien",
    "O’Brien",
    "Jean–Pierre",
    "Jean - Pierre",
    "  Jean  Pierre  ",
    "\tjean\t",
    "\u00a0Jean\u00a0",
    "jean\u202fpierre",
    "jean\npierre",
    "JEAN-PIERRE",
    "jean3",
    "123",
    "007",
    "😀",
    "Jean😀",
    "😀@x.fr",
    "👍🏽",
    "𝐉𝐞𝐚𝐧",
    "Zoë",
    "Noël",
    "Maël",
    "Anaïs",
    "Hélène",
    "Loïc",
    "Gaëlle",
    "Müller-Durand",
    "N'Diaye",
    "Le Floc'h",
    "De La Fontaine",
    "Thi Hương",
    "x" * 1000,
    "x" * 1001,
    " " + "y" * 1000 + " ",
    "JEAN@EXAMPLE.FR",
    " jean@example.fr ",
    "jean@example.fr\t",
    "jean@@example.fr",
    "jean@example",
    "jean@.example.fr",
    "jean@example..fr",
    "jean @example.fr",
    "jean@exa mple.fr",
    "a,b@x.fr",
    "a;b@x.fr",
    "a:b@x.fr",
    "<a@x.fr>",
    '"a"@x.fr',
    "a@x.fr;b@y.fr",
    "élodie@exemple.fr",
    "ÉLODIE@EXEMPLE.FR",
    unicodedata.normalize("NFD", "Élodie@Exemple.fr"),
    "jean\u200b@x.fr",
    "jean.dupont+promo@gmail.com",
    "İ@x.fr",
    "ΣΑΣ@x.fr",
    "Ⅻ@x.fr",
    "x@ｆｒ.fr",
    "a@b.c",
    "@x.fr",
    "x@",
    "Paris",
    "PARIS",
    "paris 8",
    "Paris 08",
    "Paris 8ème",
    "Paris 8 eme arr.",
    "Paris 8e arrondissement",
    "Paris\u00a08e",
    "Paris 123",
    "Lyon 3",
    "Lyon-3",
    "Paris CEDEX",
    "Paris Cedex 8",
    "ParisCEDEX",
    "Saint-Denis",
    "St-Denis",
    "Ste-Marie",
    "Ste. Marie",
    "St.Malo",
    "St.-Malo",
    "Sainte Maxime",
    "st",
    "ste",
    "ST",
    "Sts",
    "first",
    "Stéphane",
    "Est",
    "St_Malo",
    "St1",
    "st\u00a0x",
    "St٣",
    "Saint-Étienne",
    "SAINT-ETIENNE",
    "Saint Etienne",
    "L'Haÿ-les-Roses",
    "Œting",
    "Aix-en-Provence",
    "Fort-de-France",
    "Marseille 13e",
    "Marseille ١٣",
    "Paris ٨",
    "München",
    "Zürich",
    "Kraków",
    "Reykjavík",
    "Москва",
    "北京",
    "서울",
    "New York",
    "newyork",
    "San José",
    "F-75008",
    "F 75008",
    "F75008",
    "FR 75008",
    "fr- 75008",
    "F-7500",
    "F-750088",
    "75008CEDEX",
    "75008 Cedex",
    "75008 CEDEX 8",
    "75008-CEDEX",
    "75008\tcedex 08",
    "75008 cedexx",
    "75008 xcedex",
    "75008 cedex\n",
    "75008 cedex\nx",
    "75 008",
    "75-008",
    "75008.0",
    "7500",
    "75",
    "7",
    "01000",
    "1000",
    "94035-1234",
    "94035 - 1234",
    "94035-123",
    "940351234",
    "94035123",
    "M1 1AE",
    "m11ae",
    "SW1A 1AA",
    "EC1A-1BB",
    "2A004",
    "2B033",
    "2a004",
    "20000",
    "H3Z 2Y7",
    "K1A0B1",
    "١٢٣٤٥",
    "12345-١٢٣٤",
    "١٢٣٤٥-1234",
    "１２３４５",
    "75008²",
    "ABCDEFGHIJK",
    "AB",
    "A",
    "n/a",
    "N/A",
    "-",
    "—",
    ".",
    "California",
    "CALIFORNIA",
    "california",
    "New York",
    "new-york",
    "District of Columbia",
    "Puerto Rico",
    "CA",
    "ca",
    "Ca.",
    "Bavaria",
    "Bayern",
    "Île-de-France",
    "Provence-Alpes-Côte d'Azur",
    "Corse-du-Sud",
    "2A",
    "2b",
    "75",
    "Québec",
    "Quebec",
    "  California.  ",
    "    C/a/lifo,rnia.  ",
    "new-york",
    "New.York",
    "North   Carolina",
    "Washington, D.C.",
    "D.C.",
    "U.S. Virgin Islands",
    "Guam",
    "Calif.",
    "Tex.",
    "W. Va.",
    "Tëxas",
    "Baja California",
    "CaliforniaUSA",
    "Florida32801",
    "Ontario",
    "ON",
    "Ont.",
    "Qué.",
    "P.E.I.",
    "Colombie-Britannique",
    "Terre-Neuve-et-Labrador",
    "Île-du-Prince-Édouard",
    "Newfoundland",
    "France",
    "FRANCE",
    "france ",
    "Frankreich",
    "Allemagne",
    "Germany",
    "DE",
    "DEU",
    "deu",
    "Royaume-Uni",
    "Royaume Uni",
    "UK",
    "U.K.",
    "GB",
    "GBR",
    "Great Britain",
    "United Kingdom",
    "United States",
    "United States of America",
    "USA",
    "U.S.A.",
    "US",
    "États-Unis",
    "Etats-Unis",
    "Côte d'Ivoire",
    "Cote d'Ivoire",
    "Ivory Coast",
    "La Réunion",
    "Réunion",
    "Guyane",
    "Corée du Sud",
    "XX",
    "ZZZ",
    "Atlantis",
    "Mme.",
    "M.",
    "MR.",
    "Mr",
    "Monsieur",
    "MONSIEUR",
    "Madame",
    "MADAME",
    "madame ",
    "Mlle",
    "Mademoiselle",
    "homme",
    "HOMME",
    "Femme",
    "FEMME",
    "h",
    "f",
    "m",
    "F.",
    "Garçon",
    "garcon",
    "Fille",
    "Männlich",
    "Weiblich",
    "Masculin",
    "Féminin",
    "0",
    "1",
    "2",
    "X",
    "?",
    "Male",
    "FEMALE",
    "Dame",
    "Señor",
    "mujer",
    "hombre",
    "Frau",
    "Herr",
    "sir",
    "miss",
    "6F9619FF-8B86-D011-B42D-00CF4FC964FF",
    " 6f9619ff-8b86-d011-b42d-00cf4fc964ff ",
    "6f9619ff-8b86-d011-b42d-00cf4fc964fg",
    "6f9619ff-8b86-d011-b42d-00cf4fc964f",
    "{6f9619ff-8b86-d011-b42d-00cf4fc964ff}",
    "00000000-0000-0000-0000-000000000000",
    "00000000-0000-0000-0000-000000000001",
    "6F9619FF-8B86-D011-B42D-00CF4FC964FK",
    "CUST-0001",
    "cust-0001",
    "  id 42  ",
    "ID\u00a042",
    "Ｉｄ",
    "0042",
    "42",
    SHA,
    SHA.lower(),
    " " + SHA + " ",
    SHA[:63],
    SHA + "0",
    SHA[:-1] + "G",
    "d41d8cd98f00b204e9800998ecf8427e",
]


def _interesting_chars() -> list[str]:
    """Every Latin-1/Latin-Extended/combining/space/digit character, every cased one, and a seeded sample."""
    chars = {chr(c) for c in range(0x20, 0x250)} | {chr(c) for c in range(0x300, 0x370)}
    chars |= {c for c in map(chr, range(1, 0x10000)) if c.isspace() or (c.isdecimal() and ord(c) < 0x3000)}
    chars |= {c for c, _ in _lower_pairs()} | {chr(c) for c in range(0x1E00, 0x1F00)}
    chars |= set("ßæœøłđðþıŀħŧŋĸ½²ⅫℌﬁﬀＡａ①ⓐ㎏㈱€¤©®°µ×÷«»‹›„“”‘’‚•…‰′″\u2044\u0085")
    rng = random.Random(20240607)
    chars |= {chr(rng.randrange(0xA0, 0x10000)) for _ in range(800)}
    chars |= {chr(rng.randrange(0x10000, 0x110000)) for _ in range(100)}
    return sorted(c for c in chars if c != "\x00" and not 0xD800 <= ord(c) <= 0xDFFF)


def _lower_pairs() -> Iterator[tuple[str, str]]:
    for code in range(0x80, 0x10000):
        char = chr(code)
        if not 0xD800 <= code <= 0xDFFF and char.lower() != char:
            yield char, char.lower()


def corpus() -> list[str | None]:
    """Documented examples, tricky values, and every interesting character in key-shaped contexts."""
    values: list[str | None] = [*DOC_EXAMPLES, *TRICKY]
    for c in _interesting_chars():
        values += [c, f"a{c}b", f"e{c}@x.fr", f"Paris {c}8e", f"st{c}x", f"75008{c}cedex", f"F{c}9403{c}-1234"]
    return list(dict.fromkeys(values))


def _check(rows: Sequence[Any], values: Sequence[Any], plan: pd.Pushdown, country: str | None) -> dict[str, int]:
    """Assert the database's (value, reason) equals hash_one's for every row and pushed key."""
    handed = dict.fromkeys(plan.pushed, 0)
    problems = []
    for value, row in zip(values, rows):
        for key in plan.pushed:
            sent, reason, plain = (
                row[c] for c in (plan.hash_column(key), plan.reason_column(key), plan.plain_column(key))
            )
            expected = hash_one(key, value, country)
            if plain is not None:
                handed[key] += 1
                got = hash_one(key, plain, country)
                ok = got == expected and sent is None and reason is None and plain.strip() == str(value).strip()
            else:
                got = (sent, reason)
                ok = got == expected
            if not ok:
                problems.append(f"{key} {value!r}: database {got} (plain {plain!r}), Python {expected}")
    assert not problems, f"{len(problems)} differences, first: " + "\n".join(problems[:20])
    return handed


def _run(
    conn: sa.Connection, query: str, plan: pd.Pushdown, params: dict[str, Any] | None = None, order: str = "n"
) -> list[Any]:
    """The rewritten query's rows, sorted by ``order`` (the rewrite does not keep the query's order)."""
    rows = conn.execute(sa.text(pd.rewrite(query, plan, keep=[order])), params or {}).mappings()
    return sorted(rows, key=lambda row: row[order])


# ----------------------------------------------------------------- no database
def test_plan_keeps_phone_and_text_dates_in_python() -> None:
    plan = pd.plan_pushdown({"EMAIL": "email", "PHONE": "phone", "FN": "fn", "DOBY": "birth"}, "FR")
    assert list(plan.pushed) == ["EMAIL", "FN"]
    assert plan.kept == {"PHONE": pd.PHONE_REASON, "DOBY": pd.DOB_TEXT_REASON}
    assert plan.summary().startswith(
        "EMAIL, FN hashed in PostgreSQL; PHONE in Python: national numbers need "
        "libphonenumber's numbering plans; DOBY in Python: dates written as text"
    )
    assert plan.plan_lines()[0] == "push-down: EMAIL, FN hashed in PostgreSQL"
    assert plan.plan_lines()[1].startswith("push-down: PHONE in Python: ")
    assert plan.columns(keep=["consent"]) == [
        "fbsync_h_EMAIL",
        "fbsync_r_EMAIL",
        "fbsync_p_EMAIL",
        "fbsync_h_FN",
        "fbsync_r_FN",
        "fbsync_p_FN",
        "phone",
        "birth",
        "consent",
    ]


def test_plan_is_type_aware() -> None:
    types = {
        "Email": "character varying",
        "n": "integer",
        "d": "date",
        "ts": "timestamp with time zone",
        "amount": "numeric",
        "flag": "boolean",
        "txt": "text",
    }
    plan = pd.plan_pushdown(
        {"EMAIL": "email", "ZIP": "n", "DOBY": "d", "DOBM": "ts", "DOBD": "txt", "CT": "amount", "GEN": "flag"},
        None,
        types,
    )
    assert plan.pushed == {
        "EMAIL": 'fbsync_src."Email"::text',
        "ZIP": 'fbsync_src."n"::text',
        "DOBY": 'fbsync_src."d"',
        "DOBM": 'fbsync_src."ts"',
    }
    assert plan.kinds == {"EMAIL": "text", "ZIP": "distinct", "DOBY": "date", "DOBM": "date"}
    assert set(plan.kept) == {"DOBD", "CT", "GEN"}
    assert "numeric" in plan.kept["CT"] and "boolean" in plan.kept["GEN"]
    with pytest.raises(ConfigError, match="no column 'mail'"):
        pd.plan_pushdown({"EMAIL": "mail"}, None, types)
    with pytest.raises(ConfigError, match="alpha-2"):
        pd.plan_pushdown({"EMAIL": "email"}, "FRA")


def test_only_postgresql() -> None:
    pd.require_postgresql("postgresql")
    with pytest.raises(ConfigError) as exc:
        pd.require_postgresql("sqlite", "vip")
    assert str(exc.value).startswith(
        "hash_in_database is only available for PostgreSQL CRMs; this CRM is sqlite (audience vip)"
    )
    assert "set hash_in_database to false" in str(exc.value) and exc.value.exit_code == 2


class _Server:
    """Answers SHOW like an old, mis-configured PostgreSQL."""

    def __init__(self, settings: dict[str, str]) -> None:
        self.settings = settings

    def exec_driver_sql(self, sql: str) -> Any:
        value = self.settings[sql.removeprefix("SHOW ")]
        return type("Result", (), {"scalar": lambda _self: value})()


def test_check_server_names_what_is_missing() -> None:
    good = {
        "server_version_num": "150020",
        "server_encoding": "UTF8",
        "client_encoding": "UTF8",
        "standard_conforming_strings": "on",
    }
    pd.check_server(_Server(good))
    with pytest.raises(ConfigError) as exc:
        pd.check_server(
            _Server(
                {
                    **good,
                    "server_version_num": "120005",
                    "server_encoding": "LATIN1",
                    "standard_conforming_strings": "off",
                }
            )
        )
    assert str(exc.value) == (
        "hash_in_database needs PostgreSQL 13 or later (this server is 12), server_encoding "
        "UTF8 (it is LATIN1), standard_conforming_strings on; fix the server or set "
        "hash_in_database to false."
    )


@pytest.mark.parametrize("country", ["FR", "US", None])
def test_rewrite_is_safe_for_sqlalchemy_text(country: str | None) -> None:
    plan = pd.plan_pushdown(
        {**dict.fromkeys(TEXT_KEYS, "v"), "PHONE": "p", "DOBY": "d"}, country, {"v": "text", "p": "text", "d": "date"}
    )
    sql = pd.rewrite("SELECT * FROM t;", plan, keep=["consent"])
    clause = sa.text(sql)
    assert not clause._bindparams and "%" not in sql  # no `:name` binds, no driver placeholders
    assert sql.startswith("WITH fbsync_src AS MATERIALIZED (SELECT * FROM t\n),\nfbsync_d_gen AS (")
    assert '\nSELECT fbsync_k_extern_id.h AS "fbsync_h_EXTERN_ID", fbsync_k_extern_id.p AS "fbsync_p_EXTERN_ID"' in sql
    assert 'fbsync_src."p" AS "p", fbsync_src."consent" AS "consent"\nFROM fbsync_src\n' in sql
    # Without column types every key is normalized row by row on the query as a sub-select.
    untyped = pd.rewrite("SELECT * FROM t", pd.plan_pushdown({"FN": "v"}, country))
    assert untyped.startswith('SELECT fbsync_k_fn.h AS "fbsync_h_FN"') and "MATERIALIZED" not in untyped
    assert "\nFROM (SELECT * FROM t\n) AS fbsync_src\nCROSS JOIN LATERAL (SELECT s.*, " in untyped
    assert 'SELECT fbsync_src."v" AS x, btrim(fbsync_src."v", ' in untyped


def test_bracket_escapes() -> None:
    assert pds.bracket("a-]^\\:[%b") == "[\\%\\-\\:\\[-\\^ab]"
    assert pds.bracket(["a", "b", "c", "e"], negate=True) == "[^a-ce]"


# ----------------------------------------------------------------- database
@pytest.fixture(scope="module")
def engine(pg_url: str) -> Iterator[sa.Engine]:
    eng = sa.create_engine(pg_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="module")
def demo_table(engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """3,000 demo customers copied from the SQLite CRM into a PostgreSQL table."""
    from fbsync.dev.demo import seed

    path = tmp_path_factory.mktemp("pushdown") / "crm.db"
    seed(path, n=3000, seed=7)
    con = sqlite3.connect(path)
    rows = con.execute(
        "SELECT id, email, phone, first_name, last_name, city, zip, country, birth_date, gender, consent FROM customers"
    ).fetchall()
    con.close()
    table = f"fbsync_pushdown_{os.getpid()}"
    with engine.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
        c.exec_driver_sql(
            f"CREATE TABLE {table} (id integer, email text, phone text, first_name text, "
            "last_name varchar(80), city text, zip text, country text, birth_date text, "
            "gender char(8), consent integer)"
        )
        c.execute(
            sa.text(f"INSERT INTO {table} VALUES (:i, :e, :p, :f, :l, :c, :z, :co, :b, :g, :k)"),
            [dict(zip(["i", "e", "p", "f", "l", "c", "z", "co", "b", "g", "k"], r)) for r in rows],
        )
    yield table
    with engine.begin() as c:
        c.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")


def test_server_is_suitable_and_describe(engine: sa.Engine, demo_table: str) -> None:
    with engine.connect() as c:
        pd.check_server(c)
        types = pd.describe(c, f'SELECT id, email AS "Email", last_name, gender, now()::date AS d FROM {demo_table};')
        with pytest.raises(ConfigError, match="give every column a distinct name"):
            pd.describe(c, f"SELECT id, email AS id FROM {demo_table}")
    assert types == {
        "id": "integer",
        "Email": "text",
        "last_name": "character varying",
        "gender": "character",
        "d": "date",
    }


def test_character_classes_match_python(engine: sa.Engine) -> None:
    """Each embedded bracket matches, in PostgreSQL, exactly the BMP characters Python's rule names."""
    u = pds._unicode()
    every = [c for c in map(chr, range(1, 0x10000)) if not 0xD800 <= ord(c) <= 0xDFFF]
    known = [c for c in every if pds._base_ok(c)]
    cases = {
        u.s: {c for c in map(chr, range(1, 0x10000)) if c.isspace()},
        u.d: {c for c in known if c.isdecimal()},
        u.w: {c for c in known if c.isalnum() or c == "_"},
        u.marks: {c for c in known if unicodedata.combining(c)},
        u.upper: {c for c, low in _lower_pairs() if len(low) == 1 and pds._in_domain(c)},
        pds.bracket(string.punctuation + "¡¿"): set(string.punctuation + "¡¿"),
        pds.bracket(string.punctuation, negate=True): set(every) - set(string.punctuation),
    }
    with engine.connect() as c:
        for pattern, expected in cases.items():
            got = c.execute(
                sa.text("SELECT array_agg(ch) FROM unnest(CAST(:chars AS text[])) AS ch WHERE ch ~ :pattern"),
                {"chars": every, "pattern": pattern},
            ).scalar()
            assert set(got) == expected
        letters = c.execute(
            sa.text("SELECT array_agg(ch) FROM unnest(CAST(:chars AS text[])) AS ch WHERE ch !~ :pattern"),
            {"chars": known, "pattern": u.not_letter},
        ).scalar()
        assert set(letters) == {ch for ch in known if unicodedata.category(ch)[0] in "LM"}
        inside = c.execute(
            sa.text("SELECT array_agg(ch) FROM unnest(CAST(:chars AS text[])) AS ch WHERE ch !~ :pattern"),
            {"chars": every, "pattern": u.outside},
        ).scalar()
        assert set(inside) == {ch for ch in every if pds._in_domain(ch)}


def _per_char(conn: sa.Connection, build: Any, chars: list[str]) -> list[tuple[str, str]]:
    steps = pds._Steps()
    out = build(steps, steps.let("fbsync_src.c", "x"))
    steps.let(out, "out")
    sql = (
        f"SELECT fbsync_src.c, k.out FROM unnest(CAST(:chars AS text[])) AS fbsync_src(c) "
        f"CROSS JOIN LATERAL ({steps.sql()}) AS k"
    )
    return list(conn.execute(sa.text(sql), {"chars": chars}))


def test_lowercase_and_fold_match_python_for_every_character(engine: sa.Engine) -> None:
    """str.lower() and fold_ascii() of every character of the domain (the per-character tables)."""
    domain = [c for c in map(chr, range(1, 0x10000)) if pds._in_domain(c)]
    with engine.connect() as c:
        lowered = _per_char(c, pds._lower, domain)
        folded = _per_char(c, pds._fold, domain)
    assert [(ch, out) for ch, out in lowered if out != ch.lower()] == []
    assert [(ch, out) for ch, out in folded if out != fold_ascii(ch)] == []
    assert "Σ" not in domain and "İ" in domain and _FOLD_SPECIAL


def test_database_normalization_matches_python(engine: sa.Engine) -> None:
    """NFC/NFD/NFKD of every domain character, recomposition of every composite, and the ordering of
    every combining mark against one mark of each combining class (the data the SQL takes from PostgreSQL)."""
    domain = [c for c in map(chr, range(1, 0x10000)) if pds._in_domain(c)]
    marks = [c for c in domain if unicodedata.combining(c)]
    by_class = {unicodedata.combining(m): m for m in marks}
    values = domain + [unicodedata.normalize("NFD", c) for c in domain if unicodedata.decomposition(c)]
    values += [f"a{m}{r}" for m in marks for r in by_class.values()] + [f"e{m}\u0301" for m in marks]
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT v, normalize(v, NFC), normalize(v, NFD), normalize(v, NFKD) "
                "FROM unnest(CAST(:v AS text[])) AS v"
            ),
            {"v": values},
        ).all()
    bad = [r for r in rows if r[1:] != tuple(unicodedata.normalize(f, r[0]) for f in ("NFC", "NFD", "NFKD"))]
    assert bad == [] and len(rows) > 70_000


@pytest.mark.parametrize("country", ["FR", "US", None, "CA"])
def test_every_key_of_every_tricky_value(engine: sa.Engine, country: str | None) -> None:
    """FR: every text key; US, CA and no country: the keys whose rules depend on the country."""
    values = corpus()
    keys = ALL_ON_V if country == "FR" else {"CT": "v", "ST": "v", "ZIP": "v"}
    plan = pd.plan_pushdown(keys, country, {"v": "text"})
    assert list(plan.pushed) == [k for k in TEXT_KEYS if k in keys]
    query = "SELECT v, n FROM unnest(CAST(:values AS text[])) WITH ORDINALITY AS u(v, n)"
    with engine.connect() as c:
        rows = _run(c, query, plan, {"values": values})
    handed = _check(rows, values, plan, country)
    for key, count in handed.items():  # exactly the values holding a character outside the tables
        assert count == sum(map(_for_python, values)) * (key not in pds._ANY_TEXT), key


@pytest.mark.parametrize("country", ["US", "CA", None, "FR", "MX"])
def test_state_names_map_like_python(engine: sa.Engine, country: str | None) -> None:
    """Every name and abbreviation of the ST tables, as written in a CRM, gives Python's code (or text)."""
    from fbsync.identity._state_data import CA_ABBREVIATIONS, CA_NAMES, US_ABBREVIATIONS, US_NAMES

    names = [*US_NAMES, *US_ABBREVIATIONS, *CA_NAMES, *CA_ABBREVIATIONS]
    codes = sorted({*US_NAMES.values(), *CA_NAMES.values()})
    values: list[str | None] = [*names, *codes]
    values += [n.upper() for n in names] + [f" {n.title()}. " for n in names] + [f"{n[:3]}-{n[3:]}" for n in names]
    values += [c.upper() + "." for c in codes] + [f"{n}x" for n in names] + [f"Baja {n}" for n in names]
    plan = pd.plan_pushdown({"ST": "v"}, country, {"v": "text"})
    query = "SELECT v, n FROM unnest(CAST(:values AS text[])) WITH ORDINALITY AS u(v, n)"
    with engine.connect() as c:
        rows = _run(c, query, plan, {"values": values})
    assert _check(rows, values, plan, country) == {"ST": 0}


def _for_python(value: str | None) -> bool:
    text = (value or "").strip()
    return 0 < len(text) <= 1000 and not re.fullmatch("[0-9a-fA-F]{64}", text) and not all(map(pds._in_domain, text))


def test_row_by_row_path_without_column_types(engine: sa.Engine) -> None:
    """Without column types every key takes the row-by-row path (no CTE): same answers."""
    values = [*dict.fromkeys([*DOC_EXAMPLES, *TRICKY])]
    values += [f"{c}{w}" for c in map(chr, range(0xA0, 0x180)) for w in ("", "x", " 8e", "@x.fr")]
    plan = pd.plan_pushdown(ALL_ON_V, "FR")
    assert set(plan.kinds.values()) == {"text"}
    query = "SELECT v, n FROM unnest(CAST(:values AS text[])) WITH ORDINALITY AS u(v, n)"
    with engine.connect() as c:
        rows = _run(c, query, plan, {"values": values})
    _check(rows, values, plan, "FR")


def test_typed_columns(engine: sa.Engine) -> None:
    """Integer and CHAR/VARCHAR columns for text keys; date and timestamp columns for DOB keys."""
    year = dt.date.today().year
    table = f"fbsync_pushdown_typed_{os.getpid()}"
    rows = [
        (
            1,
            75008,
            "Jean@X.fr  ",
            "Élodie",
            dt.date(1985, 3, 7),
            dt.datetime(1985, 3, 7, 23, 59),
            dt.datetime(1985, 3, 7, 23, 30, tzinfo=dt.UTC),
        ),
        (2, -5, " ", "", dt.date(1899, 12, 31), dt.datetime(1900, 1, 1), dt.datetime(1900, 1, 1, tzinfo=dt.UTC)),
        (3, None, None, None, None, None, None),
        (
            4,
            1000,
            "a@b.fr",
            "  D'Artagnan",
            dt.date(year, 12, 31),
            dt.datetime(year + 1, 1, 1),
            dt.datetime(year, 12, 31, 12, tzinfo=dt.UTC),
        ),
        (
            5,
            2**40,
            "x",
            "😀",
            dt.date(1, 1, 1),
            dt.datetime(2000, 2, 29, 0, 0, 1),
            dt.datetime(2000, 2, 28, 23, 0, tzinfo=dt.UTC),
        ),
    ]
    keys = {
        "EXTERN_ID": "n",
        "ZIP": "n",
        "EMAIL": "vc",
        "FN": "ch",
        "LN": "ch",
        "DOBY": "d",
        "DOBM": "ts",
        "DOBD": "tz",
        "GEN": "flag",
    }
    with engine.begin() as c:
        c.exec_driver_sql("SET LOCAL TIME ZONE 'Pacific/Auckland'")
        c.exec_driver_sql(
            f"CREATE TEMP TABLE {table} (id int, n bigint, vc varchar(40), ch char(20), d date, "
            "ts timestamp, tz timestamptz, flag boolean) ON COMMIT DROP"
        )
        c.execute(
            sa.text(f"INSERT INTO {table} VALUES (:i, :n, :vc, :ch, :d, :ts, :tz, true)"),
            [dict(zip(["i", "n", "vc", "ch", "d", "ts", "tz"], r)) for r in rows],
        )
        query = f"SELECT * FROM {table} ORDER BY id"
        plan = pd.plan_pushdown(keys, "FR", pd.describe(c, query))
        assert list(plan.pushed) == ["EXTERN_ID", "EMAIL", "DOBY", "DOBM", "DOBD", "LN", "FN", "ZIP"]
        assert list(plan.kept) == ["GEN"]
        got = _run(c, query, plan, order="id")
        raw = list(c.execute(sa.text(query)).mappings())  # what the Python path would have read
    for key in plan.pushed:
        handed = _check(got, [r[keys[key]] for r in raw], pd.Pushdown(keys, "FR", {key: ""}), "FR")
        assert handed[key] == (1 if key in ("FN", "LN") else 0)  # the emoji
    assert [r[plan.reason_column("DOBY")] for r in got] == [None, "invalid date", "empty", None, "invalid date"]
    assert got[0][plan.hash_column("DOBD")] == hash_one("DOBD", "08")[0]  # 23:30 UTC is the 8th in Auckland


def test_demo_crm_through_crm_source(engine: sa.Engine, demo_table: str, pg_url: str) -> None:
    """The demo CRM as sync reads it: every key compared per row, and the batch equals hash_batch's."""
    keys = {
        "EXTERN_ID": "id",
        "EMAIL": "email",
        "PHONE": "phone",
        "FN": "first_name",
        "FI": "first_name",
        "LN": "last_name",
        "CT": "city",
        "ZIP": "zip",
        "COUNTRY": "country",
        "GEN": "gender",
        "DOBY": "birth_date",
        "ST": "city",
    }
    query = f"SELECT * FROM {demo_table} WHERE consent IS NOT NULL ORDER BY id -- the whole CRM"
    crm = CrmSource(pg_url)
    try:
        with crm.read_only() as c:
            pd.check_server(c)
            plan = pd.plan_pushdown(keys, "FR", pd.describe(c, query))
        assert set(plan.kept) == {"PHONE", "DOBY"}
        assert plan.kinds["EMAIL"] == plan.kinds["EXTERN_ID"] == "text" and plan.kinds["FN"] == "distinct"
        wanted = plan.columns(keep=["consent", "id"])
        chunks = list(crm.stream(pd.rewrite(query, plan, keep=["consent", "id"]), wanted, "audience demo", chunk=1000))
        original = next(crm.stream(query, [*dict.fromkeys(keys.values()), "consent"], "audience demo", chunk=10_000))
    finally:
        crm.dispose()
    assert len(chunks) == 3
    merged = {c: functools.reduce(operator.iadd, (chunk.columns[c] for chunk in chunks), []) for c in wanted}
    order = sorted(range(len(merged["id"])), key=merged["id"].__getitem__)
    columns = {c: [values[i] for i in order] for c, values in merged.items()}
    assert columns["id"] == original.columns["id"]
    rows = [dict(zip(columns, r)) for r in zip(*columns.values())]
    for key in plan.pushed:
        handed = _check(rows, original.columns[keys[key]], pd.Pushdown(plan.keys, "FR", {key: ""}), "FR")
        assert handed[key] == 0
    assert columns["phone"] == original.columns["phone"] and columns["consent"] == original.columns["consent"]
    got = pd.hash_chunk(columns, plan)
    want = hash_batch({k: original.columns[c] for k, c in keys.items()}, "FR")
    assert (got.schema, got.rows, got.kept_index, got.dropped_rows) == (
        want.schema,
        want.rows,
        want.kept_index,
        want.dropped_rows,
    )
    assert (got.empty, got.invalid) == (want.empty, want.invalid) and sum(got.invalid.values()) > 50
    assert {k: v for k, v in got.examples.items() if k[0] in plan.kept} == {
        k: v for k, v in want.examples.items() if k[0] in plan.kept
    }
    assert not any(k[0] in plan.pushed for k in got.examples)  # the database never sent those values


def test_hash_chunk_hashes_the_rows_left_to_python() -> None:
    plan = pd.plan_pushdown({"EMAIL": "email", "PHONE": "phone"}, "FR")
    h = hash_one("EMAIL", "a@b.fr")[0]
    columns = {
        "fbsync_h_EMAIL": [h, None, None, None],
        "fbsync_r_EMAIL": [None, "invalid email", None, "empty"],
        "fbsync_p_EMAIL": [None, None, "😀@x.fr", None],
        "PHONE": ["0612345678", None, "x", None],
    }
    batch = pd.hash_chunk(columns, plan)
    want = hash_batch({"EMAIL": ["a@b.fr", "jean@", "😀@x.fr", None], "PHONE": columns["PHONE"]}, "FR")
    assert (batch.rows, batch.kept_index, batch.dropped_rows, batch.empty, batch.invalid) == (
        want.rows,
        want.kept_index,
        want.dropped_rows,
        want.empty,
        want.invalid,
    )
    assert ("EMAIL", "invalid email") not in batch.examples and ("PHONE", "invalid phone") in batch.examples


_TOKENS = [
    "st",
    "ste",
    "cedex",
    "Paris",
    "75008",
    "F-",
    "fr",
    "@",
    ".",
    "-",
    " ",
    "\t",
    "\u00a0",
    "é",
    "E\u0301",
    "İ",
    "Σ",
    "ß",
    "Œ",
    "ﬁ",
    "8e",
    "arr.",
    "eme",
    "١٢",
    "²",
    "_",
    "'",
    "Mme",
    "94035-",
    "1234",
    "2a",
    "x@y.fr",
    SHA[:8],
    "😀",
    "\n",
]
_PIECES = st.one_of(st.sampled_from(_TOKENS), st.characters(exclude_characters="\x00", codec="utf-8"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(_PIECES, max_size=8).map("".join), min_size=20, max_size=40))
def test_random_text_through_the_database(engine: sa.Engine, values: list[str]) -> None:
    plan = pd.plan_pushdown(ALL_ON_V, "FR", {"v": "text"})
    query = "SELECT v, n FROM unnest(CAST(:values AS text[])) WITH ORDINALITY AS u(v, n)"
    with engine.connect() as c:
        rows = _run(c, query, plan, {"values": values})
    _check(rows, values, plan, "FR")
