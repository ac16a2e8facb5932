"""Data-quality gates: thresholds on an audience's rows that block its sync, as a failing dbt test blocks a build.
PURE core (docs/quality.md): no IO, no clock, no environment.

* :class:`Quality` is the YAML ``quality:`` block (in ``defaults`` or an audience; :meth:`Quality.merged`),
  defined in :mod:`fbsync.quality_config` and re-exported here.
* :class:`QualityMeter` is fed chunk by chunk with the plaintext key columns the reader gives the identity
  engine, and keeps counts only (plus the numeric ``value`` figures, for outliers): never an identifier.
* :func:`evaluate` turns a :class:`Quality` and the :class:`Measured` figures into :class:`Gate` results;
  :func:`failed` keeps the blocking failures, :func:`refusal` says them in one message.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any

from fbsync.identity import geo
from fbsync.identity._text import EMPTY, to_text
from fbsync.identity.batch import HashedBatch, _as_list, hash_column
from fbsync.identity.keys import KEYS
from fbsync.identity.normalize import normalize_value
from fbsync.quality_config import (
    CHECKS,
    DEFAULT_MAX_INCONSISTENT,
    OUTLIER_THRESHOLDS,
    Check,
    Outliers,
    Quality,
    unmapped,
)

__all__ = ["CHECKS", "DEFAULT_MAX_INCONSISTENT", "OUTLIER_THRESHOLDS", "Check", "Outliers", "Quality", "unmapped"]

MAX_AGE = 120
Ledger = tuple[int, int, int]  # (adds, removes, rows held before) against the ledger, for max_change_share


@dataclass(frozen=True)
class ValueStats:
    """The ``value`` column's figures (not personal data): population std, inclusive quartiles."""

    count: int = 0  # numeric values
    missing: int = 0  # NULL, blank, NaN, infinite or not a number
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    q1: float | None = None
    median: float | None = None
    q3: float | None = None
    max: float | None = None
    rule: str | None = None  # the outlier rule counted ("zscore"/"iqr"), None when outliers are not configured
    threshold: float | None = None
    outliers: int | None = None


@dataclass(frozen=True)
class Measured:
    """Every figure the gates read; a missing figure makes its gate "not applicable"."""

    rows_read: int = 0  # rows the query or file gave, before consent
    rows_metered: int = 0  # rows after consent (what the meter saw): max_null_share's denominator
    rows_desired: int = 0  # distinct rows the audience would hold
    rows_duplicate: int = 0  # rows merged as duplicates
    rows_left_out: int = 0  # no consent, no usable identifier, suppressed, excluded, outside intersect
    adds: int | None = None  # against the ledger; None on a first sync
    removes: int | None = None
    held_before: int | None = None
    null: Mapping[str, int] = field(default_factory=dict)  # key read → empty cells
    invalid: Mapping[str, int] = field(default_factory=dict)  # key measured → non-empty values rejected
    checked: Mapping[str, int] = field(default_factory=dict)  # consistency check → rows it could judge
    inconsistent: Mapping[str, int] = field(default_factory=dict)
    values: ValueStats | None = None  # None: no value column

    def to_dict(self) -> dict[str, Any]:
        return asdict(self, dict_factory=lambda kv: {k: dict(v) if isinstance(v, Mapping) else v for k, v in kv})


#: Postcode rules by country on normalized ZIPs (lowercase, no space or dash); sources in docs/quality.md.
_ZIP_TABLE = r"""
FR (?:0[1-9]|[1-8]\d|9[0-5])\d{3}|97[1-6]\d{2}|98[0678]\d{2}; GP BL MF 971\d{2}; MQ 972\d{2}; GF 973\d{2}
RE 974\d{2}; PM 975\d{2}; YT 976\d{2}; MC 980\d{2}; WF 986\d{2}; PF 987\d{2}; NC 988\d{2}
US DE IT \d{5}; ES (?:0[1-9]|[1-4]\d|5[0-2])\d{3}; BE CH AT [1-9]\d{3}; LU \d{4}; NL [1-9]\d{3}[a-z]{2}; PT [1-9]\d{6}
GB gir0aa|[a-z]{1,2}\d[a-z\d]?\d[abd-hjln-uw-z]{2}; CA [abceghjklmnprstvxy]\d[abceghj-nprstv-z]\d[abceghj-nprstv-z]\d
"""
_RULES = [entry.split() for entry in _ZIP_TABLE.replace("\n", ";").split(";") if entry.strip()]
ZIP_RULES: Mapping[str, re.Pattern[str]] = {country: re.compile(rule[-1]) for rule in _RULES for country in rule[:-1]}
_DATED_YEAR = re.compile(r"(\d{4})(?:[-/.]\d{1,2}[-/.]\d{1,2}(?:[t\s].*)?)?|\d{1,2}[-/.]\d{1,2}[-/.](\d{4})")


