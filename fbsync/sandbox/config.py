"""Knobs of the sandbox; every default is Meta's documented value where there is one."""

from __future__ import annotations

from dataclasses import dataclass, field

from .usage import UsageBudget


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and timings.  Tests shrink some (e.g. ``replace_max_members``) to reach an error cheaply."""

    #: Seconds of sandbox clock a new lookalike stays "populating" (Meta: 1-6 h, meta-api.md §1.7).
    lookalike_build_seconds: float = 5.0
    #: A session closes this long after its first batch (meta-api.md §1.5, §1.6: 90 minutes).
    session_seconds: float = 90 * 60
    #: Per-account caps (meta-api.md §1.1 "Caps per account").
    max_customer_file_audiences: int = 500
    max_lookalikes: int = 500
    #: usersreplace refuses audiences this big (meta-api.md §1.6, subcode 1870144).
    replace_max_members: int = 100_000_000
    #: Oldest version still served, and the one named in the 2635 message (meta-api.md §1 "Base").
    min_version: str = "v23.0"
    latest_version: str = "v26.0"
    #: Made-up people per country for lookalike size bounds (Meta gives no figure).
    lookalike_people_per_country: int = 10_000_000
    usage: UsageBudget = field(default_factory=UsageBudget)
