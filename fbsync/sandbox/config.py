"""Knobs of the sandbox; every default is Meta's documented value where there is one."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

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
    #: Versions older than this are refused with 2635 everywhere (docs/meta-api.md §1 "Base"); the version
    #: table itself (live / expired / auto-upgraded, on the sandbox clock) is ``versions.py``.
    min_version: str = "v23.0"
    #: The version named in 2635 messages; None = the newest released version on the sandbox clock.
    latest_version: str | None = None
    #: Meta's auto-upgrade of expired versions on unchanged endpoints (an app can turn it off in its
    #: dashboard: Meta blog 2024-04-16); False = an expired version gets 2635 everywhere.
    version_auto_upgrade: bool = True
    #: The app already used the HTTP method override before 2026-11-04 (an "existing use", allowed until
    #: v28); False = a POST with ``method=DELETE|GET`` is refused with 100 (docs/meta-api.md §8).
    method_override_grandfathered: bool = False
    #: More request parameters than this → 105 (docs/meta-api.md §1.5 "Errors"; the number is (inf)).
    max_request_params: int = 100
    #: ``/users`` / ``/usersreplace`` batches above this many rows → 1/99 like > 10,000 rows (Meta's
    #: undocumented limit on large batches, docs/meta-api.md §1.5 "Limits"); None = only the 10,000 limit.
    max_payload_rows_before_unknown_error: int | None = None
    #: A ``/users`` DELETE taking an audience of at least this many people below it → 200/1870047
    #: (docs/meta-api.md §8; Meta gives no number: (inf)); None = never refused.
    min_audience_size_after_removal: int | None = 100
    #: Seconds a customer list reads ``operation_status`` 441 (populating) after its last upload (inf).
    populate_seconds: float = 0.0
    #: Words that get an audience flagged when its name or description contains one (docs/meta-api.md §8
    #: "Integrity flags": Meta publishes no list; its examples are health and financial words).
    integrity_words: tuple[str, ...] = (
        "diabète",
        "diabetes",
        "arthrite",
        "arthritis",
        "crédit",
        "credit score",
        "dette",
        "debt",
        "revenus élevés",
        "high income",
        "cancer",
        "dépression",
        "depression",
    )
    #: An ad set update targeting a flagged audience: "refuse" (code 100) or "accept" (docs/meta-api.md §8:
    #: the v24 changelog and the Ad Set reference disagree).
    flagged_audience_in_adset: str = "refuse"
    #: The subcode of the terms error on ``/users`` and ``/usersreplace``: 1870034 or 1870090 (ERR-M lists
    #: both for the Custom Audience terms, docs/meta-api.md §1.1 "Errors"; when Meta uses which is unknown).
    tos_upload_subcode: int = 1870034
    #: ``False`` = the Meta Business Tools terms are not accepted: customer-list creates and uploads → 200/1870092.
    business_tools_tos: bool = True
    #: Ad accounts claimed by another business, with no audience sharing relationship with the sandbox's
    #: (which claims every other account): sharing an audience with one of them is refused (§1.8 "Sharing").
    other_business_accounts: tuple[str, ...] = ()
    #: Audience ids that belong to another business: any call on them (or targeting them) → 100/1487301.
    foreign_audience_ids: tuple[str, ...] = ()
    #: Access tier: "limited" or "full"; None = from ``usage.tier`` (``standard_access`` = Full).
    tier: str | None = None
    #: Made-up people per country for lookalike size bounds (Meta gives no figure).
    lookalike_people_per_country: int = 10_000_000
    usage: UsageBudget = field(default_factory=UsageBudget)

    # --- Meta's matching of rows to people (docs/sandbox.md "Matching people"; sources there) ---
    #: Share of e-mail values Meta knows (email-only lists match about 35-60 %).
    match_email: float = 0.5
    #: Share of phone numbers Meta knows (inf: e-mail + phone lists match about 50-80 %, e-mail higher).
    match_phone: float = 0.3
    #: Share of mobile advertiser ids Meta knows (inf: no published figure).
    match_madid: float = 0.3
    #: Share of EXTERN_IDs Meta matches on their own; 0 = only through the ad account's mapping from earlier
    #: matched rows (G-CFCA).
    match_extern_id: float = 0.0
    #: Share of UID / APPUID / PAGEUID (ids Meta issued itself) that still name a person.
    match_user_id: float = 1.0
    #: Share of FN+LN+ZIP / FN+LN+CT / FN+LN+DOBY combinations that match a row no identifier matched (inf).
    match_name: float = 0.1
    #: Key of the digest that decides which values are known (another seed = another population).
    match_seed: str = "fbsync-sandbox"
    #: ``True`` = a matched row also ties its unknown e-mails, phones and MADIDs to its person (a later row with
    #: only them then resolves to it); default ``False``: Meta discards unmatched hashes, only EXTERN_IDs are kept.
    match_link_unknown: bool = False
    #: ``False`` = the ad account has not accepted the value-based lookalike terms (``tos_accepted`` lacks
    #: ``value_based_custom_audience_tos``): value-based creates, adds, replaces and lookalikes are refused.
    value_based_tos: bool = True
    #: Code of that refusal: 2655 or 2663 (inf, docs/meta-api.md §1.7 "Value-based terms").
    value_based_tos_code: int = 2655

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
    #: Ad accounts (``act_…`` or digits) on which the Custom Audience terms are not accepted, the others having
    #: them: the terms are accepted per ad account (``tos_accepted`` is a field of the ad account).
    accounts_without_tos: tuple[str, ...] = ()
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
    **more: object,
) -> SandboxConfig:
    """SandboxConfig from CLI-style options (``fbsync sandbox``, ``python -m fbsync.sandbox``); None = default.

    ``account_disabled`` sets ``account_status`` 2 with ``disable_reason`` 1 (ADS_INTEGRITY_POLICY).
    ``more``: any other :class:`SandboxConfig` field (``tier="limited"``, …); ``None`` values are skipped.
    Raises ``ValueError`` for a bad value.
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
    names = {f.name for f in fields(SandboxConfig)}
    for name, value in more.items():
        if name not in names:
            raise ValueError(f"unknown sandbox option {name}")
        if value is not None:
            values[name] = tuple(value) if isinstance(value, list) else value
    config = SandboxConfig(**values)  # type: ignore[arg-type]
    check(config)
    return config