def _is_empty(value: Any) -> bool:
    """Empty exactly as the identity engine counts it: None, NaN, pandas NA/NaT, blank text."""
    return (not value.strip()) if type(value) is str else to_text(value)[1] == EMPTY


def _each(values: Sequence[Any], fn: Callable[[Any], Any]) -> list[Any]:
    """``fn`` of each cell, once per distinct cell: a memo for one chunk only (types in the key: True is not 1)."""
    memo: dict[Any, Any] = {}
    out = []
    for v in values:
        try:
            key = v if type(v) is str else (type(v), v)
            out.append(memo[key] if key in memo else memo.setdefault(key, fn(v)))
        except TypeError:  # an unhashable cell
            out.append(fn(v))
    return out


def _zip_fits(located: tuple[str | None, str | None]) -> bool | None:
    """A normalized ZIP fits its country's rule; None when either is missing or the country has no rule."""
    code, country = located
    rule = ZIP_RULES.get(country) if code and country else None
    return None if rule is None or code is None else rule.fullmatch(code) is not None


def _normal(key: str, value: Any, region: str | None = None) -> str | None:
    """The engine's normalized value, or None when empty, rejected or already a SHA-256."""
    normalized, _, hashed = normalize_value(key, value, region)
    return None if hashed else normalized


def _birth_year(value: Any) -> int | None:
    """The year a DOBY cell says, out-of-range years included (0000, 1850, 2090: the engine drops those)."""
    year = _normal("DOBY", value)
    if year is not None or isinstance(value, _dt.date):
        return int(year) if year is not None else value.year
    text = to_text(value)[0]
    match = _DATED_YEAR.fullmatch(text.lower()) if text else None
    return int(match.group(1) or match.group(2)) if match else None


def _number_or_none(value: Any) -> float | None:
    """A finite number from a cell (``12,5`` is a French 12.5), else None."""
    if isinstance(value, str) and value.count(",") == 1 and "." not in value:
        value = value.replace(",", ".")
    try:
        number = math.nan if isinstance(value, bool) or value is None else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _quantile(ordered: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, Excel's QUARTILE.INC)."""
    low = math.floor(at := p * (len(ordered) - 1))
    return ordered[low] + (ordered[min(low + 1, len(ordered) - 1)] - ordered[low]) * (at - low)


def value_stats(values: Sequence[float], missing: int = 0, outliers: Outliers | None = None) -> ValueStats:
    """Mean, population std, quartiles and (when configured) the outlier count of ``values``."""
    rule, limit = (outliers.rule, outliers.limit) if outliers is not None else (None, None)
    if not (n := len(values)):
        return ValueStats(missing=missing, rule=rule, threshold=limit)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / n)
    ordered = sorted(values)
    q1, median, q3 = (_quantile(ordered, p) for p in (0.25, 0.5, 0.75))
    count = None
    if limit is not None and rule == "zscore":
        count = 0 if std == 0 else sum(1 for x in values if abs(x - mean) / std > limit)
    elif limit is not None:
        low, high = q1 - limit * (q3 - q1), q3 + limit * (q3 - q1)
        count = sum(1 for x in values if x < low or x > high)
    return ValueStats(n, missing, mean, std, ordered[0], q1, median, q3, ordered[-1], rule, limit, count)


