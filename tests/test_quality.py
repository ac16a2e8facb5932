"""Data-quality gates (fbsync/quality.py, docs/quality.md): the YAML block, the meter, the gates."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import math
import statistics
from array import array
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from fbsync.identity import KEYS, hash_batch
from fbsync.identity._text import sha256_hex
from fbsync.quality import (
    CHECKS,
    Gate,
    Measured,
    Outliers,
    Quality,
    QualityMeter,
    ValueStats,
    evaluate,
    failed,
    percent,
    refusal,
    unmapped,
    value_stats,
)

TODAY = dt.date(2025, 6, 15)  # every DOB_AGE test runs "on" this date


def q(**kw: Any) -> Quality:
    return Quality.model_validate(kw)


def problem(data: dict[str, Any]) -> str:
    """The one sentence config.py would show (it strips pydantic's "Value error, " the same way)."""
    with pytest.raises(ValidationError) as info:
        Quality.model_validate(data)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return str(errors[0]["msg"]).removeprefix("Value error, ")


def gate(quality: Quality, m: Measured) -> Gate:
    (only,) = evaluate(quality, m)
    return only


# --------------------------------------------------------------------------- the YAML block


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"min_rows": -1}, "must be a whole number of rows, 0 or more, not -1"),
        ({"min_rows": 10.5}, "must be a whole number of rows, 0 or more, not 10.5"),
        ({"min_rows": True}, "must be a whole number of rows, 0 or more, not True"),
        ({"max_rows": 0}, "must be a whole number of rows, 1 or more, not 0"),
        ({"max_drop_share": 1.5}, "must be a share between 0 and 1, such as 0.02 for 2 %, not 1.5"),
        ({"max_duplicate_share": -0.1}, "must be a share between 0 and 1, such as 0.02 for 2 %, not -0.1"),
        ({"max_null_share": {"EMAIL": "2%"}}, "must be a share between 0 and 1, such as 0.02 for 2 %, not '2%'"),
        ({"max_null_share": {"EMAIL": 2}}, "must be a share between 0 and 1, such as 0.02 for 2 %, not 2"),
        ({"max_change_share": -0.2}, "must be a share of the rows held, 0 or more (0.2 for 20 %), not -0.2"),
        ({"max_inconsistent_share": math.nan}, "must be a share between 0 and 1, such as 0.02 for 2 %, not nan"),
        ({"max_null_share": {"email": 0.1}}, "'email' is not a Meta key; write it EMAIL"),
        ({"max_invalid_share": {"MAIL": 0.1}}, "'MAIL' is not a Meta key; Meta's keys are " + ", ".join(KEYS)),
        ({"consistency": ["ZIP_COUNTRY", "AGE"]}, "'AGE' is not a check; the checks are ZIP_COUNTRY and DOB_AGE"),
        ({"consistency": 1}, "must be true, false or a list of checks among ZIP_COUNTRY, DOB_AGE"),
        ({"min_rows": 5000, "max_rows": 1000}, "min_rows (5,000) is above max_rows (1,000): nothing could pass"),
        ({"outliers": {"rule": "iqr", "threshold": 0}}, "must be a positive number, not 0"),
        ({"outliers": {"rule": "mad"}}, "Input should be 'zscore' or 'iqr'"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_what_is_wanted(data: dict[str, Any], says: str) -> None:
    assert problem(data) == says


def test_the_errors_point_at_the_field() -> None:
    with pytest.raises(ValidationError) as info:
        Quality.model_validate({"max_null_share": {"EMAIL": 3}, "outliers": {}, "max_nul_share": 0.1})
    where = {(e["loc"], e["type"]) for e in info.value.errors()}
    assert where == {
        (("max_null_share", "EMAIL"), "value_error"),
        (("outliers", "rule"), "missing"),  # config.py says "is required"
        (("max_nul_share",), "extra_forbidden"),  # config.py says "is not a known field"
    }


def test_what_the_block_accepts() -> None:
    block = q(
        min_rows=1000.0,
        max_rows=50_000,
        max_null_share={"EMAIL": 0.02, "PHONE": 0},
        max_change_share=3,  # adds can outnumber what was held
        consistency="DOB_AGE",
        outliers={"rule": "iqr"},
    )
    assert block.min_rows == 1000 and isinstance(block.min_rows, int)
    assert block.checks == ("DOB_AGE",)
    assert block.inconsistent_limit == 0.01
    assert block.outliers is not None and (block.outliers.limit, block.outliers.max_share, block.outliers.block) == (
        1.5,
        0.01,
        False,
    )
    assert Outliers(rule="zscore").limit == 4.0
    assert Outliers(rule="zscore", threshold=3).limit == 3.0
    # the shorthand the contract shows: the rule as the key, its threshold as the value
    assert q(outliers={"zscore": 4}).outliers == Outliers(rule="zscore", threshold=4)
    assert q(outliers={"iqr": 2, "block": True}).outliers == Outliers(rule="iqr", threshold=2, block=True)
    assert q(consistency=True).checks == CHECKS
    assert q(consistency=["DOB_AGE", "ZIP_COUNTRY", "DOB_AGE"]).checks == ("ZIP_COUNTRY", "DOB_AGE")
    assert q(consistency=False).checks == q().checks == ()
    assert q(consistency=True, max_inconsistent_share=0.05).inconsistent_limit == 0.05
    with pytest.raises(ValidationError):
        block.min_rows = 3  # frozen, like every config model


def test_the_block_fits_in_a_config_model() -> None:
    """config.py will hold it as a field of Defaults and Audience (extra="forbid" models)."""

    class Audience(BaseModel):
        name: str
        quality: Quality | None = None

    a = Audience.model_validate({"name": "vip", "quality": {"min_rows": 10}})
    assert a.quality == q(min_rows=10)
    with pytest.raises(ValidationError) as info:
        Audience.model_validate({"name": "vip", "quality": {"max_rows": 0}})
    assert info.value.errors()[0]["loc"] == ("quality", "max_rows")


def test_merge_takes_the_audience_field_by_field() -> None:
    defaults = q(min_rows=1000, max_null_share={"EMAIL": 0.02}, consistency=True, outliers={"rule": "zscore"})
    own = q(max_null_share={"PHONE": 0.1}, max_drop_share=0.5)
    merged = Quality.merged(defaults, own)
    assert merged == q(
        min_rows=1000,
        max_null_share={"PHONE": 0.1},  # a mapping is one field: the audience's replaces the defaults'
        max_drop_share=0.5,
        consistency=True,
        outliers={"rule": "zscore"},
    )
    assert Quality.merged(None, None) is None
    assert Quality.merged(defaults, None) == defaults
    assert Quality.merged(None, own) == own
    assert Quality.merged(q(), q()) == q()


def test_an_audience_turns_a_default_off_with_null_or_false() -> None:
    defaults = q(min_rows=1000, consistency=True, outliers={"rule": "iqr"})
    merged = Quality.merged(defaults, q(min_rows=None, consistency=False, outliers=None))
    assert merged is not None
    assert evaluate(merged, Measured(rows_desired=5)) == []
    again = Quality.merged(merged, q(max_rows=10))  # a merged block merges again
    assert again is not None and again.min_rows is None and again.max_rows == 10


def test_a_contradictory_merge_is_one_sentence() -> None:
    with pytest.raises(ValueError, match=r"^min_rows \(5,000\) is above max_rows \(1,000\): nothing could pass\.$"):
        Quality.merged(q(min_rows=5000), q(max_rows=1000))


def test_unmapped_keys_of_the_audience_block() -> None:
    block = q(max_null_share={"EMAIL": 0.1, "PHONE": 0.1}, max_invalid_share={"ZIP": 0.1}, outliers={"rule": "iqr"})
    assert unmapped(block, ["EMAIL", "ZIP"], value_column=True) == [
        "quality.max_null_share names PHONE, which the audience does not map to a column."
    ]
    assert unmapped(block, ["EMAIL", "PHONE", "ZIP"]) == [
        "quality.outliers needs a value: column (the figure each row carries)."
    ]
    assert unmapped(q(), []) == []


# --------------------------------------------------------------------------- the gates at their edges

EDGES = [  # (block, measured exactly at the threshold, the same one row worse, the sentence at the edge)
    (
        q(min_rows=1000),
        Measured(rows_desired=1000),
        Measured(rows_desired=999),
        "the audience would hold 1,000 rows (minimum 1,000)",
    ),
    (
        q(max_rows=1000),
        Measured(rows_desired=1000),
        Measured(rows_desired=1001),
        "the audience would hold 1,000 rows (maximum 1,000)",
    ),
    (
        q(max_null_share={"EMAIL": 0.02}),
        Measured(rows_metered=1000, null={"EMAIL": 20}),
        Measured(rows_metered=1000, null={"EMAIL": 21}),
        "EMAIL is empty on 2.0 % of rows read (20 of 1,000; threshold 2 %)",
    ),
    (
        q(max_invalid_share={"PHONE": 0.02}),
        Measured(rows_metered=1500, null={"PHONE": 500}, invalid={"PHONE": 20}),
        Measured(rows_metered=1500, null={"PHONE": 500}, invalid={"PHONE": 21}),
        "PHONE is invalid on 2.0 % of its non-empty values (20 of 1,000; threshold 2 %)",
    ),
    (
        q(max_duplicate_share=0.05),
        Measured(rows_desired=950, rows_duplicate=50),
        Measured(rows_desired=949, rows_duplicate=51),
        "duplicates are 5.0 % of rows kept (50 of 1,000; threshold 5 %)",
    ),
    (
        q(max_drop_share=0.1),
        Measured(rows_read=1000, rows_left_out=100),
        Measured(rows_read=1000, rows_left_out=101),
        "10.0 % of rows read are left out (100 of 1,000; threshold 10 %)",
    ),
    (
        q(max_change_share=0.2),
        Measured(adds=150, removes=50, held_before=1000),
        Measured(adds=150, removes=51, held_before=1000),
        "this sync would change 20.0 % of the rows held (200 of 1,000; threshold 20 %)",
    ),
    (
        q(consistency=["ZIP_COUNTRY"]),
        Measured(checked={"ZIP_COUNTRY": 1000}, inconsistent={"ZIP_COUNTRY": 10}),
        Measured(checked={"ZIP_COUNTRY": 1000}, inconsistent={"ZIP_COUNTRY": 11}),
        "ZIP does not fit the row's country on 1.0 % of rows checked (10 of 1,000; threshold 1 %)",
    ),
    (
        q(consistency=["DOB_AGE"], max_inconsistent_share=0.005),
        Measured(checked={"DOB_AGE": 1000}, inconsistent={"DOB_AGE": 5}),
        Measured(checked={"DOB_AGE": 1000}, inconsistent={"DOB_AGE": 6}),
        "DOBY gives an age outside 0–120 on 0.5 % of rows checked (5 of 1,000; threshold 0.5 %)",
    ),
    (
        q(outliers={"rule": "iqr", "max_share": 0.01, "block": True}),
        Measured(values=ValueStats(count=1000, outliers=10)),
        Measured(values=ValueStats(count=1000, outliers=11)),
        "1.0 % of values lie beyond 1.5 × IQR of the quartiles (10 of 1,000; threshold 1 %)",
    ),
]


@pytest.mark.parametrize(("block", "edge", "worse", "sentence"), EDGES, ids=[gate(b, e).name for b, e, *_ in EDGES])
def test_each_gate_passes_at_its_threshold_and_blocks_one_row_beyond(
    block: Quality, edge: Measured, worse: Measured, sentence: str
) -> None:
    at_edge, beyond = gate(block, edge), gate(block, worse)
    assert (at_edge.passed, at_edge.status, at_edge.blocking, at_edge.applicable) == (True, "passed", True, True)
    assert at_edge.sentence() == sentence
    assert (beyond.passed, beyond.status) == (False, "failed")
    assert failed([at_edge, beyond]) == [beyond]
    message = refusal("vip", [at_edge, beyond])
    assert message == (
        f"vip: a quality gate failed: {beyond.sentence()} [{beyond.name}]; fix the rows in the CRM, "
        "change the audience's quality: settings, or run with --force."
    )


def test_the_threshold_edge_is_exact_for_awkward_fractions() -> None:
    """count / total equals the threshold exactly when the fraction is the threshold (7/100 vs 0.07…)."""
    for count, total, limit in [(7, 100, 0.07), (1, 3, 1 / 3), (29, 100, 0.29), (57, 100, 0.57), (3, 10, 0.3)]:
        assert gate(q(max_drop_share=limit), Measured(rows_read=total, rows_left_out=count)).passed


def test_outliers_only_warn_unless_block_is_true() -> None:
    m = Measured(values=ValueStats(count=100, outliers=50))
    warning = gate(q(outliers={"rule": "zscore"}), m)
    assert (warning.passed, warning.blocking, warning.status) == (False, False, "warning")
    assert failed([warning]) == [] and refusal("vip", [warning]) is None
    assert warning.sentence() == (
        "50.0 % of values lie more than 4 standard deviations from the mean (50 of 100; threshold 1 %)"
    )
    assert gate(q(outliers={"rule": "zscore", "block": True}), m).status == "failed"


@pytest.mark.parametrize(
    ("block", "m", "sentence"),
    [
        (
            q(max_change_share=0.2),
            Measured(),
            "max_change_share: not applicable (first sync: no rows held before to compare with)",
        ),
        (
            q(max_change_share=0.2),
            Measured(adds=10, removes=0, held_before=0),
            "max_change_share: not applicable (the audience held no rows before)",
        ),
        (
            q(max_null_share={"PHONE": 0.1}),
            Measured(rows_metered=10, null={"EMAIL": 1}),
            "max_null_share PHONE: not applicable (the audience maps no PHONE column)",
        ),
        (
            q(max_null_share={"EMAIL": 0.1}),
            Measured(null={"EMAIL": 0}),
            "max_null_share EMAIL: not applicable (no row was read after consent)",
        ),
        (
            q(max_invalid_share={"EMAIL": 0.1}),
            Measured(rows_metered=10, null={"EMAIL": 10}, invalid={"EMAIL": 0}),
            "max_invalid_share EMAIL: not applicable (no row has a value for EMAIL)",
        ),
        (q(max_duplicate_share=0.1), Measured(), "max_duplicate_share: not applicable (no row was kept)"),
        (q(max_drop_share=0.1), Measured(), "max_drop_share: not applicable (no row was read)"),
        (
            q(consistency=["ZIP_COUNTRY"]),
            Measured(),
            "consistency ZIP_COUNTRY: not applicable (no row could be judged: no valid ZIP in a country with a "
            "postcode rule)",
        ),
        (
            q(consistency=["DOB_AGE"]),
            Measured(),
            "consistency DOB_AGE: not applicable (no row could be judged: no DOBY year)",
        ),
        (q(outliers={"rule": "iqr"}), Measured(), "outliers: not applicable (no value column was read)"),
        (
            q(outliers={"rule": "iqr", "block": True}),
            Measured(values=ValueStats(missing=5)),
            "outliers: not applicable (no numeric value was read)",
        ),
    ],
)
def test_a_gate_that_cannot_be_measured_passes_as_not_applicable(block: Quality, m: Measured, sentence: str) -> None:
    g = gate(block, m)
    assert (g.passed, g.applicable, g.status, g.sentence()) == (True, False, "not applicable", sentence)
    assert g.to_dict()["measured"] is None and g.to_dict()["count"] is None


def test_only_configured_gates_are_evaluated_in_a_fixed_order() -> None:
    assert evaluate(q(), Measured(rows_read=10)) == []
    block = q(
        outliers={"rule": "iqr"},
        consistency=True,
        max_change_share=0.5,
        max_drop_share=0.5,
        max_duplicate_share=0.5,
        max_invalid_share={"ZIP": 0.1, "EMAIL": 0.1},
        max_null_share={"COUNTRY": 0.1, "PHONE": 0.1, "EMAIL": 0.1},
        max_rows=10,
        min_rows=1,
    )
    assert [g.name for g in evaluate(block, Measured())] == [
        "min_rows",
        "max_rows",
        "max_null_share EMAIL",  # keys in Meta's order, whatever the YAML's
        "max_null_share PHONE",
        "max_null_share COUNTRY",
        "max_invalid_share EMAIL",
        "max_invalid_share ZIP",
        "max_duplicate_share",
        "max_drop_share",
        "max_change_share",
        "consistency ZIP_COUNTRY",
        "consistency DOB_AGE",
        "outliers",
    ]


def test_gates_and_figures_are_json_safe() -> None:
    block = q(min_rows=5, max_null_share={"EMAIL": 0.02}, max_change_share=0.1, outliers={"rule": "iqr"})
    m = Measured(
        rows_read=100,
        rows_metered=90,
        rows_desired=80,
        null={"EMAIL": 3},
        values=value_stats(array("d", [1, 2, 3, 50]), 2, Outliers(rule="iqr")),
    )
    gates = evaluate(block, m)
    records = json.loads(json.dumps([g.to_dict() for g in gates]))
    assert records[1] == {
        "name": "max_null_share EMAIL",
        "status": "failed",
        "measured": 3 / 90,
        "threshold": 0.02,
        "passed": False,
        "blocking": True,
        "applicable": True,
        "count": 3,
        "total": 90,
        "note": "",
        "sentence": "EMAIL is empty on 3.3 % of rows read (3 of 90; threshold 2 %)",
    }
    assert records[2]["status"] == "not applicable" and records[2]["measured"] is None
    figures = json.loads(json.dumps(m.to_dict()))
    assert figures["null"] == {"EMAIL": 3} and figures["values"]["outliers"] == 1 and figures["values"]["missing"] == 2
    assert refusal("vip", gates) == (
        "vip: a quality gate failed: EMAIL is empty on 3.3 % of rows read (3 of 90; threshold 2 %) "
        "[max_null_share EMAIL]; fix the rows in the CRM, change the audience's quality: settings, or run with --force."
    )


def test_two_failures_are_counted_in_the_refusal() -> None:
    gates = evaluate(q(min_rows=10, max_drop_share=0.1), Measured(rows_read=10, rows_left_out=9, rows_desired=1))
    message = refusal("vip", gates)
    assert message is not None and message.startswith(
        "vip: 2 quality gates failed: the audience would hold 1 rows (minimum 10) [min_rows]; 90.0 % of rows read "
        "are left out"
    )


@pytest.mark.parametrize(
    ("share", "text"),
    [(0, "0.0 %"), (0.031, "3.1 %"), (0.0004, "< 0.1 %"), (0.0005, "0.1 %"), (0.9996, "> 99.9 %"), (1, "100.0 %")]
    + [(2.5, "250.0 %"), (0.02, "2.0 %"), (0.12345, "12.3 %")],
)
def test_percent_has_one_decimal_and_never_rounds_to_a_lie(share: float, text: str) -> None:
    assert percent(share) == text


# --------------------------------------------------------------------------- consistency: ZIP_COUNTRY


def zip_verdicts(zips: list[Any], countries: list[Any] | None = None, default: str | None = "FR") -> tuple[int, int]:
    """(rows judged, rows inconsistent) for ZIP (and COUNTRY) columns."""
    meter = QualityMeter(q(consistency=["ZIP_COUNTRY"]), default_country=default)
    columns: dict[str, list[Any]] = {"ZIP": zips} | ({"COUNTRY": countries} if countries is not None else {})
    meter.feed(columns)
    return meter.checked["ZIP_COUNTRY"], meter.inconsistent["ZIP_COUNTRY"]


FRENCH_OK = [
    "75008",  # Paris 8e
    "01000",  # Bourg-en-Bresse: département 01, a leading zero
    "95000",  # Cergy: département 95, the last metropolitan one
    "20000",  # Ajaccio, Corse-du-Sud (2A): Corsican postcodes start with 20
    "20200",  # Bastia, Haute-Corse (2B)
    "97100",  # Guadeloupe (971)
    "97133",  # Saint-Barthélemy: Guadeloupe's range
    "97150",  # Saint-Martin: Guadeloupe's range
    "97200",  # Martinique (972)
    "97300",  # Guyane (973)
    "97400",  # La Réunion (974)
    "97500",  # Saint-Pierre-et-Miquelon (975)
    "97600",  # Mayotte (976)
    "98000",  # Monaco (980)
    "98600",  # Wallis-et-Futuna (986)
    "98714",  # Polynésie française (987)
    "98800",  # Nouvelle-Calédonie (988)
    "F-75008",  # the normalizer drops the F- prefix…
    "75008 CEDEX 08",  # …and CEDEX
    75008,  # a number stored as a number
    75008.0,
]
FRENCH_WRONG = [
    "00100",  # 00: military sector codes, not a home address
    "96000",  # 96: no département
    "97700",  # 977 is Saint-Barthélemy's INSEE code, not a postcode
    "97800",  # 978: Saint-Martin's INSEE code
    "98400",  # 984: TAAF, no postcode
    "99000",  # 99: La Poste's special services
    1000,  # 01000 read as a number: the leading zero is lost
    "7500",
    "750080",
    "SW1A 1AA",
]


@pytest.mark.parametrize("code", FRENCH_OK)
def test_french_postcodes_that_fit(code: Any) -> None:
    assert zip_verdicts([code]) == (1, 0)
    assert zip_verdicts([code], ["France"], default=None) == (1, 0)


@pytest.mark.parametrize("code", FRENCH_WRONG)
def test_french_postcodes_that_do_not_fit(code: Any) -> None:
    assert zip_verdicts([code]) == (1, 1)


def test_corsican_insee_codes_are_invalid_zips_not_inconsistent_ones() -> None:
    """2A004 is Ajaccio's INSEE code: the ZIP normalizer drops it (counted by max_invalid_share ZIP)."""
    assert zip_verdicts(["2A004", "2b033"]) == (0, 0)


@pytest.mark.parametrize(
    ("country", "good", "bad"),
    [
        ("GP", "97110", "97200"),
        ("BL", "97133", "97700"),
        ("MF", "97150", "97800"),
        ("MQ", "97220", "97100"),
        ("GF", "97300", "97400"),
        ("RE", "97400", "75008"),
        ("PM", "97500", "97600"),
        ("YT", "97600", "97500"),
        ("MC", "98000", "06000"),
        ("WF", "98600", "98700"),
        ("PF", "98714", "98800"),
        ("NC", "98800", "98714"),
        ("US", "94035-1234", "9403"),
        ("US", "02134", "2134"),
        ("DE", "10115", "1011"),
        ("IT", "00144", "0014"),
        ("ES", "28039", "53000"),
        ("BE", "1000", "0100"),
        ("CH", "1211", "12110"),
        ("AT", "1010", "101"),
        ("LU", "4750", "L-4750"),
        ("NL", "1234 AB", "1234"),
        ("PT", "2725-079", "2725"),
        ("GB", "SW1A 1AA", "SW1A"),
        ("GB", "M1 1AE", "12345"),
        ("GB", "GIR 0AA", "M1 1AC"),  # the inward code never uses C, I, K, M, O or V
        ("CA", "K1A 0B1", "K1A 0B"),
    ],
)
def test_other_countries_with_a_clear_rule(country: str, good: str, bad: str) -> None:
    assert zip_verdicts([good, bad], [country, country]) == (2, 1)


def test_the_row_country_wins_and_the_default_fills_blanks() -> None:
    zips = ["75008", "75008", "SW1A 2AA", "SW1A 2AA", "75008", "75008"]
    countries = ["FR", "GB", "Royaume-Uni", "  ", None, "FRA"]
    assert zip_verdicts(zips, countries, default="FR") == (6, 2)  # 75008 in GB; SW1A 2AA in FR (the default)


def test_rows_without_a_rule_are_not_judged() -> None:
    assert zip_verdicts(["100-0001"], ["JP"]) == (0, 0)  # no rule for Japan: skipped
    assert zip_verdicts(["75008"], None, default=None) == (0, 0)  # no country at all
    assert zip_verdicts(["75008"], ["Atlantis"]) == (0, 0)  # an unknown country (max_invalid_share COUNTRY)
    assert zip_verdicts([None, "", "n/a"], ["FR"] * 3) == (0, 0)  # empty or invalid ZIPs
    assert zip_verdicts([sha256_hex("75008")], ["FR"]) == (0, 0)  # already hashed: nothing to look at
    assert zip_verdicts(["75008"], [sha256_hex("fr")], default=None) == (0, 0)


def test_unhashable_cells_are_judged_without_the_memo() -> None:
    assert zip_verdicts([["75008"], "75008"]) == (1, 0)


# --------------------------------------------------------------------------- consistency: DOB_AGE


def age_verdicts(years: list[Any], months: list[Any] | None = None, days: list[Any] | None = None) -> tuple[int, int]:
    meter = QualityMeter(q(consistency=["DOB_AGE"]), today=TODAY)
    columns = {"DOBY": years} | ({"DOBM": months} if months else {}) | ({"DOBD": days} if days else {})
    meter.feed(columns)
    return meter.checked["DOB_AGE"], meter.inconsistent["DOB_AGE"]


@pytest.mark.parametrize(
    "year", ["1905", 1905, "2025", "1985-03-07", "07/03/1985", dt.date(1990, 1, 1), dt.datetime(2000, 5, 5, 12)]
)
def test_birth_years_giving_an_age_from_0_to_120(year: Any) -> None:
    assert age_verdicts([year]) == (1, 0)


@pytest.mark.parametrize(
    "year", ["1904", "2026", "0000", "1850", "1850-01-01", "01/01/1850", "2090", dt.date(1899, 12, 31), 9999]
)
def test_birth_years_giving_an_impossible_age(year: Any) -> None:
    """Out-of-range years are also dropped by the DOBY normalizer (1900 to this year); 1901-1904 are not."""
    assert age_verdicts([year]) == (1, 1)


def test_month_and_day_make_the_age_exact() -> None:
    # on 2025-06-15: born 1904-06-16 is 120 (121 by the year alone), born 1904-06-15 turned 121 today
    assert age_verdicts(["1904", "1904"], ["06", "6"], ["16", "15"]) == (2, 1)
    assert age_verdicts(["2025", "2025"], ["06", "juin"], ["16", "15"]) == (2, 1)  # born tomorrow: age −1
    assert age_verdicts(["1904"], ["06"], [None]) == (1, 1)  # no day: the year alone
    same = "1904-06-16"  # DOBY, DOBM and DOBD mapped to one full-date column
    assert age_verdicts([same], [same], [same]) == (1, 0)


def test_years_that_say_nothing_are_not_judged() -> None:
    assert age_verdicts([None, "", "85", "n/a", sha256_hex("1985"), math.nan]) == (0, 0)


def test_dob_age_needs_the_run_date() -> None:
    with pytest.raises(ValueError, match="DOB_AGE check needs the run's date"):
        QualityMeter(q(consistency=True))
    QualityMeter(q(consistency=["ZIP_COUNTRY"]))  # ZIP_COUNTRY alone does not


# --------------------------------------------------------------------------- the meter

CELLS = st.one_of(
    st.sampled_from(
        ["jean@example.fr", " Jean.Dupont@Example.FR ", "jean@", "n/a", "", "   ", "06 12 34 56 78", "+33612345678"]
        + ["75008", "F-75008", "2A004", "1985", "07/03/1985", "0000", "Ⅻ", "\u00a0", sha256_hex("x")]
    ),
    st.text(max_size=12),
    st.none(),
    st.just(math.nan),
    st.just(pd.NA),
    st.just(pd.NaT),
    st.integers(-10, 10**10),
    st.floats(allow_nan=True),
    st.decimals(allow_nan=True, places=2),
    st.binary(max_size=6),
    st.booleans(),
    st.dates(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(CELLS, max_size=40), st.sampled_from(["EMAIL", "PHONE", "ZIP", "DOBY", "FN", "EXTERN_ID", "COUNTRY"]))
def test_empty_and_invalid_are_counted_as_the_identity_engine_counts_them(cells: list[Any], key: str) -> None:
    batch = hash_batch({key: cells}, "FR")
    engine_invalid = sum(n for (k, _), n in batch.invalid.items() if k == key)
    with_invalid = QualityMeter(q(max_invalid_share={key: 0.1}), default_country="FR")
    nulls_only = QualityMeter(q(), default_country="FR")
    for meter in (with_invalid, nulls_only):
        meter.feed({key: cells})
        assert meter.null[key] == batch.empty[key]
    assert with_invalid.invalid[key] == engine_invalid
    by_batch = QualityMeter(q(), default_country="FR")  # hash_in_database: the engine's counts
    by_batch.feed_batch(batch)
    assert (by_batch.null[key], by_batch.invalid[key], by_batch.rows) == (batch.empty[key], engine_invalid, len(cells))


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["75008", "20000", "97400", "1000", "SW1A 1AA", "96000", None, "2A004", 98800]),
        st.sampled_from(["FR", "France", "GB", "RE", "JP", None, "", "Atlantis"]),
        st.sampled_from(["1985", "1850", "2090", None, "85", dt.date(1950, 2, 3), "1904"]),
        st.sampled_from(["06", "12", None, "13"]),
        st.sampled_from(["15", "16", None, "1er"]),
        st.one_of(st.none(), st.floats(-1e6, 1e6), st.sampled_from(["12,5", "abc", "3.5", True])),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=100, deadline=None)
