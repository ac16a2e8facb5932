"""The key registry (``fbsync.identity.keys``): its facts, and that every consumer reads them.

The expected sets below are written out on purpose: changing which keys are hashed, identifying or
pushed down must be a decision made here, not a side effect of editing one entry.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import sys
import typing
from pathlib import Path

import pytest

from fbsync import config, identity, suppression
from fbsync.errors import ConfigError
from fbsync.identity import batch, dates, geo, keys, parallel, person, phone
from fbsync.sandbox import payload
from fbsync.sources import files
from fbsync.sources import pushdown as pd
from fbsync.sources import pushdown_sql as pds

ROOT = Path(__file__).resolve().parents[2]
normalize = importlib.import_module("fbsync.identity.normalize")  # the package's ``normalize`` is the function
#: Meta's documented order for multi-key schemas (DOC-CA, R-USERS; docs/meta-api.md §1.5).
META_ORDER = (
    "EXTERN_ID",
    "EMAIL",
    "PHONE",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "LN",
    "FN",
    "FI",
    "CT",
    "ST",
    "ZIP",
    "MADID",
    "COUNTRY",
)
IDENTIFYING = {"EMAIL", "PHONE", "MADID", "EXTERN_ID"}
UNHASHED = {"MADID", "EXTERN_ID"}


# ----------------------------------------------------------------- the registry itself
def test_order_is_metas_documented_order() -> None:
    assert keys.KEYS == META_ORDER
    assert tuple(k.name for k in keys.REGISTRY) == META_ORDER
    assert list(keys.BY_NAME) == list(META_ORDER)


def test_derived_sets_are_the_expected_ones() -> None:
    assert keys.UNHASHED == UNHASHED
    assert set(META_ORDER) - UNHASHED == keys.HASHED
    assert keys.IDENTIFYING == IDENTIFYING
    assert {"EMAIL", "PHONE", "MADID", "EXTERN_ID"} == keys.DISTINCT
    assert keys.PUSHDOWN_TEXT == ("EXTERN_ID", "EMAIL", "GEN", "LN", "FN", "FI", "CT", "ST", "ZIP", "MADID", "COUNTRY")
    assert {"DOBY", "DOBM", "DOBD"} == keys.PUSHDOWN_DATE
    assert {"PHONE"} == keys.PUSHDOWN_PYTHON
    assert keys.DATE_PART == {"DOBY": 0, "DOBM": 1, "DOBD": 2}


def test_normalizers_are_the_per_key_functions() -> None:
    assert {
        "EXTERN_ID": person.normalize_extern_id,
        "EMAIL": person.normalize_email,
        "PHONE": phone.normalize_phone,
        "GEN": person.normalize_gender,
        "DOBY": dates.normalize_birth_year,
        "DOBM": dates.normalize_birth_month,
        "DOBD": dates.normalize_birth_day,
        "LN": person.normalize_name,
        "FN": person.normalize_name,
        "FI": person.normalize_first_initial,
        "CT": geo.normalize_city,
        "ST": geo.normalize_state,
        "ZIP": geo.normalize_zip,
        "MADID": person.normalize_madid,
        "COUNTRY": geo.normalize_country,
    } == keys.NORMALIZERS


@pytest.mark.parametrize("key", keys.REGISTRY, ids=lambda k: k.name)
def test_every_key_is_complete(key: keys.MetaKey) -> None:
    assert callable(key.normalizer)
    assert key.pushdown in typing.get_args(keys.PushdownMode)
    assert key.description and "\n" not in key.description
    assert key.name == key.name.upper() and key.name.isidentifier()


@pytest.mark.parametrize(
    "change, words",
    [
        ({"pushdown": "date"}, "date_part"),
        ({"date_part": 0}, "date_part"),
        ({"pushdown": "python"}, "python_reason"),
        ({"python_reason": "because"}, "python_reason"),
    ],
)
def test_contradictory_entries_are_refused(change: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        dataclasses.replace(keys.BY_NAME["EMAIL"], **change)


def test_registry_imports_only_identity_and_the_standard_library() -> None:
    """No cycle: config, suppression, sources and the sandbox import the registry, never the reverse."""
    tree = ast.parse((ROOT / "fbsync" / "identity" / "keys.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert name.startswith("fbsync.identity") or top == "__future__" or top in sys.stdlib_module_names, name


def test_docs_table_matches_the_registry() -> None:
    text = (ROOT / "docs" / "identity.md").read_text(encoding="utf-8")
    yes = {True: "yes", False: "no"}
    for k in keys.REGISTRY:
        cells = [f"`{k.name}`", yes[k.hashed], yes[k.identifies], yes[k.distinct], k.pushdown, k.description]
        row = "| " + " | ".join(cells) + " |"
        assert row in text, row


# ----------------------------------------------------------------- every consumer reads it
def test_identity_engine_reads_the_registry() -> None:
    assert identity.KEYS == normalize.KEYS == keys.KEYS
    assert identity.UNHASHED_KEYS == normalize.UNHASHED_KEYS == keys.UNHASHED
    assert normalize.NORMALIZERS == keys.NORMALIZERS
    assert normalize.DOB_PART == keys.DATE_PART
    assert parallel.WORKER_KEYS == keys.DISTINCT


def test_memo_only_for_keys_with_few_distinct_values() -> None:
    for key in keys.KEYS:
        batch.hash_column(key, ["x"], "ZZ")  # region "ZZ": a memo slot no other test uses
        assert ((key, "ZZ") in batch._MEMO) == (key not in keys.DISTINCT), key


def test_hash_one_sends_unhashed_keys_raw() -> None:
    values = {"EXTERN_ID": "Client-42", "MADID": "6d92078a-8246-4ba4-ae5b-76104861e7dc"}
    for key in keys.KEYS:
        sent, _ = identity.hash_one(key, values.get(key, "x"), "FR")
        if key in keys.UNHASHED:
            assert sent == values[key], key
        else:
            assert sent is None or len(sent) == 64, key


def test_suppression_matches_on_the_identifying_keys() -> None:
    assert suppression.IDENTIFYING_KEYS == keys.IDENTIFYING


def test_config_accepts_exactly_the_registry_keys() -> None:
    yaml = "version: 1\nad_account_id: act_1234567890\naudiences:\n  - name: a\n    query: SELECT 1\n    keys: {%s}\n"
    mapping = ", ".join(f"{k}: c{i}" for i, k in enumerate(keys.KEYS))
    cfg = config.parse_config(yaml % mapping, "a.yaml", {})
    assert list(cfg.audiences[0].keys) == list(keys.KEYS)
    for other in ("APPUID", "LOOKALIKE_VALUE", "email"):
        with pytest.raises(ConfigError, match=f"unknown key '{other}'"):
            config.parse_config(yaml % f"{other}: c", "a.yaml", {})


def test_file_sources_accept_exactly_the_registry_keys() -> None:
    assert files.parse_map([f"{k}=c" for k in keys.KEYS]) == dict.fromkeys(keys.KEYS, "c")
    with pytest.raises(ConfigError, match="not a Meta key"):
        files.parse_map(["APPUID=c"])


def test_pushdown_reads_the_registry() -> None:
    assert pd.TEXT_KEYS == keys.PUSHDOWN_TEXT
    assert pd.PER_ROW == {"EMAIL", "EXTERN_ID", "MADID"} == keys.DISTINCT & set(keys.PUSHDOWN_TEXT)
    assert keys.BY_NAME["PHONE"].python_reason == pd.PHONE_REASON
    assert pds.DOB_KEYS == {"DOBY": "YYYY", "DOBM": "MM", "DOBD": "DD"}
    assert set(pds.RULES) == set(keys.PUSHDOWN_TEXT), "a key pushed as text needs its SQL rule"
    assert set(pds.RULES) >= pds._ANY_TEXT


def test_pushdown_plan_follows_each_keys_mode() -> None:
    mapping = {k: f"c{i}" for i, k in enumerate(keys.KEYS)}
    types = {f"c{i}": "date" if k in keys.PUSHDOWN_DATE else "text" for i, k in enumerate(keys.KEYS)}
    plan = pd.plan_pushdown(mapping, "FR", types)
    assert tuple(plan.pushed) == tuple(k for k in keys.KEYS if k not in keys.PUSHDOWN_PYTHON)
    assert plan.kept == {k: keys.BY_NAME[k].python_reason for k in keys.PUSHDOWN_PYTHON}
    expected = {
        k: "date" if k in keys.PUSHDOWN_DATE else "text" if k in keys.DISTINCT else "distinct" for k in plan.pushed
    }
    assert plan.kinds == expected


def test_sandbox_knows_every_key_with_the_same_hashing() -> None:
    assert set(payload.MULTI_KEYS) >= set(keys.KEYS)
    assert {k: payload.MULTI_KEYS[k] for k in keys.KEYS} == {k.name: k.hashed for k in keys.REGISTRY}
    assert set(payload.MULTI_KEYS) - set(keys.KEYS) == {"APPUID", "PAGEUID"}  # keys fbsync never sends


def test_sandbox_accepts_what_fbsync_sends_for_every_key() -> None:
    values = {
        "EXTERN_ID": "Client-42",
        "EMAIL": "jean@example.com",
        "PHONE": "06 12 34 56 78",
        "GEN": "F",
        "DOBY": "1985",
        "DOBM": "3",
        "DOBD": "7",
        "LN": "Dupont",
        "FN": "Jean",
        "FI": "J",
        "CT": "Paris",
        "ST": "IDF",
        "ZIP": "75008",
        "MADID": "6d92078a-8246-4ba4-ae5b-76104861e7dc",
        "COUNTRY": "France",
    }
    assert set(values) == set(keys.KEYS)
    sent = identity.hash_batch({k: [v] for k, v in values.items()}, "FR")
    assert sent.invalid == {} and sent.schema == keys.KEYS
    parsed = payload.parse_payload({"schema": list(sent.schema), "data": [list(row) for row in sent.rows]})
    assert (parsed.received, parsed.invalid) == (1, 0)
    raw = payload.parse_payload({"schema": list(keys.KEYS), "data": [[values[k] for k in keys.KEYS]]})
    assert raw.invalid == 1  # the hashed keys sent in clear are refused
