"""The value column of a value-based list (pure): parsed, refused as Meta would, clipped, logged."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fbsync.config import parse_config
from fbsync.config_types import ValueTransform
from fbsync.planning import Desired, LedgerView, Remote, plan_audience
from fbsync.values import ValueProfile, ValueRule, parse, text, to_meta


@pytest.mark.parametrize(
    "cell, value, reason",
    [
        (12, 12.0, None),
        (12.5, 12.5, None),
        (Decimal("1234.50"), 1234.5, None),
        ("12,5", 12.5, None),
        (" 1 234,5 ", 1234.5, None),
        ("0", 0.0, None),
        (None, None, "no value"),
        ("", None, "no value"),
        (float("nan"), None, "no value"),
        ("abc", None, "not a number"),
        (True, None, "not a number"),
        ("inf", None, "not a number"),
        (-3, None, "negative"),
        ("-0.5", None, "negative"),
    ],
)
def test_parse(cell: object, value: float | None, reason: str | None) -> None:
    assert parse(cell) == (value, reason)


@pytest.mark.parametrize("v, shown", [(12.0, "12"), (12.5, "12.5"), (0.0, "0"), (1 / 3, "0.3333"), (1e9, "1000000000")])
def test_text_is_stable_and_short(v: float, shown: str) -> None:
    assert text(v) == shown
    assert to_meta(shown) == (int(v) if float(shown).is_integer() else float(shown))


def test_profile_counts_only_rows_that_would_be_sent_and_says_how_to_fix() -> None:
    p = ValueProfile("ltv")
    p.feed([10, None, -1, "x", None, 5], [True, True, True, True, False, True])
    assert p.bad == {"no value": 1, "negative": 1, "not a number": 1}
    problem = p.problem("best") or ""
    assert "1 row where it holds nothing" in problem and "COALESCE(ltv, 0)" in problem and "nothing was sent" in problem
    clean = ValueProfile("ltv")
    clean.feed([1, 2], [True, True])
    assert clean.problem("best") is None


def test_clip_percentiles_then_log() -> None:
    p = ValueProfile("ltv")
    p.feed(list(range(101)), [True] * 101)
    rule = p.rule(ValueTransform(clip=["p10", "p90"], log=True))
    assert (rule.lo, rule.hi) == (10.0, 90.0)
    assert rule.apply(0) == text(math.log1p(10)) and rule.apply(500) == text(math.log1p(90))
    assert "clipped to [10.00, 90.00] then ln(1 + value)" in (rule.describe() or "")
    assert ValueRule("ltv").describe() is None and ValueRule("ltv").apply(7.25) == "7.25"


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=50))
def test_clipped_values_stay_within_the_bounds(values: list[float]) -> None:
    p = ValueProfile("v")
    p.feed(values, [True] * len(values))
    rule = p.rule(ValueTransform(clip=["p01", "p99"]))
    assert rule.lo is not None and rule.hi is not None
    for v in values:
        assert rule.lo - 1e-4 <= float(rule.apply(v)) <= rule.hi + 1e-4


@pytest.mark.parametrize(
    "extra, problem",
    [
        ("value: ltv", None),
        ("value: ltv, value_transform: {clip: [p01, p99], log: true}", None),
        ("value: ltv, value_transform: {clip: [0, 5000]}", None),
        ("value_transform: {log: true}", "value_transform needs a value column"),
        ("value: ltv, value_transform: {clip: [p99, p01]}", "lower percentile must come before"),
        ("value: ltv, value_transform: {clip: [p01, top]}", "neither a number nor a percentile"),
        ("value: ltv, value_transform: {clip: [-5, 10]}", "must not be negative"),
    ],
)
def test_value_yaml(extra: str, problem: str | None) -> None:
    text_ = f"version: 1\naudiences:\n  - {{name: a, query: 'SELECT 1', keys: {{EMAIL: e}}, {extra}}}\n"
    if problem is None:
        assert parse_config(text_, env={}).audiences[0].is_value_based
        return
    with pytest.raises(Exception, match=problem):
        parse_config(text_, env={})


def test_a_list_that_changes_kind_is_recreated_in_the_plan() -> None:
    d = Desired("best", "Best", None, "mirror", ("EMAIL", "LOOKALIKE_VALUE"), 500, 0.5, value_based=True)
    p = plan_audience(d, LedgerView(True, 480, 20, 0), Remote(True, "Best", None, 480, 520, value_based=False))
    assert p.recreate and p.create and p.strategy == "diff" and p.adds == 500 and p.removes == 0
    assert "re-created as a value-based list" in p.notes[0] and "--prune" in p.notes[0]
    same = plan_audience(d, LedgerView(True, 480, 20, 0), Remote(True, "Best", None, 480, 520, value_based=True))
    assert not same.recreate and not same.create and same.adds == 20
    unknown = plan_audience(d, LedgerView(True, 480, 20, 0), Remote(True, "Best", None, 480, 520))
    assert not unknown.recreate
