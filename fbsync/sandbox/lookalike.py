"""Lookalike creation rules (docs/meta-api.md §1.7, Meta's Lookalike guide [G-LAL])."""

from __future__ import annotations

import re
from typing import Any

from . import errors, integrity
from .store import Audience, SandboxStore

COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
TYPE_RATIOS = {"similarity": 0.01, "reach": 0.05}
MIN_SEED = 100


def _on_grid(value: Any, name: str, lo: float, hi: float) -> float:
    """A ratio between ``lo`` and ``hi`` in 0.01 steps (docs/meta-api.md §1.7 "ratio")."""
    if isinstance(value, bool):
        raise errors.param(f"lookalike_spec[{name}] must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise errors.param(f"lookalike_spec[{name}] must be a number") from None
    hundredths = round(number * 100)
    if abs(number * 100 - hundredths) > 1e-6 or not (round(lo * 100) <= hundredths <= round(hi * 100)):
        raise errors.param(f"lookalike_spec[{name}] must be between {lo:.2f} and {hi:.2f} in steps of 0.01")
    return hundredths / 100


def _ratio(spec: dict[str, Any]) -> tuple[str, float]:
    """``type`` (similarity 1 %, reach 5 %) or ``ratio`` 0.01-0.20; never both kinds at once."""
    kind = spec.get("type")
    if "ratio" in spec:
        if kind not in (None, "custom_ratio"):
            raise errors.param("lookalike_spec: set either type or ratio, not both")
        return "custom_ratio", _on_grid(spec["ratio"], "ratio", 0.01, 0.20)
    if kind in TYPE_RATIOS:
        return str(kind), TYPE_RATIOS[str(kind)]
    raise errors.param("lookalike_spec must set ratio (0.01 to 0.20) or type (similarity or reach)")


def _countries(spec: dict[str, Any]) -> list[str]:
    """``country`` (ISO-2) or ``location_spec.geo_locations.{countries,country_groups}``."""
    if "country" in spec:
        country = spec["country"]
        if not isinstance(country, str) or not COUNTRY_RE.match(country):
            raise errors.param("lookalike_spec[country] must be an ISO 3166-1 alpha-2 country code")
        return [country.upper()]
    geo = (
        (spec.get("location_spec") or {}).get("geo_locations") if isinstance(spec.get("location_spec"), dict) else None
    )
    if not isinstance(geo, dict):
        raise errors.param("lookalike_spec must set country or location_spec")
    countries = geo.get("countries") or []
    groups = geo.get("country_groups") or []
    if not isinstance(countries, list) or not isinstance(groups, list) or not (countries or groups):
        raise errors.param("location_spec[geo_locations] needs at least one entry in countries or country_groups")
    for country in countries:
        if not isinstance(country, str) or not COUNTRY_RE.match(country):
            raise errors.param("location_spec[geo_locations][countries] must hold ISO 3166-1 alpha-2 codes")
    return [c.upper() for c in countries] + [str(g) for g in groups]


def parse_spec(raw: Any) -> dict[str, Any]:
    """Validate ``lookalike_spec`` and return its normalized read-back form (without ``origin``)."""
    if raw is None or raw == "":
        raise errors.required("lookalike_spec")
    if not isinstance(raw, dict):
        raise errors.param("Param lookalike_spec must be a JSON object")
    kind, ratio = _ratio(raw)
    spec: dict[str, Any] = {"type": kind, "ratio": ratio}
    if raw.get("starting_ratio") not in (None, ""):
        start = _on_grid(raw["starting_ratio"], "starting_ratio", 0.0, 0.19)
        if start >= ratio:
            raise errors.param("lookalike_spec[starting_ratio] must be less than ratio")
        spec["starting_ratio"] = start
    places = _countries(raw)
    if "country" in raw:
        spec["country"] = places[0]
    else:
        spec["location_spec"] = raw["location_spec"]
    if "allow_international_seeds" in raw:
        spec["allow_international_seeds"] = bool(raw["allow_international_seeds"])
    return spec


def seed_for(store: SandboxStore, account_id: str, origin: Any) -> Audience:
    """The seed audience: an existing customer-file audience of the same account with ≥ 100 matched people."""
    if origin in (None, ""):
        raise errors.required("origin_audience_id")
    seed = store.get_audience(int(origin)) if str(origin).isdigit() else None
    if seed is not None and seed.account_id != account_id and account_id in store.recipients(seed.id):
        raise errors.create_failed(  # §1.8 "Sharing": a recipient cannot use a shared audience as a seed
            f"Invalid Source Audience: audience {origin} is shared with this ad account, and a shared audience "
            "cannot be the source of a lookalike; create the lookalike in the ad account that owns it."
        )
    if seed is None or seed.account_id != account_id:
        raise errors.param(f"origin_audience_id {origin} is not a custom audience of this ad account")
    if seed.subtype != "CUSTOM":
        raise errors.create_failed(
            "Invalid Source Audience: a lookalike needs a customer file custom audience as its source."
        )
    integrity.check_seed(seed)  # a flagged seed: 100/1713232 (docs/meta-api.md §1.7, §8)
    if seed.persons < MIN_SEED:
        raise errors.seed_too_small()
    return seed


def check_duplicate(store: SandboxStore, account_id: str, seed: Audience, spec: dict[str, Any]) -> None:
    """Same seed, places and size twice → 2654 (facebook/facebook-php-business-sdk#181)."""

    def key(s: dict[str, Any]) -> tuple[Any, ...]:
        return (s.get("ratio"), s.get("starting_ratio", 0.0), s.get("country"), repr(s.get("location_spec")))

    for other in store.list_audiences(account_id):
        same_seed = other.subtype == "LOOKALIKE" and other.data.get("origin_audience_id") == seed.id
        if same_seed and key(other.data["lookalike_spec"]) == key(spec):
            raise errors.create_failed(
                "Can't Create a Duplicate Lookalike: You've already created a lookalike audience with the same "
                "source, country and size. Please try using a different source or different specifications."
            )


def size(spec: dict[str, Any], people_per_country: int) -> int:
    """Made-up size of a ready lookalike: its share of a fixed population per place."""
    places = [spec["country"]] if "country" in spec else _countries(spec)
    share = spec["ratio"] - spec.get("starting_ratio", 0.0)
    return round(share * people_per_country * len(places))
