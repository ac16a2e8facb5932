"""The decisions of docs/identity.md "Checked against Meta's and peers' test vectors".

ST names → codes by default country (US, CA, none, elsewhere), the phone vectors of
Meta's SDK and CSV tests, and MADID values that are not UUIDs.  Each case names its source.
"""

from __future__ import annotations

import hashlib

import pytest

from fbsync.identity import hash_batch, hash_one, normalize
from fbsync.identity._state_data import CA_ABBREVIATIONS, CA_NAMES, US_ABBREVIATIONS, US_NAMES
from fbsync.identity.geo import state_table
from fbsync.identity.phone import quick_phone, reference_phone


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- ST ---------------------------------------------------------------------------------

US_CASES = [
    ("California", "ca"),
    ("CALIFORNIA", "ca"),
    ("  California.  ", "ca"),  # PB's example data (Meta's CSV row, now mapped)
    ("    C/a/lifo,rnia.  ", "ca"),  # PB's example data
    ("New York", "ny"),
    ("new-york", "ny"),
    ("New.York", "ny"),
    ("NeW yOrK", "ny"),
    ("North   Carolina", "nc"),
    ("West Virginia", "wv"),
    ("Virginia", "va"),
    ("Washington", "wa"),
    ("Rhode Island", "ri"),
    ("District of Columbia", "dc"),
    ("Washington, D.C.", "dc"),
    ("D.C.", "dc"),
    ("Puerto Rico", "pr"),  # PB: "pu" (its 2-letter cut)
    ("Guam", "gu"),
    ("U.S. Virgin Islands", "vi"),
    ("American Samoa", "as"),
    ("Northern Mariana Islands", "mp"),
    ("CA", "ca"),
    ("N.Y.", "ny"),
    ("T@X", "tx"),
    ("Tëxas", "tx"),  # accents transliterated (PB deletes the letter and finds "texas" inside)
    ("Califórnia", "ca"),  # folds to "california"
]

US_ONLY = [  # abbreviations: with a US default country only
    ("Calif.", "ca"),
    ("Mass.", "ma"),
    ("Fla.", "fl"),
    ("Tex.", "tx"),  # PB: "te"
    ("Penn.", "pa"),  # PB: "pe"
    ("W. Va.", "wv"),
    ("Wis.", "wi"),
]

CA_CASES = [
    ("Ontario", "on"),
    ("Québec", "qc"),
    ("Quebec", "qc"),
    ("British Columbia", "bc"),
    ("Colombie-Britannique", "bc"),
    ("Nova Scotia", "ns"),
    ("Nouvelle-Écosse", "ns"),
    ("Prince Edward Island", "pe"),
    ("Île-du-Prince-Édouard", "pe"),
    ("Newfoundland and Labrador", "nl"),
    ("Terre-Neuve-et-Labrador", "nl"),
    ("Newfoundland", "nl"),
    ("Northwest Territories", "nt"),
    ("Yukon", "yt"),
    ("Nunavut", "nu"),
    ("ON", "on"),
]

CA_ONLY = [("Ont.", "on"), ("Qué.", "qc"), ("P.E.I.", "pe"), ("Nfld.", "nl"), ("Alta.", "ab"), ("N.W.T.", "nt")]

UNCHANGED = [  # never mapped, whatever the default country
    ("Bavaria", "bavaria"),  # PB: "ba"
    ("Baja California", "bajacalifornia"),  # PB: "ca" (it matches inside longer text)
    ("CaliforniaUSA", "californiausa"),  # PB: "ca"
    ("Florida32801", "florida32801"),  # PB: "fl"
    ("Île-de-France", "iledefrance"),
    ("2A", "2a"),
    ("75", "75"),
]


@pytest.mark.parametrize(("value", "code"), US_CASES + US_ONLY)
def test_us_state_names_with_a_us_default_country(value: str, code: str) -> None:
    assert normalize("ST", value, "US") == (code, None)
    assert hash_one("ST", value, "US") == (sha(code), None)


@pytest.mark.parametrize(("value", "code"), US_CASES + CA_CASES)
def test_full_names_without_any_country(value: str, code: str) -> None:
    """No default country: PB's behaviour for every value (US states and Canadian provinces)."""
    assert normalize("ST", value) == (code, None)


@pytest.mark.parametrize(("value", "code"), CA_CASES + CA_ONLY)
def test_canadian_provinces_with_a_canadian_default_country(value: str, code: str) -> None:
    assert normalize("ST", value, "CA") == (code, None)


