"""Marketing API versions: which ones Meta serves, until when, and which one fbsync speaks.

Meta's Marketing API version table (docs/meta-api.md §8, "Versions"; source: Meta's Marketing API
changelog and the 2026-11-04 blog post introducing v27.0).  An expired version is auto-upgraded only on
endpoints that did not change; the custom-audience endpoints changed in v24, so on an expired version
they answer ``(#2635) You are calling a deprecated version of the Ads API``.

fbsync speaks, in this order: ``FBSYNC_API_VERSION`` when set; else the installed SDK's own version
(facebook-business N.x speaks vN.0) unless it expires within :data:`WARN_DAYS` days, in which case the
newest live version.  ``fbsync doctor`` prints the version in use and its end date and warns from
:data:`WARN_DAYS` days before it.  Pure: every function is given the date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

WARN_DAYS = 90
_NAME = re.compile(r"^v(\d+)\.(\d+)$")


@dataclass(frozen=True)
class ApiVersion:
    """One Marketing API version: when Meta released it and when it stops serving it (None: not announced)."""

    name: str
    released: date | None
    expires: date | None

    def live(self, today: date) -> bool:
        return (self.released is None or self.released <= today) and (self.expires is None or today < self.expires)

    def days_left(self, today: date) -> int | None:
        return None if self.expires is None else (self.expires - today).days


#: docs/meta-api.md §8 "Versions" (Marketing API table; the Graph API's dates are longer and do not apply).
VERSIONS: tuple[ApiVersion, ...] = (
    ApiVersion("v23.0", None, date(2026, 6, 9)),
    ApiVersion("v24.0", None, date(2026, 11, 10)),
    ApiVersion("v25.0", None, date(2027, 2, 23)),
    ApiVersion("v26.0", date(2026, 7, 29), None),
    ApiVersion("v27.0", date(2026, 11, 4), None),
)
BY_NAME = {v.name: v for v in VERSIONS}


def key(name: str) -> tuple[int, int]:
    m = _NAME.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def newest_live(today: date) -> ApiVersion:
    """The newest version Meta serves today."""
    return max((v for v in VERSIONS if v.live(today)), key=lambda v: key(v.name))


def sdk_version() -> str:
    """The version the installed facebook-business SDK speaks (``vN.0``)."""
    from facebook_business.apiconfig import ads_api_config

    return str(ads_api_config["API_VERSION"])


@dataclass(frozen=True)
class Choice:
    """The version fbsync speaks, why, and what a person should know about it."""

    name: str
    reason: str  # "FBSYNC_API_VERSION", "the installed SDK's", "the newest live (the SDK's expires soon)"
    known: ApiVersion | None  # None: a version this table does not know
    warning: str | None = None  # a sentence for doctor (and the log) when action is needed


def choose(override: str | None, today: date, sdk: str | None = None) -> Choice:
    """The version to speak today (see the module)."""
    if override:
        v = BY_NAME.get(override)
        return Choice(override, "FBSYNC_API_VERSION", v, _warning(override, v, today, "FBSYNC_API_VERSION"))
    sdk = sdk or sdk_version()
    v = BY_NAME.get(sdk)
    left = v.days_left(today) if v else None
    if v is not None and v.live(today) and (left is None or left > WARN_DAYS):
        return Choice(sdk, "the installed SDK's", v)
    best = newest_live(today)
    if v is None and key(sdk) > key(best.name):  # an SDK newer than this table: trust it
        return Choice(sdk, "the installed SDK's", None)
    why = "unknown to fbsync" if v is None else ("expired" if not v.live(today) else f"ends in {left} days")
    return Choice(best.name, f"the newest live version (the SDK's {sdk} {why})", best)


def _warning(name: str, v: ApiVersion | None, today: date, source: str) -> str | None:
    best = newest_live(today).name
    if v is None:
        return (
            f"{name} (from {source}) is not a Marketing API version fbsync knows; Meta answers unknown ones "
            f"with error 2500: set it to {best} or unset it."
        )
    left = v.days_left(today)
    if not v.live(today):
        return f"{name} (from {source}) expired on {v.expires}; Meta refuses it (2635): set it to {best} or unset it."
    if left is not None and left <= WARN_DAYS:
        return f"{name} (from {source}) ends on {v.expires} (in {left} days); set it to {best} before then."
    return None


def describe(c: Choice, today: date) -> str:
    """One line for doctor: the version, where it comes from, and its end date."""
    end = "no end date announced"
    if c.known is not None and c.known.expires is not None:
        end = f"served until {c.known.expires} ({c.known.days_left(today)} days left)"
    elif c.known is None:
        end = "not in fbsync's version table"
    return f"{c.name}, {c.reason}; {end}"
