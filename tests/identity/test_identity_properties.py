"""Hypothesis properties: idempotence, hash shape, no crash, fast paths == reference, masks."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import os
import re
from collections import Counter

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from fbsync.identity import KEYS, UNHASHED_KEYS, hash_batch, hash_one, mask, normalize, split_date
from fbsync.identity.phone import fast_spec, quick_phone, reference_phone

settings.register_profile("identity", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "identity-thorough", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("FBSYNC_HYPOTHESIS_PROFILE", "identity"))

HEX64 = re.compile(r"[0-9a-f]{64}")
REGIONS = [None, "FR", "US", "BE", "RE"]
FAST_REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if fast_spec(r) is not None)

anything = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.binary(max_size=20),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.decimals(),
    st.dates(),
    st.datetimes(),
    st.times(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
separators = st.sampled_from(["", "", "", " ", ".", "-", "/", "(", ")", "\t", "  "])


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    """Phone-ish text: an optional prefix, digits, separators anywhere."""
    prefix = draw(
        st.sampled_from(
            [
                "",
                "",
                "0",
                "+",
                "00",
                "+33",
                "0033",
                "33",
                "+33 (0)",
                "+262",
                "0692",
                "+34",
                "0034",
                "+212",
                "+44",
                "+1",
                "+0033",
                "(0)",
                "+32",
                "0 0 33",
            ]
        )
    )
    digits = draw(st.text(alphabet="0123456789", min_size=0, max_size=14))
    text = prefix + digits
    out = ""
    for char in text:
        out += draw(separators) + char
    return out + draw(st.sampled_from(["", "", " ", ".", "x", "é"]))


@st.composite
def email_like(draw: st.DrawFn) -> str:
    local = draw(st.text(alphabet='abcXYZ.09_+-é @"', min_size=0, max_size=8))
    domain = draw(st.text(alphabet="abcDEF.0-_ ", min_size=0, max_size=8))
    ats = draw(st.sampled_from(["@", "@", "@", "", "@@"]))
    pad = draw(st.sampled_from(["", " ", "\t", "\u00a0"]))
    return pad + local + ats + domain + draw(st.sampled_from(["", ".fr", ".com", ".", ".FR"])) + pad


@given(key=st.sampled_from(KEYS), value=anything, region=st.sampled_from(REGIONS))
@example(key="PHONE", value="06 12 34 56 78", region="FR")
def test_never_crashes_and_reason_xor_value(key: str, value: object, region: str | None) -> None:
    normalized, reason = normalize(key, value, region)
    assert (normalized is None) != (reason is None)
    assert reason is None or isinstance(reason, str)
    sent, reason2 = hash_one(key, value, region)
    assert reason2 == reason
    if sent is not None and key not in UNHASHED_KEYS:
        assert HEX64.fullmatch(sent)


@given(
    key=st.sampled_from(KEYS),
    value=st.one_of(st.text(), phone_like(), email_like()),
    region=st.sampled_from([None, "FR"]),
)
@example(key="FN", value="e1\u0301", region=None)
@example(key="ZIP", value="94035 1234", region=None)
def test_idempotent(key: str, value: str, region: str | None) -> None:
    first, _ = normalize(key, value, region)
    assume(first is not None)
    assert normalize(key, first, region) == (first, None)


@given(value=phone_like(), region=st.sampled_from(FAST_REGIONS + [None, "US", "BE", "DE", "GB", "CH", "YT"]))
@example(value="0692123456", region="FR")
@example(value="+330612345678", region="FR")
def test_quick_phone_agrees_with_libphonenumber(value: str, region: str | None) -> None:
    quick = quick_phone(value.strip(), region)
    if quick is not None:
        assert quick == reference_phone(value.strip(), region)[0]


@given(
    values=st.lists(st.one_of(phone_like(), st.none(), st.integers(0, 10**12)), max_size=40),
    region=st.sampled_from(FAST_REGIONS),
)
def test_phone_column_fast_path_agrees_with_libphonenumber(values: list[object], region: str) -> None:
    batch = hash_batch({"PHONE": values}, region)
    expected = [
        (reference_phone(str(v).strip(), region) if v is not None and str(v).strip() else (None, "empty"))
        for v in values
    ]
    got = dict(zip(batch.kept_index, (row[0] for row in batch.rows)))
    for index, (value, _reason) in enumerate(expected):
        if value is None:
            assert index not in got
        else:
            assert got[index] == hashlib.sha256(value.encode()).hexdigest()


@st.composite
def columns(draw: st.DrawFn) -> dict[str, list[object]]:
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=5, unique=True))
    size = draw(st.integers(0, 25))
    cells = {
        "EMAIL": email_like(),
        "PHONE": phone_like(),
        "FN": st.sampled_from(["Jean", "Élodie", "", None, "123", "ÉLODIE", "e\u0301lodie"]),
        "DOBY": st.one_of(st.sampled_from(["1985", "85", None]), st.dates()),
        "DOBM": st.one_of(st.sampled_from(["3", "mars", "13", ""]), st.dates()),
    }
    out = {}
    for key in keys:
        strategy = (
            st.one_of(cells.get(key, st.text(max_size=6)), anything)
            if draw(st.booleans())
            else cells.get(key, st.text(max_size=6))
        )
        out[key] = draw(st.lists(strategy, min_size=size, max_size=size))
    return out


@given(cols=columns(), region=st.sampled_from([None, "FR", "US"]))
def test_batch_equals_cell_by_cell(cols: dict[str, list[object]], region: str | None) -> None:
    batch = hash_batch(cols, region)
    schema = tuple(k for k in KEYS if k in cols)
    size = len(next(iter(cols.values())))
    rows, kept, empty, invalid = [], [], Counter(), Counter()
    for index in range(size):
        row = []
        for key in schema:
            sent, reason = hash_one(key, cols[key][index], region)
            if sent is None:
                if reason == "empty":
                    empty[key] += 1
                else:
                    invalid[(key, reason)] += 1
            row.append(sent or "")
        if any(row):
            rows.append(tuple(row))
            kept.append(index)
    assert batch.schema == schema
    assert batch.rows == rows
    assert batch.kept_index == kept
    assert batch.dropped_rows == size - len(kept)
    assert batch.empty == empty and batch.invalid == invalid
    assert set(batch.examples) == set(invalid)
    for examples in batch.examples.values():
        assert 1 <= len(examples) <= 3


@given(key=st.sampled_from(KEYS), value=st.text(min_size=2))
def test_mask_never_contains_the_raw_value(key: str, value: str) -> None:
    raw = value.strip()
    assume(sum(c.isalnum() for c in raw) >= 2 and "*" not in raw)
    assert raw not in mask(key, value)


@given(day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date.today()))
def test_split_date_formats_agree(day: dt.date) -> None:
    expected = (f"{day.year:04d}", f"{day.month:02d}", f"{day.day:02d}")
    for text in (
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%Y%m%d"),
        f"{day.day}.{day.month}.{day.year}",
        f"{day.isoformat()}T12:00:00",
    ):
        assert split_date(text) == expected
    assert split_date(day) == expected


@pytest.mark.parametrize("value", [decimal.Decimal("75008"), decimal.Decimal("7.5")])
def test_decimal_values(value: decimal.Decimal) -> None:
    normalize("ZIP", value)  # no crash; integral decimals read as digits
    assert normalize("ZIP", decimal.Decimal("75008")) == ("75008", None)


def _shapes(region: str) -> list[str]:
    """Every way a CRM writes this region's example numbers (all types)."""
    shapes = []
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        number = phonenumbers.example_number_for_type(region, kind)
        if number is None:
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        spaced = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        nsn = phonenumbers.national_significant_number(number)
        shapes += [
            e164,
            e164[1:],
            "00" + e164[1:],
            national,
            spaced,
            nsn,
            re.sub(r"\D", "", national),
            f"+{number.country_code} (0){nsn}",
            spaced.replace(" ", "."),
            national.replace(" ", "-"),
        ]
    return shapes