@pytest.mark.parametrize(("value", "folded"), [*US_ONLY, *CA_ONLY])
def test_abbreviations_need_the_default_country(value: str, folded: str) -> None:
    """Abbreviations are not mapped without a default country (``Mich.`` is also Michoacán)."""
    text = normalize("ST", value)[0]
    assert text is not None and len(text) > 2


@pytest.mark.parametrize("country", ["FR", "DE", "GB", "MX", "BE"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [("California", "california"), ("New York", "newyork"), ("Ontario", "ontario"), ("Québec", "quebec")],
)
def test_names_stay_text_outside_the_us_and_canada(country: str, value: str, expected: str) -> None:
    assert normalize("ST", value, country) == (expected, None)


def test_each_default_country_uses_its_own_table() -> None:
    assert normalize("ST", "Ontario", "US") == ("ontario", None)  # DOC-CA's rule for non-US states
    assert normalize("ST", "New York", "CA") == ("newyork", None)
    assert normalize("ST", "Calif.", None) == ("calif", None)


@pytest.mark.parametrize("country", ["US", "CA", None, "FR"])
@pytest.mark.parametrize(("value", "expected"), UNCHANGED)
def test_no_partial_match_and_no_cut(country: str | None, value: str, expected: str) -> None:
    assert normalize("ST", value, country) == (expected, None)


def test_tables_are_consistent() -> None:
    """Codes are never keys (normalizing a code gives it back), tables do not overlap, keys are folded."""
    tables = [US_NAMES, US_ABBREVIATIONS, CA_NAMES, CA_ABBREVIATIONS]
    keys = [key for table in tables for key in table]
    assert len(keys) == len(set(keys))
    for region in ("US", "CA", None):
        table = state_table(region)
        assert not set(table.values()) & set(table), region
        for key, code in table.items():
            assert len(code) == 2 and len(key) > 2
            assert normalize("ST", key, region) == (code, None)
            assert normalize("ST", code, region) == (code, None)
    assert state_table("FR") == {} and state_table("MX") == {}
    assert set(US_NAMES.values()) >= {"dc", "pr", "gu", "vi", "as", "mp"}
    assert len(set(US_NAMES.values())) == 57 and len(set(CA_NAMES.values())) == 13


def test_the_row_country_does_not_choose_the_table() -> None:
    """Column by column: ST sees the audience's default country only, never the row's COUNTRY."""
    batch = hash_batch({"ST": ["Ontario", "California"], "COUNTRY": ["fr", "fr"]}, "US")
    assert [row[0] for row in batch.rows] == [sha("ontario"), sha("ca")]
    batch = hash_batch({"ST": ["Ontario", "California"], "COUNTRY": ["fr", "us"]})
    assert [row[0] for row in batch.rows] == [sha("on"), sha("ca")]


# --- PHONE --------------------------------------------------------------------------------

PHONES_OK = [
    # (input, default country, E.164 digits, source)
    ("01(650)123-4567", None, "16501234567", "Meta's CSV via SEG; PB; PY-CAPI"),
    ("1(650)123-4567", None, "16501234567", "Meta's CSV via SEG; PB"),
    ("+1 (616) 954-78 88", None, "16169547888", "Meta's CSV via SEG"),
    ("+001 (616) 954-78 88", None, "16169547888", "Meta's CSV via SEG"),
    ("0001 650 123 4567", None, "16501234567", "any leading zeroes (DOC-CA)"),
    ("0044 20 7946 0958", None, "442079460958", "00 + international"),
    ("044 20 7946 0958", None, "442079460958", "0 + 12 digits: 0 + country code + number"),
    ("4792813113", None, "4792813113", "Meta's CSV via SEG (read as +47)"),
    ("3227352263", None, "3227352263", "Meta's CSV via SEG (read as +32)"),
    ("12345678901", None, "12345678901", "PY-CAPI example"),
    ("44-1239082130A", None, "441239082130", "letters removed (DOC-CA)"),
    ("+44 1239 082130 A", None, "441239082130", "letters removed (DOC-CA)"),
    ("06 12 34 56 78 A", "FR", "33612345678", "letters removed (DOC-CA)"),
    ("06 12 34 56 78 (mobile)", "FR", "33612345678", "letters removed, not read as a keypad word"),
    ("0612345678 perso", "FR", "33612345678", "letters removed, not read as a keypad word"),
    ("+33 6 12 34 56 78 (Bob)", None, "33612345678", "letters removed, not read as a keypad word"),
    ("0612345678 x12", "FR", "33612345678", "an extension is left out (E.164)"),
    ("0612345678#12", "FR", "33612345678", "an extension is left out (E.164)"),
    ("+1 650 555 1212 ext. 12", None, "16505551212", "an extension is left out (E.164)"),
    ("0151 12345678", None, "15112345678", "the price of Meta's rule: a German mobile read as +1"),
]


@pytest.mark.parametrize(("value", "country", "e164", "source"), PHONES_OK)
def test_phone_vectors(value: str, country: str | None, e164: str, source: str) -> None:
    assert normalize("PHONE", value, country) == (e164, None), source
    assert hash_one("PHONE", value, country) == (sha(e164), None)


PHONES_DROPPED = [
    # (input, default country, reason, why)
    ("11234567890", None, "invalid phone", "NANP area codes never start with 1 (+1 123…)"),
    ("1-123-456-7890", "US", "invalid phone", "NANP area codes never start with 1"),
    ("44-12390821300A", None, "invalid phone", "11 national digits: no UK number is that long"),
    ("44-12390821300A", "GB", "invalid phone", "11 national digits: no UK number is that long"),
    ("0612345678", None, "no country code", "a national number: 0 + 9 digits"),
    ("06 12 34 56 78", None, "no country code", "a national number: 0 + 9 digits"),
    ("020 7946 0958", None, "no country code", "a national number: 0 + 10 digits"),
    ("01(650)123-4567", "US", "invalid phone", "with a default country libphonenumber's reading decides"),
    ("1-800-FLOWERS", "US", "invalid phone", "letters removed (DOC-CA, PB): 1800"),
    ("+1-800-FLOWERS", None, "invalid phone", "letters removed (DOC-CA, PB): 1800"),
    ("06 12 34 56 78 poste 12", "FR", "invalid phone", "not an extension for libphonenumber"),
]


@pytest.mark.parametrize(("value", "country", "reason", "why"), PHONES_DROPPED)
def test_phone_drops(value: str, country: str | None, reason: str, why: str) -> None:
    assert normalize("PHONE", value, country) == (None, reason), why


@pytest.mark.parametrize("value", [v for v, *_ in PHONES_OK + PHONES_DROPPED])
@pytest.mark.parametrize("country", [None, "US", "FR", "GB"])
def test_phone_shortcuts_agree_on_the_vectors(value: str, country: str | None) -> None:
    quick = quick_phone(value, country)
    assert quick is None or quick == reference_phone(value, country)[0]
    batch = hash_batch({"PHONE": [value, value]}, country)
    expected = reference_phone(value, country)[0]
    assert [row[0] for row in batch.rows] == ([sha(expected)] * 2 if expected else [])


def test_normalized_phones_are_stable() -> None:
    for _value, country, e164, _ in PHONES_OK:
        assert normalize("PHONE", e164, None) == (e164, None)
        assert normalize("PHONE", e164, country) == (e164, None)


# --- MADID --------------------------------------------------------------------------------

MADIDS_DROPPED = [
    "AB1234CD-E123-12FG-J123",  # SEG's test value (passed through by SEG)
    "some-id",  # RUD's test value (passed through lowercased by RUD)
    "6f9619ff8b86d011b42d00cf4fc964ff",  # a UUID without hyphens: also the shape of an MD5
    "{6f9619ff-8b86-d011-b42d-00cf4fc964ff}",
    "jean.dupont@example.com",  # a wrong column: would be sent unhashed
    "+33612345678",
    "00000000-0000-0000-0000-000000000000",  # tracking off (limit ad tracking)
]


@pytest.mark.parametrize("value", MADIDS_DROPPED)
def test_madid_that_is_not_a_uuid_is_dropped(value: str) -> None:
    assert normalize("MADID", value) == (None, "invalid madid")
    assert hash_one("MADID", value) == (None, "invalid madid")


@pytest.mark.parametrize(
    "value",
    [
        "6D92078A-8246-4BA4-AE5B-76104861E7DC",  # IDFA (iOS prints it upper case)
        "38400000-8cf0-11bd-b23e-10b96e40000d",  # AAID (Android's documented example)
        "B67385F8-9A82-4670-8C0A-6F9EA7513F5F",  # Meta's cross-platform example (PY-CA examples)
    ],
)
def test_madid_uuid_is_sent_lowercased_and_unhashed(value: str) -> None:
    assert hash_one("MADID", f"  {value} ") == (value.lower(), None)
