"""The Marketing API version table, evaluated on the sandbox clock (docs/meta-api.md §8 "Versions").

* A **live** version (released, not expired) is served as asked.
* An **expired** version: on the endpoints that changed since (every custom-audience endpoint:
  the list/create edge, the audience node, ``/users``, ``/usersreplace``, ``/sessions``) the call
  fails with 2635; elsewhere it is auto-upgraded to the next live version and the answer carries
  ``X-Ad-Api-Version-Warning`` (Meta blog 2024-04-16 "version auto-upgrade"; wording of Meta's
  versioning FAQ: "The call has been auto-upgraded to vXXX as vXXX has been deprecated").
* A version older than ``SandboxConfig.min_version`` is refused with 2635 everywhere (too old to upgrade).
* An **unknown** version (newer than the table, or not yet released on the clock) → 2500.

Every answer names the version that served it in ``facebook-api-version`` (Graph changelog v2.1).
Tests move the clock to these dates (``VERSIONS``, ``LEGACY_FEATURES_CUTOFF``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import errors
from .params import version_tuple


def at(day: dt.date) -> float:
    """Unix time of midnight UTC on ``day``."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True)
class Version:
    """One Marketing API version: served from ``released`` until ``expires`` (None = no date set)."""

    name: str
    released: dt.date
    expires: dt.date | None = None

    def live(self, now: float) -> bool:
        """Released and not expired at ``now``."""
        return at(self.released) <= now and (self.expires is None or now < at(self.expires))

    def expired(self, now: float) -> bool:
        """Past its expiry date at ``now``."""
        return self.expires is not None and now >= at(self.expires)


#: docs/meta-api.md §8 "Versions" (Marketing API version table, re-checked 2026-12-07).
VERSIONS: tuple[Version, ...] = (
    Version("v23.0", dt.date(2025, 5, 29), dt.date(2026, 6, 9)),
    Version("v24.0", dt.date(2025, 10, 8), dt.date(2026, 11, 10)),
    Version("v25.0", dt.date(2026, 2, 18), dt.date(2027, 2, 23)),
    Version("v26.0", dt.date(2026, 7, 29)),
    Version("v27.0", dt.date(2026, 11, 4)),
)
#: Since this day new uses of Graph's legacy features (the HTTP method override among them) are
#: refused on every version (docs/meta-api.md §8 "Legacy Graph features", BLOG-V27).
LEGACY_FEATURES_CUTOFF = dt.date(2026, 11, 4)
#: Endpoint labels whose versions changed (docs/meta-api.md §8: "The custom-audience endpoints changed
#: in v24, so an expired version gets (#2635)"): never auto-upgraded.
CHANGED_ENDPOINTS = frozenset(
    {
        "GET /customaudiences",
        "POST /customaudiences",
        "GET /{audience_id}",
        "POST /{audience_id}",
        "DELETE /{audience_id}",
        "POST /users",
        "DELETE /users",
        "POST /usersreplace",
        "GET /sessions",
        "DELETE /usersofanyaudience",
    }
)


@dataclass(frozen=True)
class Served:
    """Which version answers a call, and the auto-upgrade warning when it is not the one asked for."""

    version: str
    warning: str | None = None


def find(name: str) -> Version | None:
    """The table entry of ``name``, or None."""
    return next((v for v in VERSIONS if v.name == name), None)


def latest(now: float) -> str:
    """The newest released version at ``now`` (the one the 2635 message names)."""
    released = [v for v in VERSIONS if at(v.released) <= now]
    return (released[-1] if released else VERSIONS[0]).name


def header_version(requested: str | None, now: float, newest: str) -> str:
    """What ``facebook-api-version`` says before the call is routed: the version asked, when live."""
    entry = find(requested) if requested else None
    return requested if entry is not None and requested and entry.live(now) else newest


def serve(
    requested: str | None,
    now: float,
    endpoint: str,
    *,
    min_version: str,
    newest: str,
    auto_upgrade: bool = True,
) -> Served:
    """The version that serves this call, or the Graph error that refuses it (2635 / 2500)."""
    if not requested:
        return Served(newest)  # unversioned: the newest version (inf; Graph uses the app's default)
    if version_tuple(requested) < version_tuple(min_version):
        raise errors.deprecated_version(newest)
    entry = find(requested)
    if entry is None and version_tuple(requested) > version_tuple(VERSIONS[0].name):
        raise errors.unknown_version(requested)  # newer than the table, or not a version Meta had
    if entry is not None:  # (a version older than the table is long expired)
        if at(entry.released) > now:
            raise errors.unknown_version(requested)  # not released yet on the sandbox clock
        if entry.live(now):
            return Served(requested)
    if not auto_upgrade or endpoint in CHANGED_ENDPOINTS:
        raise errors.deprecated_version(newest)
    start = version_tuple(requested)
    target = next((v for v in VERSIONS if version_tuple(v.name) > start and v.live(now)), None)
    name = target.name if target else newest
    return Served(name, f"The call has been auto-upgraded to {name} as {requested} has been deprecated.")


def legacy_features_refused(now: float) -> bool:
    """Are new uses of Graph's legacy features (method override, …) refused at ``now``?"""
    return now >= at(LEGACY_FEATURES_CUTOFF)
