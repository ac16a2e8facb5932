"""Table-driven vectors per key: Meta's published examples, peers' vectors, French cases.

Sources (see docs/identity.md): DOC-CA = Meta custom-audience hashing guide,
DOC-CAPI = Meta customer-information parameters (with expected SHA-256),
SEG = vectors in segmentio's test file "derived from a CSV provided by Facebook".
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
import unicodedata

import pytest

from fbsync.identity import KEYS, UNHASHED_KEYS, hash_one, normalize, split_date

NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- Meta's hash vectors -------------------------------------------------------------

META_HASHES = [
    # (key, input, default_country, expected sha256, source)
    ("EMAIL", "mary@example.com", None, "f1904cf1a9d73a55fa5de0ac823c4403ded71afd4c3248d00bdcd0866552bb79", "DOC-CA"),
    ("PHONE", "15559876543", None, "1ef970831d7963307784fa8688e8fce101a15685d62aa765fed23f3a2c576a4e", "DOC-CA"),
    (
        "EMAIL",
        "John_Smith@gmail.com",
        None,
        "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f",
        "DOC-CAPI",
    ),
    ("PHONE", "(650)555-1212", "US", "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176", "DOC-CAPI"),
    ("FN", "Mary", None, "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec", "DOC-CAPI"),
    ("FN", "정", None, "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14", "DOC-CAPI"),
    ("FN", "Valéry", None, "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c", "DOC-CAPI"),
    ("FN", NFD("Valéry"), None, "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c", "NFD input"),
    ("LN", "Valéry", None, "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c", "DOC-CAPI ln = fn"),
    ("EMAIL", "  test  ", None, None, "SDK vector: not an email, dropped"),
    ("GEN", "m", None, "62c66a7a5dd70c3146618063c344e531e6d4b59e379808443ce962b3abd63c5a", "docs/meta-api.md §6"),
    ("GEN", "f", None, "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111", "docs/meta-api.md §6"),
    ("COUNTRY", "US", None, "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621", "docs/meta-api.md §6"),
    (
        "EMAIL",
        "joe@example.com",
        None,
        "2481f36dfc515ca76451aaadf1399026942a01ee50c6d0a61988b43cef039bc2",
        "docs/meta-api.md §6",
    ),
]


@pytest.mark.parametrize(("key", "value", "country", "expected", "source"), META_HASHES)
def test_meta_hash_vectors(key: str, value: str, country: str | None, expected: str | None, source: str) -> None:
    sent, reason = hash_one(key, value, country)
    assert sent == expected, source
    assert (reason is None) == (expected is not None)


# --- normalization tables per key ------------------------------------------------------

OK = [
    # EMAIL (DOC-CA: trim, lowercase)
    ("EMAIL", "  John_Smith@gmail.com ", None, "john_smith@gmail.com"),
    ("EMAIL", "Jean.Dupont@Orange.FR", None, "jean.dupont@orange.fr"),
    ("EMAIL", "MARIE-CLAIRE+promo@laposte.net", None, "marie-claire+promo@laposte.net"),
    ("EMAIL", NFD("Élodie.Martin@exemple.fr"), None, "élodie.martin@exemple.fr"),
    ("EMAIL", b"jean@free.fr", None, "jean@free.fr"),
    # PHONE, French shapes with the audience's default country
    ("PHONE", "06 12 34 56 78", "FR", "33612345678"),
    ("PHONE", "0612345678", "FR", "33612345678"),
    ("PHONE", "06.12.34.56.78", "FR", "33612345678"),
    ("PHONE", "06-12-34-56-78", "FR", "33612345678"),
    ("PHONE", "0033 6 12 34 56 78", "FR", "33612345678"),
    ("PHONE", "+33 (0)6 12 34 56 78", "FR", "33612345678"),
    ("PHONE", "+33 6 12 34 56 78", "FR", "33612345678"),
    ("PHONE", "+33612345678", "FR", "33612345678"),
    ("PHONE", "33612345678", "FR", "33612345678"),
    ("PHONE", "612345678", "FR", "33612345678"),
    ("PHONE", 612345678, "FR", "33612345678"),
    ("PHONE", 33612345678.0, "FR", "33612345678"),
    ("PHONE", "06\t12 34 56 78", "FR", "33612345678"),
    ("PHONE", "01 23 45 67 89", "FR", "33123456789"),
    ("PHONE", "0033 6 12 34 56 78", None, "33612345678"),
    ("PHONE", "+33 6 12 34 56 78", None, "33612345678"),
    ("PHONE", "33612345678", None, "33612345678"),
    # French overseas numbers written nationally get their own code
    ("PHONE", "0692 12 34 56", "FR", "262692123456"),
    ("PHONE", "0690 12 34 56", "FR", "590690123456"),
    ("PHONE", "0696 12 34 56", "FR", "596696123456"),
    ("PHONE", "0594 12 34 56", "FR", "594594123456"),
    ("PHONE", "0639 12 34 56", "FR", "262639123456"),
    ("PHONE", "+33 692 12 34 56", "FR", "33692123456"),  # written with +33: kept as written
    ("PHONE", "0612345678", "RE", "33612345678"),
    ("PHONE", "0262 12 34 56", "RE", "262262123456"),
    # neighbours and others
    ("PHONE", "+32 470 12 34 56", "FR", "32470123456"),
    ("PHONE", "+44 20 7946 0958", "FR", "442079460958"),
    ("PHONE", "+44 (0)20 7946 0958", "FR", "442079460958"),
    ("PHONE", "0044 20 7946 0958", "FR", "442079460958"),
    ("PHONE", "+39 06 1234 5678", "FR", "390612345678"),
    ("PHONE", "4915112345678", "FR", "4915112345678"),
    ("PHONE", "0470 12 34 56", "BE", "32470123456"),
    ("PHONE", "079 123 45 67", "CH", "41791234567"),
    ("PHONE", "612 34 56 78", "ES", "34612345678"),
    # SEG vectors (from Facebook's CSV) and DOC-CAPI
    ("PHONE", "+1 (616) 954-78 88", None, "16169547888"),
    ("PHONE", "+001 (616) 954-78 88", None, "16169547888"),
    ("PHONE", "(650)555-1212", "US", "16505551212"),
    ("PHONE", "15559876543", None, "15559876543"),
    # FN / LN (DOC-CA/DOC-CAPI: lowercase, no punctuation, UTF-8 letters kept)
    ("FN", "Valéry", None, "valéry"),
    ("FN", "François", None, "françois"),
    ("FN", "Jean-Pierre", None, "jeanpierre"),
    ("LN", "D'Artagnan", None, "dartagnan"),
    ("LN", "  Na'than-Boile ", None, "nathanboile"),
    ("LN", "LE GALL", None, "legall"),
    ("LN", "O’Brien", None, "obrien"),
    ("LN", "Müller", None, "müller"),
    ("LN", NFD("Lefèvre"), None, "lefèvre"),
    ("FN", "Zoé2", None, "zoé"),
    ("FN", "정", None, "정"),
    # FI
    ("FI", " a ", None, "a"),
    ("FI", "J.", None, "j"),
    ("FI", "Jean", None, "j"),
    ("FI", "Élodie", None, "é"),
    # GEN
    *[
        ("GEN", word, None, "m")
        for word in ("Homme", "H", "M", "M.", "Monsieur", "Mr", "male", "Male", "Man", "boy", "MASCULIN")
    ],
    *[
        ("GEN", word, None, "f")
        for word in (
            "Femme",
            "F",
            "Mme",
            "Madame",
            "Mlle",
            "Mademoiselle",
            "female",
            "Woman",
            "Girl",
            "Mrs",
            "Ms",
            "Féminin",
        )
    ],
    # DOB
    ("DOBY", "1985", None, "1985"),
    ("DOBY", " 2000 ", None, "2000"),
    ("DOBY", 1985, None, "1985"),
    ("DOBY", 1985.0, None, "1985"),
    ("DOBY", "1985-03-07", None, "1985"),
    ("DOBY", "07/03/1985", None, "1985"),
    ("DOBY", dt.date(1985, 3, 7), None, "1985"),
    ("DOBY", "1900", None, "1900"),
    ("DOBM", "3", None, "03"),
    ("DOBM", "03", None, "03"),
    ("DOBM", 3, None, "03"),
    ("DOBM", "mars", None, "03"),
    ("DOBM", "Mars", None, "03"),
    ("DOBM", "March", None, "03"),
    ("DOBM", " January", None, "01"),
    ("DOBM", "févr.", None, "02"),
    ("DOBM", "Déc", None, "12"),
    ("DOBM", "août", None, "08"),
    ("DOBM", "1985-03-07", None, "03"),
    ("DOBM", dt.datetime(1985, 3, 7, 12, 0), None, "03"),
    ("DOBD", "7", None, "07"),
    ("DOBD", "07", None, "07"),
    ("DOBD", "31", None, "31"),
    ("DOBD", "1er", None, "01"),
    ("DOBD", "07/03/1985", None, "07"),
    # CT (a-z only; accents transliterated; French suffixes cut)
    ("CT", "Paris", None, "paris"),
    ("CT", "Saint-Étienne", None, "saintetienne"),
    ("CT", NFD("Saint-Étienne"), None, "saintetienne"),
    ("CT", "Paris 8e", None, "paris"),
    ("CT", "Lyon 3ème arrondissement", None, "lyon"),
    ("CT", "PARIS CEDEX 08", None, "paris"),
    ("CT", "Marseille 13", None, "marseille"),
    ("CT", "  Menlo-Park ", None, "menlopark"),
    ("CT", "New York", None, "newyork"),
    ("CT", "L'Haÿ-les-Roses", None, "lhaylesroses"),
    ("CT", "Œuilly", None, "oeuilly"),
    ("CT", "ST ETIENNE", "FR", "saintetienne"),
    ("CT", "St-Étienne", "FR", "saintetienne"),
    ("CT", "Ste-Geneviève-des-Bois", "FR", "saintegenevievedesbois"),
    ("CT", "Villeneuve-St-Georges", "FR", "villeneuvesaintgeorges"),
    ("CT", "Saint-Denis (93)", "FR", "saintdenis"),
    ("CT", "Stains", "FR", "stains"),
    ("CT", "St. Louis", "US", "stlouis"),
    ("CT", "St. Louis", None, "stlouis"),
    # ST
    ("ST", "CA", None, "ca"),
    ("ST", "California", "US", "ca"),
    ("ST", "  C/a/lifo,rnia. ", None, "ca"),  # PB; Meta's CSV said "california" (docs/identity.md)
    ("ST", "  C/a/lifo,rnia. ", "FR", "california"),
    ("ST", "  C/a/lifo,rnia. ", "US", "ca"),
    ("ST", "New York", "US", "ny"),
    ("ST", "California", "FR", "california"),
    ("ST", "Île-de-France", "FR", "iledefrance"),
    ("ST", "2A", "FR", "2a"),
    ("ST", "75", "FR", "75"),
    # ZIP
    ("ZIP", "75008", None, "75008"),
    ("ZIP", "F-75008", None, "75008"),
    ("ZIP", "FR-75008", None, "75008"),
    ("ZIP", "F 75008", None, "75008"),
    ("ZIP", "75008 CEDEX", None, "75008"),
    ("ZIP", "75008 Cedex 08", None, "75008"),
    ("ZIP", 75008, None, "75008"),
    ("ZIP", "01000", None, "01000"),
    ("ZIP", "37221-3312", None, "37221"),
    ("ZIP", "94035-1234", None, "94035"),
    ("ZIP", "941051234", "US", "94105"),
    ("ZIP", "94035 1234", "US", "94035"),
    ("ZIP", "941051234", "FR", "941051234"),
    ("ZIP", "M1 1AE", None, "m11ae"),
    ("ZIP", "SW1A 1AA", None, "sw1a1aa"),
    ("ZIP", "1987", None, "1987"),
    ("ZIP", "1000-001", None, "1000001"),
    # COUNTRY
    ("COUNTRY", "FR", None, "fr"),
    ("COUNTRY", " US ", None, "us"),
    ("COUNTRY", "fra", None, "fr"),
    ("COUNTRY", "USA", None, "us"),
    ("COUNTRY", "France", None, "fr"),
    ("COUNTRY", "Allemagne", None, "de"),
    ("COUNTRY", "United States", None, "us"),
    ("COUNTRY", "Royaume-Uni", None, "gb"),
    ("COUNTRY", "UK", None, "gb"),
    ("COUNTRY", "États-Unis", None, "us"),
    ("COUNTRY", "Côte d'Ivoire", None, "ci"),
    ("COUNTRY", "Belgique", None, "be"),
    ("COUNTRY", "Suisse", None, "ch"),
    ("COUNTRY", "La Réunion", None, "re"),
    ("COUNTRY", "germany", None, "de"),
    # MADID (not hashed) and EXTERN_ID (exact)
    ("MADID", "AEBE52E7-03EE-455A-B3C4-E57283966239", None, "aebe52e7-03ee-455a-b3c4-e57283966239"),
    ("EXTERN_ID", " ABC-123 ", None, "ABC-123"),
    ("EXTERN_ID", "Abc Def", None, "Abc Def"),
    ("EXTERN_ID", 12345, None, "12345"),
]


@pytest.mark.parametrize(("key", "value", "country", "expected"), OK)
def test_normalize(key: str, value: object, country: str | None, expected: str) -> None:
    assert normalize(key, value, country) == (expected, None)
    sent, reason = hash_one(key, value, country)
    assert reason is None
    assert sent == (expected if key in UNHASHED_KEYS else sha(expected))


DROPPED = [
    *[
        ("EMAIL", v, None, "invalid email")
        for v in (
            "jean.dupont",
            "jean@",
            "@orange.fr",
            "jean dupont@gmail.com",
            "jean@@orange.fr",
            "jean@orange",
            "jean@orange.fr.",
            "jean@.orange.fr",
            "jean@orange..fr",
            "a@b.fr; c@d.fr",
            "n/a",
            "None",
            12345,
        )
    ],
    *[
        ("PHONE", v, "FR", "invalid phone")
        for v in ("12345", "06 12 34", "0000000000", "n/a", "tel", "+33 6 12 34 56 7", "+", "0")
    ],
    ("PHONE", "0612345678", None, "no country code"),
    ("PHONE", "06 12 34 56 78", None, "no country code"),
    ("PHONE", "01(650)123-4567", "US", "invalid phone"),
    *[("FN", v, None, "invalid name") for v in ("123", "--", "...", "😀")],
    ("FI", "-", None, "invalid name"),
    *[("GEN", v, None, "unknown gender") for v in ("X", "1", "2", "inconnu", "autre", "?", "Mx")],
    *[("DOBY", v, None, "invalid date") for v in ("85", "1899", "3000", "0000", "19x5", dt.date(1850, 1, 1))],
    *[("DOBM", v, None, "invalid date") for v in ("13", "0", "00", "foo", "1985")],
    *[("DOBD", v, None, "invalid date") for v in ("32", "0", "bar")],
    *[("CT", v, None, "invalid city") for v in ("東京", "75008", "--")],
    ("ST", "--", None, "invalid state"),
    *[("ZIP", v, None, "invalid zip") for v in ("2A004", "2b033", "n/a", "-", "x", "12345678901")],
    *[("COUNTRY", v, None, "unknown country") for v in ("Frnace", "EU", "XX", "F", "Atlantis")],
    *[
        ("MADID", v, None, "invalid madid")
        for v in ("abc", "00000000-0000-0000-0000-000000000000", "aebe52e703ee455ab3c4e57283966239")
    ],
    *[
        ("EMAIL", v, None, "unsupported type")
        for v in (True, ["a@b.fr"], {"a": 1}, object(), dt.time(1, 2), float("inf"))
    ],
    ("PHONE", "\ud800", "FR", "invalid text"),
    ("EMAIL", b"\xff\xfe", None, "invalid text"),
    ("EMAIL", "a" * 2000 + "@b.fr", None, "too long"),
]


@pytest.mark.parametrize(("key", "value", "country", "reason"), DROPPED)
def test_dropped_with_reason(key: str, value: object, country: str | None, reason: str) -> None:
    assert normalize(key, value, country) == (None, reason)
    assert hash_one(key, value, country) == (None, reason)


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("value", [None, "", "   ", float("nan"), decimal.Decimal("NaN"), "\t\n"])
def test_empty_is_its_own_reason(key: str, value: object) -> None:
    assert normalize(key, value, "FR") == (None, "empty")


def test_pandas_missing_values_are_empty() -> None:
    pandas = pytest.importorskip("pandas")
    assert normalize("EMAIL", pandas.NA) == (None, "empty")
    assert normalize("DOBY", pandas.NaT) == (None, "empty")
    assert normalize("DOBY", pandas.Timestamp("1985-03-07")) == ("1985", None)


@pytest.mark.parametrize("key", [k for k in KEYS if k not in UNHASHED_KEYS])
def test_already_hashed_values_pass_through_lowercased(key: str) -> None:
    digest = sha("mary@example.com")
    assert normalize(key, digest.upper()) == (digest, None)
    assert hash_one(key, " " + digest.upper() + " ") == (digest, None)


def test_unhashed_keys_are_sent_raw() -> None:
    assert hash_one("MADID", "AEBE52E7-03EE-455A-B3C4-E57283966239") == ("aebe52e7-03ee-455a-b3c4-e57283966239", None)
    digest = sha("x").upper()
    assert hash_one("EXTERN_ID", digest) == (digest, None)  # exact value, even if it looks hashed


SPLIT = [
    ("1985-03-07", ("1985", "03", "07")),
    ("1985/3/7", ("1985", "03", "07")),
    ("19850307", ("1985", "03", "07")),
    ("1985-03-07T00:00:00", ("1985", "03", "07")),
    ("1985-03-07 23:59:59+02:00", ("1985", "03", "07")),
    ("07/03/1985", ("1985", "03", "07")),
    ("7/3/1985", ("1985", "03", "07")),
    ("07.03.1985", ("1985", "03", "07")),
    ("07-03-1985", ("1985", "03", "07")),
    ("7 mars 1985", ("1985", "03", "07")),
    ("1er janvier 1990", ("1990", "01", "01")),
    ("March 7, 1985", ("1985", "03", "07")),
    ("7 March 1985", ("1985", "03", "07")),
    (dt.date(1985, 3, 7), ("1985", "03", "07")),
    (dt.datetime(1985, 3, 7, 23, 30, tzinfo=dt.UTC), ("1985", "03", "07")),
    (19850307, ("1985", "03", "07")),
    ("31/02/1985", (None, None, None)),
    ("1985-13-01", (None, None, None)),
    ("07/03/85", (None, None, None)),
    ("1850-01-01", (None, None, None)),
    ("hier", (None, None, None)),
    (None, (None, None, None)),
    (math.nan, (None, None, None)),
    ([1985, 3, 7], (None, None, None)),
]


@pytest.mark.parametrize(("value", "parts"), SPLIT)
def test_split_date(value: object, parts: tuple[str | None, ...]) -> None:
    assert split_date(value) == parts


def test_future_birth_year_is_invalid() -> None:
    next_year = dt.date.today().year + 1
    assert normalize("DOBY", str(next_year)) == (None, "invalid date")
    assert normalize("DOBY", str(next_year - 1)) == (str(next_year - 1), None)


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (normalize, ("EMAILS", "a@b.fr")),
        (normalize, ("email", "a@b.fr")),
        (hash_one, ("PHONE", "0612345678", "FRA")),
        (hash_one, ("PHONE", "0612345678", "XX")),
    ],
)
def test_bad_key_or_country_raises(call, args) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        call(*args)


def test_default_country_is_case_insensitive() -> None:
    assert normalize("PHONE", "06 12 34 56 78", "fr") == ("33612345678", None)