@given(ROWS, st.integers(1, 7))
def test_feeding_in_chunks_gives_what_feeding_at_once_gives(rows: list[tuple[Any, ...]], size: int) -> None:
    block = q(consistency=True, max_invalid_share={"ZIP": 0.1}, outliers={"rule": "iqr"})
    whole = QualityMeter(block, default_country="FR", today=TODAY)
    chunked = QualityMeter(block, default_country="FR", today=TODAY)
    names = ("ZIP", "COUNTRY", "DOBY", "DOBM", "DOBD")

    def feed(meter: QualityMeter, part: list[tuple[Any, ...]]) -> None:
        meter.feed({name: [r[i] for r in part] for i, name in enumerate(names)})
        meter.feed_values([r[5] for r in part])

    feed(whole, rows)
    for start in range(0, len(rows), size):
        feed(chunked, rows[start : start + size])
    assert chunked.to_dict() == whole.to_dict()
    totals = {"rows_read": len(rows), "rows_desired": 0, "rows_duplicate": 0, "rows_left_out": 0}
    assert chunked.measured(**totals, ledger=None) == whole.measured(**totals, ledger=None)


def test_pandas_and_other_sequences_are_fed_like_lists() -> None:
    block = q(max_invalid_share={"EMAIL": 0.1}, consistency=["ZIP_COUNTRY"])
    a, b = QualityMeter(block, default_country="FR"), QualityMeter(block, default_country="FR")
    emails, zips = ["a@b.fr", None, "bad", ""], ["75008", "96000", None, "1000"]
    a.feed({"EMAIL": emails, "ZIP": zips})
    b.feed({"EMAIL": pd.Series(emails, dtype=object), "ZIP": tuple(zips)})
    assert (
        a.to_dict()
        == b.to_dict()
        == {
            "rows": 4,
            "null": {"EMAIL": 2, "ZIP": 1},
            "invalid": {"EMAIL": 1},
            "checked": {"ZIP_COUNTRY": 3},
            "inconsistent": {"ZIP_COUNTRY": 2},
            "values": 0,
            "values_missing": 0,
        }
    )


