"""Knobs of the sandbox; every default is Meta's documented value where there is one."""

from __future__ import annotations

from dataclasses import dataclass, field

from .usage import UsageBudget


@dataclass(frozen=True)
class SandboxConfig:
    """Limits and timings.  Tests shrink some (e.g. ``replace_max_members``) to reach an error cheaply."""

    #: Seconds of sandbox clock a new lookalike stays "populating" (Meta: 1-6 h, docs/meta-api.md §1.7).
    lookalike_build_seconds: float = 5.0
    #: A session closes this long after its first batch (docs/meta-api.md §1.5, §1.6: 90 minutes).
    session_seconds: float = 90 * 60
    #: Per-account caps (docs/meta-api.md §1.1 "Caps per account").
    max_customer_file_audiences: int = 500
    max_lookalikes: int = 500
    #: usersreplace refuses audiences this big (docs/meta-api.md §1.6, subcode 1870144).
    replace_max_members: int = 100_000_000
    #: Oldest version still served, and the one named in the 2635 message (docs/meta-api.md §1 "Base").
    min_version: str = "v23.0"
    latest_version: str = "v26.0"
    #: Made-up people per country for lookalike size bounds (Meta gives no figure).
    lookalike_people_per_country: int = 10_000_000
    usage: UsageBudget = field(default_factory=UsageBudget)

    # --- what `fbsync doctor` reads: the token, its permissions, the ad account (docs/sandbox.md "Doctor reads") ---
    #: ``debug_token`` ``type``: "SYSTEM_USER" (production tokens) or "USER".
    token_type: str = "SYSTEM_USER"
    #: ``None`` = the token never expires (``expires_at`` 0, as for system-user tokens); N = it expires N days
    #: after the sandbox started (sandbox clock), and is then refused with 190/463.
    token_expires_in_days: float | None = None
    #: Permissions the token lacks (left out of ``/me/permissions`` and ``debug_token`` scopes, and enforced).
    missing_permissions: tuple[str, ...] = ()
    #: ``False`` = Custom Audience terms not accepted: ``tos_accepted`` is ``{}`` and customer-list
    #: creates and uploads fail with 200/1870034 (docs/meta-api.md §1.1 "Needs"/"Errors").
    custom_audience_tos: bool = True
    #: Every ad account's ``account_status`` (1 active, 2 disabled, …) and ``disable_reason`` (0 none).
    account_status: int = 1
    disable_reason: int = 0
    #: ``debug_token`` ``app_id`` / ``application``.
    app_id: str = "100000000000001"
    app_name: str = "fbsync sandbox"


def config_from_options(
    lookalike_seconds: float | None = None,
    token_type: str | None = None,
    token_expires_in_days: float | None = None,
    missing_permissions: tuple[str, ...] | list[str] | None = None,
    no_tos: bool = False,
    account_disabled: bool = False,
) -> SandboxConfig:
    """SandboxConfig from CLI-style options (``fbsync sandbox``, ``python -m fbsync.sandbox``); None = default.

    ``account_disabled`` sets ``account_status`` 2 with ``disable_reason`` 1 (ADS_INTEGRITY_POLICY).
    """
    values: dict[str, object] = {}
    if lookalike_seconds is not None:
        values["lookalike_build_seconds"] = lookalike_seconds
    if token_type:
        if token_type not in ("SYSTEM_USER", "USER"):
            raise ValueError(f"token_type must be SYSTEM_USER or USER, got {token_type}")
        values["token_type"] = token_type
    if token_expires_in_days is not None:
        values["token_expires_in_days"] = token_expires_in_days
    if missing_permissions:
        values["missing_permissions"] = tuple(missing_permissions)
    if no_tos:
        values["custom_audience_tos"] = False
    if account_disabled:
        values.update(account_status=2, disable_reason=1)
    return SandboxConfig(**values)  # type: ignore[arg-type]