@pytest.mark.parametrize("region", FAST_REGIONS)
def test_fast_regions_example_numbers(region: str) -> None:
    values = _shapes(region)
    batch = hash_batch({"PHONE": values}, region)
    got = dict(zip(batch.kept_index, (row[0] for row in batch.rows)))
    for index, value in enumerate(values):
        expected, _ = reference_phone(value, region)
        assert got.get(index) == (hashlib.sha256(expected.encode()).hexdigest() if expected else None), value
        quick = quick_phone(value, region)
        assert quick is None or quick == expected, value


OVERSEAS_AND_OTHERS = [
    "262",
    "263",
    "269",
    "590",
    "594",
    "596",
    "639",
    "690",
    "691",
    "692",
    "693",
    "694",
    "696",
    "697",
    "612",
    "712",
    "199",
]
FR_SHAPES = [
    "+33{p}123456",
    "+33 (0){p}123456",
    "0033{p}123456",
    "0033 (0){p}123456",
    "33{p}123456",
    "330{p}123456",
    "0{p}123456",
    "{p}123456",
    "+330{p}123456",
    "00330{p}123456",
]


@pytest.mark.parametrize("prefix", OVERSEAS_AND_OTHERS)
def test_french_fast_path_keeps_a_written_33_even_before_an_overseas_prefix(prefix: str) -> None:
    # +33 692… stays 33692… (as written); only 0692… becomes Réunion's 262692…. The column fast
    # path takes every shape written with 33 and leaves national overseas numbers to quick_phone.
    values = [shape.format(p=prefix) for shape in FR_SHAPES]
    batch = hash_batch({"PHONE": values}, "FR")
    got = dict(zip(batch.kept_index, (row[0] for row in batch.rows)))
    spec = fast_spec("FR")
    assert spec is not None
    for index, value in enumerate(values):
        expected, _ = reference_phone(value, "FR")
        assert got.get(index) == (hashlib.sha256(expected.encode()).hexdigest() if expected else None), value
        compact = re.sub(r"[ ().]", "", value).encode()
        written_33 = not value.startswith("0") or value.startswith("00")
        if written_33 and value.lstrip("+").startswith("33"):
            assert spec.accept.fullmatch(compact), value
            assert expected == "33" + compact[-9:].decode()