class QualityMeter:
    """Counts what the gates need while an audience is read; holds counts only, never a plaintext value.

    Feed it, per chunk and after consent, with the columns the identity engine gets (:meth:`feed`) or,
    when ``hash_in_database`` hands Python no plaintext, with the engine's batch (:meth:`feed_batch`);
    not both (rows would count twice).  :meth:`feed_values` takes the ``value`` figures; :meth:`measured`
    adds the reader's totals."""

    def __init__(self, quality: Quality, *, default_country: str | None = None, today: _dt.date | None = None):
        self.quality, self.checks, self.today = quality, quality.checks, today
        self.region = geo.default_region(default_country)
        if "DOB_AGE" in self.checks and today is None:
            raise ValueError("the DOB_AGE check needs the run's date: pass today=")
        self.invalid_keys = frozenset(quality.max_invalid_share or ())
        # key → empty cells, key → non-empty cells the engine rejects, check → rows judged, → rows that do not fit
        self.null, self.invalid, self.checked, self.inconsistent = (Counter[str]() for _ in range(4))
        self.values = array("d")  # the value column's numbers: figures, not personal data
        self.rows, self.values_missing, self.values_fed = 0, 0, False

    def feed(self, columns: Mapping[str, Sequence[Any]]) -> None:
        """One chunk: Meta key → the raw cells of the rows kept by consent (what ``hash_batch`` receives)."""
        lists = {key: _as_list(values) for key, values in columns.items()}
        n, *others = {len(values) for values in lists.values()} or {0}
        if others:
            raise ValueError("all key columns of a chunk must have the same length")
        self.rows += n
        for key, values in lists.items():
            if key not in KEYS:
                raise ValueError(f"unknown Meta key {key!r}; expected one of {', '.join(KEYS)}")
            if key in self.invalid_keys:  # the engine's own verdicts, cell by cell
                reasons = Counter(hash_column(key, values, self.region)[1].values())
                self.null[key] += reasons.pop(EMPTY, 0)
                self.invalid[key] += sum(reasons.values())
            else:
                self.null[key] += sum(1 for v in values if _is_empty(v))
        if "ZIP_COUNTRY" in self.checks and "ZIP" in lists:
            codes = _each(lists["ZIP"], self._zip)
            lands = _each(lists["COUNTRY"], self._country) if "COUNTRY" in lists else [self.region] * n
            self._tally("ZIP_COUNTRY", _each(list(zip(codes, lands)), _zip_fits))
        if "DOB_AGE" in self.checks and "DOBY" in lists:
            years = _each(lists["DOBY"], _birth_year)
            months, days = (_each(lists.get(k, [None] * n), partial(_normal, k)) for k in ("DOBM", "DOBD"))
            self._tally("DOB_AGE", _each(list(zip(years, months, days)), self._age_fits))

    def feed_batch(self, batch: HashedBatch) -> None:
        """One chunk's engine counts (``hash_in_database``): empty and invalid per key; no consistency check."""
        self.rows += batch.input_rows
        for key in batch.schema:
            self.null[key] += batch.empty.get(key, 0)
            self.invalid[key] += sum(n for (k, _), n in batch.invalid.items() if k == key)

    def feed_values(self, values: Sequence[Any]) -> None:
        """One chunk of the ``value`` column (same rows as :meth:`feed`): numbers kept, the rest counted missing."""
        self.values_fed = True
        numbers = [_number_or_none(v) for v in _as_list(values)]
        self.values.extend(x for x in numbers if x is not None)
        self.values_missing += numbers.count(None)

    def _tally(self, check: str, verdicts: list[bool | None]) -> None:
        """A chunk's verdicts for one check: True fits, False does not, None cannot be judged."""
        self.checked[check] += len(verdicts) - verdicts.count(None)
        self.inconsistent[check] += verdicts.count(False)

    def _zip(self, cell: Any) -> str | None:
        fast = type(cell) is str and len(cell) == 5 and cell.isascii() and cell.isdigit()  # 75008: as normalized
        return cell if fast else _normal("ZIP", cell, self.region)

    def _country(self, cell: Any) -> str | None:
        """The row's country, else (an empty cell) the audience's ``default_country``; None when unknown."""
        return self.region if _is_empty(cell) else (_normal("COUNTRY", cell) or "").upper() or None

    def _age_fits(self, birth: tuple[int | None, str | None, str | None]) -> bool | None:
        """DOBY (with DOBM and DOBD when both are there) gives an age from 0 to 120 at the run's date."""
        (year, month, day), today = birth, self.today
        if year is None or today is None:
            return None
        not_yet = bool(month and day) and (today.month, today.day) < (int(month or 0), int(day or 0))
        return 0 <= today.year - year - not_yet <= MAX_AGE

    def to_dict(self) -> dict[str, Any]:
        """The counts so far (JSON-safe)."""
        counts = {name: dict(getattr(self, name)) for name in ("null", "invalid", "checked", "inconsistent")}
        return {"rows": self.rows, **counts, "values": len(self.values), "values_missing": self.values_missing}

    def measured(self, *, rows_read: int, rows_desired: int, rows_duplicate: int, rows_left_out: int,
                 ledger: Ledger | None = None) -> Measured:  # fmt: skip
        """Everything measured, with the reader's totals (its ReadResult) and the ledger's ``(adds, removes,
        rows)`` when fbsync knows what the audience held (None on a first sync)."""
        stats = value_stats(self.values, self.values_missing, self.quality.outliers) if self.values_fed else None
        adds, removes, held = ledger if ledger is not None else (None, None, None)
        counts = dict(self.null), dict(self.invalid), dict(self.checked), dict(self.inconsistent)
        return Measured(rows_read, self.rows, rows_desired, rows_duplicate, rows_left_out, adds, removes, held,
                        *counts, stats)  # fmt: skip