def test_the_meter_refuses_ragged_chunks_and_unknown_keys() -> None:
    meter = QualityMeter(q())
    with pytest.raises(ValueError, match="same length"):
        meter.feed({"EMAIL": ["a@b.fr"], "PHONE": []})
    with pytest.raises(ValueError, match="unknown Meta key 'MAIL'"):
        meter.feed({"MAIL": ["a@b.fr"]})


def test_measured_carries_the_reader_and_ledger_totals() -> None:
    meter = QualityMeter(q(max_null_share={"EMAIL": 0.5}))
    meter.feed({"EMAIL": ["a@b.fr", None, "c@d.fr"]})
    first = meter.measured(rows_read=5, rows_desired=2, rows_duplicate=0, rows_left_out=3)
    assert (first.rows_read, first.rows_metered, first.rows_desired, first.rows_left_out) == (5, 3, 2, 3)
    assert (first.adds, first.removes, first.held_before, first.values) == (None, None, None, None)
    later = meter.measured(rows_read=5, rows_desired=2, rows_duplicate=0, rows_left_out=3, ledger=(4, 1, 10))
    assert (later.adds, later.removes, later.held_before) == (4, 1, 10)
    assert gate(q(max_null_share={"EMAIL": 0.5}), later).sentence() == (
        "EMAIL is empty on 33.3 % of rows read (1 of 3; threshold 50 %)"
    )