TIERS = {"limited": "development_access", "full": "standard_access"}
#: ``--match-share NAME=SHARE`` names → SandboxConfig fields (``all`` = every identifying key).
MATCH_SHARES = {
    "email": "match_email",
    "phone": "match_phone",
    "madid": "match_madid",
    "extern_id": "match_extern_id",
    "user_id": "match_user_id",
    "name": "match_name",
}
IDENTIFYING_SHARES = ("match_email", "match_phone", "match_madid", "match_extern_id", "match_user_id")


def match_shares(specs: list[str] | tuple[str, ...]) -> dict[str, float]:
    """``["email=0.6", "all=1"]`` → SandboxConfig fields; ``all`` sets every identifying key (``ValueError``
    for an unknown name or a share outside 0-1)."""
    out: dict[str, float] = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip().lower().replace("-", "_")
        try:
            share = float(raw)
        except ValueError:
            share = -1.0
        if not sep or not 0 <= share <= 1:
            raise ValueError(f"--match-share wants NAME=SHARE with a share between 0 and 1, got {spec}")
        if name == "all":
            out.update(dict.fromkeys(IDENTIFYING_SHARES, share))
        elif name in MATCH_SHARES:
            out[MATCH_SHARES[name]] = share
        else:
            raise ValueError(f"unknown match share {name}: one of {', '.join([*MATCH_SHARES, 'all'])}")
    return out


def everyone_matches(config: SandboxConfig | None = None) -> SandboxConfig:
    """``config`` (default ``SandboxConfig()``) where Meta knows every identifying value: each valid row
    with an identifier matches (the sandbox's behaviour before matching was modelled)."""
    shares: dict[str, Any] = dict.fromkeys(IDENTIFYING_SHARES, 1.0)
    return replace(config or SandboxConfig(), **shares)


def check(config: SandboxConfig) -> None:
    """Refuse knob values the sandbox cannot honour (``ValueError`` with the reason)."""
    if config.tier is not None and config.tier not in TIERS:
        raise ValueError(f"tier must be limited or full, got {config.tier}")
    if config.tos_upload_subcode not in (1870034, 1870090):
        raise ValueError("tos_upload_subcode must be 1870034 or 1870090")
    if config.flagged_audience_in_adset not in ("refuse", "accept"):
        raise ValueError("flagged_audience_in_adset must be refuse or accept")
    for name in ("max_request_params", "max_payload_rows_before_unknown_error", "min_audience_size_after_removal"):
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a non-negative integer")
    if not isinstance(config.populate_seconds, (int, float)) or config.populate_seconds < 0:
        raise ValueError("populate_seconds must be a non-negative number")
    for name in (*IDENTIFYING_SHARES, "match_name"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a share between 0 and 1")
    if not isinstance(config.match_seed, str):
        raise ValueError("match_seed must be a string")
    if config.value_based_tos_code not in (2655, 2663):
        raise ValueError("value_based_tos_code must be 2655 or 2663")


def header_tier(config: SandboxConfig) -> str:
    """The ``ads_api_access_tier`` header string of the configured tier (docs/meta-api.md §4 "Tier names":
    ``development_access`` = Limited, ``standard_access`` = Full)."""
    return TIERS[config.tier] if config.tier else config.usage.tier


def terms_accepted(config: SandboxConfig, account_id: str | None) -> bool:
    """Whether the Custom Audience terms are accepted on this ad account (digits or ``act_…``)."""
    if not config.custom_audience_tos:
        return False
    digits = (account_id or "").removeprefix("act_")
    return not any(a.removeprefix("act_") == digits for a in config.accounts_without_tos)
