"""fbsync vs Meta's Python SDK helper (``CustomAudienceMixin.format_params``, ``is_raw=True``).

Where the SDK follows Meta's docs the two must agree byte for byte.  Every
deliberate difference listed in docs/identity.md ("Where we differ from Meta's
Python SDK") has a test here asserting fbsync's value and showing the SDK's.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from fbsync.identity import hash_batch, hash_one

CustomAudience = pytest.importorskip("facebook_business.adobjects.customaudience").CustomAudience


def sdk(key: str, value: str) -> str:
    """What the SDK sends for one value of ``key`` in a multi-key upload."""
    params = CustomAudience.format_params([key], [[value]], is_raw=True)
    return params["payload"]["data"][0][0]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


AGREE = [
    ("EMAIL", "mary@example.com", None),
    ("EMAIL", "  John_Smith@Gmail.com ", None),
    ("EMAIL", "jean.dupont@orange.fr", None),
    ("PHONE", "+1 650 555 1212", None),
    ("PHONE", "16505551212", None),
    ("PHONE", "+33 6 12 34 56 78", None),
    ("FN", "Mary", None),
    ("FN", "  JOHN ", None),
    ("LN", "Smith", None),
    ("LN", "Na'than-Boile", None),
    ("FI", "J", None),
    ("CT", "Paris", None),
    ("CT", "New York", None),
    ("CT", "  Menlo-Park ", None),
    ("ST", "CA", "US"),
    ("ST", "ny", "US"),
    ("ZIP", "94035", None),
    ("ZIP", "94035-1234", None),
    ("ZIP", "75008", None),
    ("COUNTRY", "US", None),
    ("COUNTRY", " fr ", None),
    ("GEN", "m", None),
    ("GEN", "F", None),
    ("GEN", "Male", None),
    ("GEN", "female", None),
    ("DOBY", "1985", None),
    ("DOBM", "3", None),
    ("DOBM", "12", None),
    ("DOBD", "7", None),
    ("DOBD", "31", None),
    ("EXTERN_ID", "abc123def", None),
]


@pytest.mark.parametrize(("key", "value", "country"), AGREE)
def test_agrees_with_sdk_where_sdk_follows_the_docs(key: str, value: str, country: str | None) -> None:
    assert hash_one(key, value, country) == (sdk(key, value), None)


def test_agrees_on_a_multi_key_row() -> None:
    schema = ["EMAIL", "PHONE", "LN", "FN", "CT", "ZIP", "COUNTRY"]  # Meta's documented order
    row = ["Mary@Example.com", "+1 650 555 1212", "Smith", "Mary", "Menlo Park", "94025", "US"]
    ours = hash_batch({key: [value] for key, value in zip(schema, row)}, "US")
    theirs = CustomAudience.format_params(schema, [row], is_raw=True)["payload"]["data"]
    assert list(ours.schema) == schema
    assert [list(r) for r in ours.rows] == theirs


# Each row: (id in docs/identity.md, key, value, default country, fbsync sends, SDK sends)
DIFFERENCES = [
    ("D1", "FN", "François", None, sha("françois"), sha("franois")),
    ("D1", "LN", "Élodie", None, sha("élodie"), sha("lodie")),
    ("D2", "CT", "Saint-Étienne", None, sha("saintetienne"), sha("sainttienne")),
    ("D3", "PHONE", "06 12 34 56 78", "FR", sha("33612345678"), sha("0612345678")),
    ("D3", "PHONE", "0033 6 12 34 56 78", "FR", sha("33612345678"), sha("0033612345678")),
    ("D4", "COUNTRY", "United States", None, sha("us"), sha("un")),
    ("D4", "COUNTRY", "France", None, sha("fr"), sha("fr")),  # same by luck: first two letters
    ("D4", "COUNTRY", "Allemagne", None, sha("de"), sha("al")),
    (
        "D5",
        "MADID",
        "AEBE52E7-03EE-455A-B3C4-E57283966239",
        None,
        "aebe52e7-03ee-455a-b3c4-e57283966239",
        sha("aebe52e7-03ee-455a-b3c4-e57283966239"),
    ),
    ("D6", "EXTERN_ID", "ABC-123", None, "ABC-123", "abc-123"),
    ("D7", "EMAIL", "", None, None, sha("")),
    ("D7", "FN", "   ", None, None, sha("")),
    ("D8", "GEN", "Homme", None, sha("m"), sha("h")),
    ("D8", "GEN", "Madame", None, sha("f"), sha("m")),
    ("D8", "GEN", "X", None, None, sha("x")),
    ("D9", "ZIP", "SW1A 1AA", None, sha("sw1a1aa"), sha("sw1a 1aa")),
    ("D10", "EMAIL", "jean@orange.fr.", None, None, sha("jean@orange.fr")),
    ("D10", "EMAIL", "n/a", None, None, sha("n/a")),
    ("D11", "FI", "Jean", None, sha("j"), sha("jean")),
    ("D12", "DOBM", "13", None, None, sha("13")),
    ("D12", "DOBM", "mars", None, sha("03"), sha("")),
    ("D12", "DOBY", "85", None, None, sha("85")),
    ("D13", "EMAIL", sha("mary@example.com").upper(), None, sha("mary@example.com"), sha(sha("mary@example.com"))),
    ("D14", "ST", "California", "US", sha("ca"), sha("california")),
    ("D15", "CT", "Paris 8e", None, sha("paris"), sha("parise")),
    ("D16", "EMAIL", "Élodie@Exemple.fr", None, sha("élodie@exemple.fr"), sha("élodie@exemple.fr")),
]


@pytest.mark.parametrize(("ref", "key", "value", "country", "ours", "theirs"), DIFFERENCES)
def test_documented_differences(
    ref: str, key: str, value: str, country: str | None, ours: str | None, theirs: str
) -> None:
    assert sdk(key, value) == theirs, f"{ref}: the SDK changed; update docs/identity.md"
    assert hash_one(key, value, country)[0] == ours, ref


def test_every_documented_difference_is_tested() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "identity.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| (D\d+) \|", doc, re.M))
    tested = {row[0] for row in DIFFERENCES}
    assert documented == tested