def strings_reachable(root: object) -> Iterator[str]:
    """Every str reachable from ``root`` through containers, objects, models and dataclasses."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, str):
            yield item
        elif isinstance(item, (bytes, bytearray)):
            yield item.decode("utf-8", "replace")
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack += list(item)
        elif isinstance(item, BaseModel):
            stack.append(item.model_dump())
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.append(dataclasses.asdict(item))
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.append(vars(item))


def test_the_meter_keeps_no_plaintext() -> None:
    people = [
        ("marie.curie@example.fr", "Curie", "75005", "1867"),
        ("jean.dupont@exemple.com", "Dupont", "13008", "1985-03-07"),
        ("bad-address@", "Ölçer", "2A004", "07/03/1990"),
    ]
    meter = QualityMeter(
        q(max_invalid_share={"EMAIL": 0.1, "LN": 0.1}, consistency=True, outliers={"rule": "zscore"}),
        default_country="FR",
        today=TODAY,
    )
    for _ in range(3):
        meter.feed({key: [p[i] for p in people] for i, key in enumerate(("EMAIL", "LN", "ZIP", "DOBY"))})
        meter.feed_values([120.5, "99,90", None])
    fed = {text.lower() for p in people for text in p} | {"marie.curie", "jean.dupont", "example.fr", "curie"}
    found = list(strings_reachable(meter)) + list(strings_reachable(meter.to_dict()))
    found += list(strings_reachable(meter.measured(rows_read=9, rows_desired=6, rows_duplicate=0, rows_left_out=3)))
    assert not [s for s in found if any(f in s.lower() for f in fed)]
    assert json.loads(json.dumps(meter.to_dict()))["null"] == {"EMAIL": 0, "LN": 0, "ZIP": 0, "DOBY": 0}
    assert set(vars(meter)) == {
        *("quality", "checks", "today", "region", "invalid_keys", "rows"),
        *("null", "invalid", "checked", "inconsistent", "values", "values_missing", "values_fed"),
    }


def test_a_million_rows_stream_through_and_leave_only_counts() -> None:
    block = q(max_invalid_share={"EMAIL": 0.01}, consistency=["ZIP_COUNTRY"], outliers={"rule": "iqr"})
    meter = QualityMeter(block, default_country="FR")
    chunk, chunks = 20_000, 50
    for c in range(chunks):
        base = c * chunk
        emails = [f"client{base + i}@example.fr" if i % 100 else "" for i in range(chunk)]
        zips = [f"{(base + i) % 95 + 1:02d}{i % 1000:03d}" if i % 50 else "96000" for i in range(chunk)]
        meter.feed({"EMAIL": emails, "ZIP": zips, "COUNTRY": ["FR"] * chunk})
        meter.feed_values([float(i % 500) for i in range(chunk)])
    assert meter.rows == chunk * chunks == 1_000_000
    assert meter.null == Counter({"EMAIL": 10_000, "ZIP": 0, "COUNTRY": 0})
    assert meter.invalid == Counter({"EMAIL": 0})
    assert (meter.checked["ZIP_COUNTRY"], meter.inconsistent["ZIP_COUNTRY"]) == (1_000_000, 20_000)
    # memory: counters keyed by Meta keys and check names, plus 8 bytes per numeric value
    for counter in (meter.null, meter.invalid, meter.checked, meter.inconsistent):
        assert set(counter) <= set(KEYS) | set(CHECKS)
    assert isinstance(meter.values, array) and meter.values.typecode == "d" and len(meter.values) == 1_000_000
    stats = meter.measured(rows_read=1_000_000, rows_desired=990_000, rows_duplicate=0, rows_left_out=10_000).values
    assert stats is not None and (stats.count, stats.min, stats.max, stats.outliers) == (1_000_000, 0.0, 499.0, 0)


# --------------------------------------------------------------------------- outliers


def test_zscore_finds_the_one_wild_value() -> None:
    stats = value_stats([10.0] * 999 + [1000.0], outliers=Outliers(rule="zscore"))
    assert stats.outliers == 1 and stats.rule == "zscore" and stats.threshold == 4.0
    assert stats.mean == pytest.approx(10.99)
    assert value_stats([5.0] * 10, outliers=Outliers(rule="zscore")).outliers == 0  # std 0: no z-score
    assert value_stats([1.0, 2.0, 3.0], outliers=Outliers(rule="zscore", threshold=1.2)).outliers == 2


def test_iqr_fences_at_one_and_a_half_iqr() -> None:
    values = [float(v) for v in range(1, 101)] + [1000.0, -500.0]
    stats = value_stats(values, outliers=Outliers(rule="iqr"))
    assert (stats.q1, stats.median, stats.q3) == (25.25, 50.5, 75.75)
    assert stats.outliers == 2
    on_fence = value_stats([*range(1, 101), 151.0], outliers=Outliers(rule="iqr"))  # Q1 26, Q3 76: fence 151
    assert (on_fence.q1, on_fence.q3, on_fence.outliers) == (26.0, 76.0, 0)  # on the fence is not beyond it
    assert value_stats([*range(1, 101), 151.5], outliers=Outliers(rule="iqr")).outliers == 1


def test_value_cells_that_are_not_numbers_are_missing() -> None:
    meter = QualityMeter(q(outliers={"rule": "zscore"}))
    meter.feed_values([1, 2.5, "3", " 4,5 ", Decimal("5.5"), None, math.nan, math.inf, "abc", "", True, "1,000.5"])
    assert list(meter.values) == [1.0, 2.5, 3.0, 4.5, 5.5]
    assert meter.values_missing == 7
    empty = QualityMeter(q(outliers={"rule": "zscore"}))
    empty.feed_values([None])
    stats = empty.measured(rows_read=1, rows_desired=1, rows_duplicate=0, rows_left_out=0).values
    assert stats == ValueStats(missing=1, rule="zscore", threshold=4.0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=300), st.floats(1.1, 6))
def test_zscore_outliers_obey_chebyshev(values: list[float], k: float) -> None:
    stats = value_stats(values, outliers=Outliers(rule="zscore", threshold=k))
    assert stats.mean == pytest.approx(statistics.fmean(values), rel=1e-9, abs=1e-6)
    assert stats.std == pytest.approx(statistics.pstdev(values), rel=1e-6, abs=1e-6)
    assert stats.outliers is not None and stats.outliers <= len(values) / k**2 + 1e-9


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-10_000, 10_000), min_size=2, max_size=300), st.sampled_from([0.5, 1.5, 3.0]))
def test_iqr_outliers_match_the_statistics_module(values: list[int], k: float) -> None:
    stats = value_stats([float(v) for v in values], outliers=Outliers(rule="iqr", threshold=k))
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    assert (stats.q1, stats.median, stats.q3) == (q1, median, q3)
    low, high = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    assert stats.outliers == sum(1 for v in values if v < low or v > high)
    assert (stats.min, stats.max, stats.count) == (min(values), max(values), len(values))


# --------------------------------------------------------------------------- the layer


@pytest.mark.parametrize("module", ["quality.py", "quality_config.py"])
def test_quality_is_pure_core(module: str) -> None:
    """Imports only the standard library, pydantic and the identity engine (DEVELOPERS.md, "Layout")."""
    source = Path(__file__).resolve().parents[1] / "fbsync" / module
    tree = ast.parse(source.read_text(encoding="utf-8"))
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    allowed = {"__future__", "datetime", "math", "re", "array", "collections", "dataclasses", "functools", "typing"}
    allowed.add("pydantic")
    assert roots <= allowed
    assert {m for m in modules if m.split(".")[0] not in allowed} <= {
        "fbsync.identity",
        "fbsync.identity._text",
        "fbsync.identity.batch",
        "fbsync.identity.keys",
        "fbsync.identity.normalize",
        "fbsync.quality_config",  # the YAML block, split out of quality.py
    }
    assert len(source.read_text(encoding="utf-8").splitlines()) <= 500