def percent(share: float) -> str:
    """``0.0312`` → ``3.1 %`` (one decimal; never ``0.0 %`` or ``100.0 %`` for a share that is not)."""
    value = share * 100
    return "< 0.1 %" if 0 < value < 0.05 else "> 99.9 %" if 99.95 <= value < 100 else f"{value:.1f} %"


def _limit(share: float) -> str:
    """A threshold as written: ``0.02`` → ``2 %``, ``0.015`` → ``1.5 %``."""
    return f"{round(share * 100, 6):g} %"


_SAYS = {
    "max_null_share": "{subject} is empty on {pct} of rows read",
    "max_invalid_share": "{subject} is invalid on {pct} of its non-empty values",
    "max_duplicate_share": "duplicates are {pct} of rows kept",
    "max_drop_share": "{pct} of rows read are left out",
    "max_change_share": "this sync would change {pct} of the rows held",
    "consistency ZIP_COUNTRY": "ZIP does not fit the row's country on {pct} of rows checked",
    "consistency DOB_AGE": f"DOBY gives an age outside 0–{MAX_AGE} on {{pct}} of rows checked",
    "outliers": "{pct} of values lie {note}",
}


@dataclass(frozen=True)
class Gate:
    """One configured gate's outcome.  ``measured``/``threshold`` are shares (0.031), or rows for min/max_rows."""

    name: str  # "max_null_share EMAIL", "consistency ZIP_COUNTRY", "min_rows"…
    measured: float
    threshold: float
    passed: bool  # threshold equality passes; a gate that could not be measured passes
    blocking: bool = True  # a failure blocks the sync (outliers: only with block: true)
    applicable: bool = True
    count: int = 0  # numerator (rows for min/max_rows)
    total: int = 0  # denominator
    note: str = ""  # why not applicable, or the outlier rule

    @property
    def status(self) -> str:
        """passed, failed (blocking), warning (a non-blocking failure) or not applicable."""
        outcome = "passed" if self.passed else "failed" if self.blocking else "warning"
        return outcome if self.applicable else "not applicable"

    def sentence(self) -> str:
        """One sentence for people: ``EMAIL is empty on 3.1 % of rows read (312 of 10,000; threshold 2 %)``."""
        if not self.applicable:
            return f"{self.name}: not applicable ({self.note})"
        setting, _, subject = self.name.partition(" ")
        if setting in ("min_rows", "max_rows"):
            bound = "minimum" if setting == "min_rows" else "maximum"
            return f"the audience would hold {self.count:,} rows ({bound} {int(self.threshold):,})"
        says = _SAYS.get(self.name) or _SAYS[setting]
        text = says.format(subject=subject, pct=percent(self.measured), note=self.note)
        return f"{text} ({self.count:,} of {self.total:,}; threshold {_limit(self.threshold)})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe, for the run history and ``--json`` (measured, count and total are null when not applicable)."""
        unmeasured = {} if self.applicable else dict.fromkeys(("measured", "count", "total"))
        return {**asdict(self), **unmeasured, "status": self.status, "sentence": self.sentence()}


