"""The ``quality:`` block of audiences.yaml (in ``defaults`` or an audience): the thresholds of the data-quality
gates, validated; :mod:`fbsync.quality` measures the rows and evaluates them (docs/quality.md).  Pure."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, field_validator, model_validator

from fbsync.identity.keys import KEYS

Check = Literal["ZIP_COUNTRY", "DOB_AGE"]
CHECKS: tuple[str, ...] = ("ZIP_COUNTRY", "DOB_AGE")
DEFAULT_MAX_INCONSISTENT = 0.01
OUTLIER_THRESHOLDS = {"zscore": 4.0, "iqr": 1.5}


def _bounded(what: str, low: float, high: float = math.inf, *, whole: bool = False, strict: bool = False) -> Any:
    """A validator: a finite number from ``low`` (excluded when ``strict``) to ``high``, else one clear sentence."""

    def check(v: Any) -> Any:
        if v is None:
            return v
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and low <= v <= high
        if not ok or (whole and v != int(v)) or (strict and v == low):
            raise ValueError(f"must be {what}, not {v!r}")
        return int(v) if whole else float(v)

    return BeforeValidator(check)


def _meta_keys(v: Any) -> Any:
    for k in v if isinstance(v, Mapping) else ():
        if k not in KEYS:
            hint = f"write it {str(k).upper()}" if str(k).upper() in KEYS else f"Meta's keys are {', '.join(KEYS)}"
            raise ValueError(f"{k!r} is not a Meta key; {hint}")
    return v


Share = Annotated[float, _bounded("a share between 0 and 1, such as 0.02 for 2 %", 0, 1)]
KeyShares = Annotated[dict[str, Share], BeforeValidator(_meta_keys)]


class Outliers(BaseModel):
    """Outliers of the audience's ``value`` column: always reported, blocking only with ``block: true``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: Literal["zscore", "iqr"]
    threshold: Annotated[float, _bounded("a positive number", 0, strict=True)] | None = None
    max_share: Share = 0.01
    block: bool = False

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """``{zscore: 4}`` / ``{iqr: 1.5}``: the rule named by its key, its threshold as the value."""
        if isinstance(v, dict) and "rule" not in v:
            named = [r for r in OUTLIER_THRESHOLDS if r in v]
            if len(named) == 1:
                out = {k: x for k, x in v.items() if k != named[0]}
                return {**out, "rule": named[0], "threshold": v[named[0]]}
        return v

    @property
    def limit(self) -> float:
        """|z-score| above which a value is an outlier (zscore, default 4), or IQRs beyond the quartiles (1.5)."""
        return self.threshold if self.threshold is not None else OUTLIER_THRESHOLDS[self.rule]


class Quality(BaseModel):
    """The ``quality:`` block; every field optional, an unset field checks nothing (docs/quality.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_rows: Annotated[int, _bounded("a whole number of rows, 0 or more", 0, whole=True)] | None = None
    max_rows: Annotated[int, _bounded("a whole number of rows, 1 or more", 1, whole=True)] | None = None
    max_null_share: KeyShares | None = None
    max_invalid_share: KeyShares | None = None
    max_duplicate_share: Share | None = None
    max_drop_share: Share | None = None
    max_change_share: Annotated[float, _bounded("a share of the rows held, 0 or more (0.2 for 20 %)", 0)] | None = None
    consistency: bool | list[Check] | None = None
    max_inconsistent_share: Share | None = None
    outliers: Outliers | None = None

    @field_validator("consistency", mode="before")
    @classmethod
    def _checks(cls, v: Any) -> Any:
        if v is None or isinstance(v, bool):
            return v
        names = [v] if isinstance(v, str) else v
        if not isinstance(names, list) or not all(isinstance(c, str) for c in names):
            raise ValueError(f"must be true, false or a list of checks among {', '.join(CHECKS)}")
        unknown = [c for c in names if c not in CHECKS]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not a check; the checks are {' and '.join(CHECKS)}")
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _bounds(self) -> Quality:
        if self.min_rows is not None and self.max_rows is not None and self.min_rows > self.max_rows:
            raise ValueError(f"min_rows ({self.min_rows:,}) is above max_rows ({self.max_rows:,}): nothing could pass")
        return self

    @property
    def checks(self) -> tuple[str, ...]:
        """The consistency checks on: ``true`` → all of :data:`CHECKS`, a list → those, else none."""
        on = CHECKS if self.consistency is True else self.consistency or ()
        return tuple(c for c in CHECKS if c in on)

    @property
    def inconsistent_limit(self) -> float:
        return DEFAULT_MAX_INCONSISTENT if self.max_inconsistent_share is None else self.max_inconsistent_share

    @classmethod
    def merged(cls, defaults: Quality | None, own: Quality | None) -> Quality | None:
        """The audience's block over ``defaults``, field by field: a field the audience sets (even to ``null``
        or ``false``) replaces the defaults' whole field, mappings included.  ValueError (one sentence) when
        the result contradicts itself (min_rows above max_rows)."""
        if defaults is None and own is None:
            return None
        values = {f: getattr(b, f) for b in (defaults, own) if b is not None for f in b.model_fields_set}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ") + ".") from None


def unmapped(q: Quality, keys: Collection[str], *, value_column: bool = False) -> list[str]:
    """Sentences for an audience's OWN block naming a key it does not map, or outliers without ``value:`` (a key
    from ``defaults`` the audience does not map is only "not applicable" in :func:`evaluate`)."""
    settings = {s: getattr(q, s) or {} for s in ("max_null_share", "max_invalid_share")}
    out = [f"quality.{s} names {k}, which the audience does not map to a column." for s, ks in settings.items()
           for k in ks if k not in keys]  # fmt: skip
    if q.outliers is not None and not value_column:
        out.append("quality.outliers needs a value: column (the figure each row carries).")
    return out
