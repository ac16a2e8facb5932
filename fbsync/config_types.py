"""Field types of ``audiences.yaml`` that carry rules of their own: countries, lookalike ratios, the
``keys`` mapping (one column, several columns, or a delimited column per Meta key), and the ``value:``
column of a value-based list with its ``value_transform``.

Each raises ``ValueError`` with the sentence :mod:`fbsync.config` shows after the file, line and field.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from .errors import ConfigError
from .identity import geo
from .identity.attributes import ATTRIBUTE_KEYS
from .identity.keys import IDENTIFYING, KEYS

#: Values one customer may have for one key (columns, array items or delimited parts); the rest is dropped.
MAX_VALUES_PER_KEY = 10


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- ad accounts
ACCOUNT_RE = re.compile(r"act_\d+")


def _accounts(v: object) -> list[str]:
    """``ad_account_id`` of an audience or ``defaults``: one ``act_…`` or a list of them, each once."""
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list) or not items:
        raise ValueError("must be an ad account (act_1234567890) or a non-empty list of them")
    out: list[str] = []
    for x in items:
        if not isinstance(x, str) or not ACCOUNT_RE.fullmatch(x.strip()):
            raise ValueError(f"{x!r} must look like act_1234567890 (act_ followed by the account's digits)")
        if x.strip() in out:
            raise ValueError(f"{x.strip()} is listed twice")
        out.append(x.strip())
    return out


#: One ad account or several (``ad_account_id: act_1`` or ``[act_1, act_2]``), as a list.
AccountIds = Annotated[list[str], BeforeValidator(_accounts)]


# --------------------------------------------------------------------------- countries and ratios
def country_problem(value: str) -> str | None:
    """Why ``value`` is not an ISO 3166-1 alpha-2 country code (no final period), or None when it is one.

    Phone numbers and lookalikes need a real country: an unknown code passes a regex but crashes the
    hashing later, after the CRM was read.  ``geo`` holds the ISO list the hashing itself checks against.
    """
    if value.strip():
        try:
            geo.default_region(value)
            return None
        except ValueError:
            pass
    shown = f"{value!r} " if re.fullmatch(r"[A-Za-z]{1,3}", value) else ""
    guess, _ = geo.normalize_country(value.strip()) if value.strip() else (None, None)
    hint = f"that country's code is {guess.upper()}" if guess else "give a real two-letter code such as FR, BE or US"
    return f"{shown}is not an ISO 3166-1 alpha-2 country code; {hint}"


def check_country(code: str, what: str = "--default-country") -> str:
    """``code`` upper-cased if it is an ISO 3166-1 alpha-2 country, else a ConfigError naming ``what``.

    For country codes that come from elsewhere than the YAML (``fbsync hash --default-country``), so they
    are refused with the same sentence before any row is read.
    """
    problem = country_problem(code)
    if problem:
        raise ConfigError(f"{what} {problem}.")
    return code.strip().upper()


def _country(v: str) -> str:
    problem = country_problem(v)
    if problem:
        raise ValueError(problem)
    return v.strip().upper()


def ratio(r: float) -> float:
    """Meta's ``lookalike_spec.ratio`` runs from 0.01 to 0.20 in steps of 0.01 (docs/meta-api.md §1.7)."""
    if not 0.01 <= r <= 0.20:
        raise ValueError("must be between 0.01 and 0.20 (Meta's lookalike sizes, 1–20 %)")
    if abs(round(r * 100) - r * 100) > 1e-9:
        raise ValueError(f"ratio {r} is not a whole percent (Meta takes 0.01 steps)")
    return r


Country = Annotated[str, AfterValidator(_country)]
Ratio = Annotated[float, AfterValidator(ratio)]


# --------------------------------------------------------------------------- keys
class Split(_Model):
    """One column holding several values of a key, e.g. ``"a@x.fr; b@y.fr"``: ``{column: emails, split: ";"}``."""

    column: str = Field(min_length=1)
    split: str = Field(min_length=1, max_length=5)


#: What a key maps to in YAML: a column, several columns (``[email, email_pro]``), or a split column.
KeySource = str | list[str] | Split


def columns_of(source: KeySource) -> tuple[str, ...]:
    """The CRM columns a key reads."""
    if isinstance(source, str):
        return (source,)
    if isinstance(source, Split):
        return (source.column,)
    return tuple(source)


def is_fanned(source: KeySource) -> bool:
    """Whether a key may give one customer several values (several rows sent)."""
    return not isinstance(source, str)


def check_keys(v: dict[str, KeySource]) -> dict[str, KeySource]:
    """A ``keys`` mapping: Meta keys (or row attributes) to columns; only identifying keys take several."""
    unknown = [k for k in v if k not in KEYS and k not in ATTRIBUTE_KEYS]
    if unknown:
        raise ValueError(
            f"unknown key {unknown[0]!r}; Meta's keys are {', '.join(KEYS)} (and the row attributes "
            f"{', '.join(ATTRIBUTE_KEYS)})"
        )
    if not any(k in KEYS for k in v):
        raise ValueError("must map at least one Meta key to a column")
    for key, source in v.items():
        if not is_fanned(source):
            continue
        if key not in IDENTIFYING:
            allowed = ", ".join(k for k in KEYS if k in IDENTIFYING)
            raise ValueError(
                f"{key} takes one column; only the identifying keys ({allowed}) take several values per customer"
            )
        cols = columns_of(source)
        if not cols or len(set(cols)) != len(cols) or len(cols) > MAX_VALUES_PER_KEY:
            raise ValueError(f"{key} needs 1 to {MAX_VALUES_PER_KEY} different columns")
    return v


# --------------------------------------------------------------------------- value-based lists
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?)$")


def _bound(v: str | float) -> str | float:
    if isinstance(v, str) and not _PERCENTILE.match(v.strip().lower()):
        raise ValueError(f"{v!r} is neither a number nor a percentile such as p01 or p99")
    if not isinstance(v, str) and v < 0:
        raise ValueError("clip bounds must not be negative (Meta takes values of 0 and more)")
    return v.strip().lower() if isinstance(v, str) else float(v)


class ValueTransform(_Model):
    """How a ``value:`` column becomes Meta's LOOKALIKE_VALUE: clipped to bounds, then ``log`` (ln(1+x))."""

    clip: Annotated[list[Annotated[str | float, AfterValidator(_bound)]], Field(min_length=2, max_length=2)] | None = (
        None
    )
    log: bool = False

    @field_validator("clip")
    @classmethod
    def _ordered(cls, v: list[str | float] | None) -> list[str | float] | None:
        if v is None:
            return v
        lo, hi = (percentile_of(b) if isinstance(b, str) else None for b in v)
        if lo is not None and hi is not None and lo >= hi:
            raise ValueError("the lower percentile must come before the upper one, such as [p01, p99]")
        if isinstance(v[0], float) and isinstance(v[1], float) and v[0] >= v[1]:
            raise ValueError("the lower bound must be below the upper one")
        return v


def percentile_of(bound: str) -> float:
    """``p01`` → 1.0, ``p99.5`` → 99.5."""
    m = _PERCENTILE.match(bound)
    assert m, bound
    return float(m.group(1))