def _share_gate(name: str, count: int, total: int, limit: float, why_not: str, blocking: bool = True) -> Gate:
    """``count / total`` against ``limit``; with no total, not applicable because ``why_not``."""
    if not total:
        return Gate(name, 0.0, limit, True, blocking, applicable=False, note=why_not)
    return Gate(name, count / total, limit, count / total <= limit, blocking, count=count, total=total)


def evaluate(q: Quality, m: Measured) -> list[Gate]:
    """The configured gates, in a fixed order, each passed, failed or not applicable."""
    gates, rows = [], m.rows_desired

    def share(name: str, count: int, total: int, limit: float, why_not: str) -> None:
        gates.append(_share_gate(name, count, total, limit, why_not))

    if q.min_rows is not None:
        gates.append(Gate("min_rows", rows, q.min_rows, rows >= q.min_rows, count=rows))
    if q.max_rows is not None:
        gates.append(Gate("max_rows", rows, q.max_rows, rows <= q.max_rows, count=rows))
    for key, limit in sorted((q.max_null_share or {}).items(), key=lambda kv: KEYS.index(kv[0])):
        total = m.rows_metered if key in m.null else 0
        why = "no row was read after consent" if key in m.null else f"the audience maps no {key} column"
        share(f"max_null_share {key}", m.null.get(key, 0), total, limit, why)
    for key, limit in sorted((q.max_invalid_share or {}).items(), key=lambda kv: KEYS.index(kv[0])):
        total = m.rows_metered - m.null.get(key, 0) if key in m.invalid else 0
        why = f"no row has a value for {key}" if key in m.invalid else f"the audience maps no {key} column"
        share(f"max_invalid_share {key}", m.invalid.get(key, 0), total, limit, why)
    if q.max_duplicate_share is not None:
        kept = m.rows_desired + m.rows_duplicate
        share("max_duplicate_share", m.rows_duplicate, kept, q.max_duplicate_share, "no row was kept")
    if q.max_drop_share is not None:
        share("max_drop_share", m.rows_left_out, m.rows_read, q.max_drop_share, "no row was read")
    if q.max_change_share is not None:
        first = m.held_before is None or m.adds is None or m.removes is None
        why = "first sync: no rows held before to compare with" if first else "the audience held no rows before"
        held, change = (0 if first else m.held_before or 0), (m.adds or 0) + (m.removes or 0)
        share("max_change_share", change, held, q.max_change_share, why)
    for check in q.checks:
        unjudged = "no DOBY year" if check == "DOB_AGE" else "no valid ZIP in a country with a postcode rule"
        n, bad = m.checked.get(check, 0), m.inconsistent.get(check, 0)
        share(f"consistency {check}", bad, n, q.inconsistent_limit, f"no row could be judged: {unjudged}")
    if q.outliers is not None:
        gates.append(_outlier_gate(q.outliers, m.values))
    return gates


def _outlier_gate(o: Outliers, v: ValueStats | None) -> Gate:
    if v is None or (v.count and v.outliers is None):
        why = "no value column was read" if v is None else "the meter did not count outliers"
        return _share_gate("outliers", 0, 0, o.max_share, why, o.block)
    sd = f"more than {o.limit:g} standard deviations from the mean"
    rule = f"beyond {o.limit:g} × IQR of the quartiles" if o.rule == "iqr" else sd
    gate = _share_gate("outliers", v.outliers or 0, v.count, o.max_share, "no numeric value was read", o.block)
    return replace(gate, note=rule) if gate.applicable else gate


def failed(gates: Iterable[Gate]) -> list[Gate]:
    """The blocking failures: any of them blocks the audience's sync (non-blocking ones have status "warning")."""
    return [g for g in gates if g.blocking and not g.passed]


def refusal(audience: str, gates: Iterable[Gate]) -> str | None:
    """Why ``audience`` is not synced, in one message (None when no blocking gate failed)."""
    bad = failed(gates)
    what = "a quality gate failed" if len(bad) == 1 else f"{len(bad)} quality gates failed"
    fix = "fix the rows in the CRM, change the audience's quality: settings, or run with --force"
    found = "; ".join(f"{g.sentence()} [{g.name}]" for g in bad)
    return f"{audience}: {what}: {found}; {fix}." if bad else None
