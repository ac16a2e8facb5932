"""``python -m fbsync.sandbox [--host H] [--port N] [--data FILE] [fault and doctor options]``: serve the sandbox."""

from __future__ import annotations

import argparse
import functools
import sys

from .config import MATCH_SHARES, SandboxConfig, config_from_options, match_shares
from .faults import THROTTLE_KEYS, faults_from_options
from .server import serve


def build_parser() -> argparse.ArgumentParser:
    """The command line (see docs/sandbox.md "Fault injection" and "Doctor reads")."""
    parser = argparse.ArgumentParser(prog="python -m fbsync.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed on start)")
    parser.add_argument("--data", default=None, help="SQLite file that keeps state across restarts")
    parser.add_argument(
        "--lookalike-seconds", type=float, default=None, help="seconds a new lookalike stays populating (default 5)"
    )
    faults = parser.add_argument_group("fault injection (deterministic from --seed)")
    faults.add_argument("--error-rate", type=float, default=None, help="share of calls answered 500 code 2")
    faults.add_argument("--html-fraction", type=float, default=None, help="share of those 5xx sent as an HTML 503 page")
    faults.add_argument("--throttle-rate", type=float, default=None, help="share of calls throttled")
    faults.add_argument(
        "--throttle-codes",
        default=None,
        help=f"comma-separated throttles to pick from (default all: {','.join(THROTTLE_KEYS)})",
    )
    faults.add_argument("--block-seconds", type=float, default=None, help="how long a throttle blocks (60)")
    faults.add_argument(
        "--calls-per-minute",
        type=int,
        default=None,
        help="ad-account budget over 60 s (read 1, write 3); over it → 17 / 80003",
    )
    faults.add_argument("--drop-rate", type=float, default=None, help="share of connections closed unanswered")
    faults.add_argument(
        "--drop-after-apply", type=float, default=None, help="share of drops made after the call was applied (0-1)"
    )
    faults.add_argument("--slow-ms", default=None, help="delay before answering: 250 or a range 100-500")
    faults.add_argument(
        "--token-expires-after", type=int, default=None, help="the first token seen expires after N calls (190/463)"
    )
    faults.add_argument(
        "--missing-after-create", type=int, default=None, help="first N /users calls on a new audience get (#803)"
    )
    faults.add_argument(
        "--fault-endpoints", default=None, help="comma-separated endpoint labels random faults apply to (default all)"
    )
    faults.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    doctor = parser.add_argument_group("token and account state (what `fbsync doctor` reads)")
    doctor.add_argument("--token-type", choices=("SYSTEM_USER", "USER"), default=None)
    doctor.add_argument(
        "--token-expires-in-days",
        type=float,
        default=None,
        help="the token expires this many days after start (default never)",
    )
    doctor.add_argument(
        "--missing-permission",
        action="append",
        default=[],
        help="a permission the token lacks (repeatable), e.g. ads_management",
    )
    doctor.add_argument("--no-tos", action="store_true", help="Custom Audience terms not accepted")
    doctor.add_argument("--account-disabled", action="store_true", help="ad accounts disabled (account_status 2)")
    rules = parser.add_argument_group("Meta's rules (docs/sandbox.md)")
    rules.add_argument(
        "--tier", choices=("limited", "full"), default=None, help="access tier of the rate limits (default full)"
    )
    rules.add_argument(
        "--min-removal-size",
        type=int,
        default=None,
        help="removals taking an audience below this many people get 200/1870047 (default 100; 0 = never)",
    )
    rules.add_argument(
        "--populate-seconds", type=float, default=None, help="seconds a customer list reads 441 after an upload (0)"
    )
    rules.add_argument(
        "--max-rows-before-unknown-error", type=int, default=None, help="batches above this many rows get 1/99"
    )
    rules.add_argument(
        "--flagged-audience-in-adset",
        choices=("refuse", "accept"),
        default=None,
        help="ad set updates targeting a flagged audience (default refuse)",
    )
    rules.add_argument(
        "--integrity-word",
        action="append",
        default=[],
        help="a word that flags an audience (repeatable; replaces the list)",
    )
    rules.add_argument(
        "--foreign-audience-id", action="append", default=[], help="an audience id of another business (1487301)"
    )
    rules.add_argument(
        "--no-business-tools-tos", action="store_true", help="Business Tools terms not accepted (1870092)"
    )
    rules.add_argument(
        "--method-override-grandfathered", action="store_true", help="accept POST method=DELETE (an existing use)"
    )
    rules.add_argument(
        "--no-version-auto-upgrade", action="store_true", help="expired versions get 2635 on every endpoint"
    )
    matching = parser.add_argument_group('Meta\'s matching of rows to people (docs/sandbox.md "Matching people")')
    matching.add_argument(
        "--match-share",
        action="append",
        default=[],
        metavar="NAME=SHARE",
        help=f"share of values Meta knows, NAME one of {', '.join(MATCH_SHARES)} or all (every identifying key); "
        "repeatable, e.g. --match-share all=1 (everyone matches)",
    )
    matching.add_argument("--match-seed", default=None, help="another seed = another population of known values")
    matching.add_argument(
        "--no-value-based-tos", action="store_true", help="value-based lookalike terms not accepted (2655)"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """SandboxConfig from the parsed options."""
    return config_from_options(
        lookalike_seconds=args.lookalike_seconds,
        token_type=args.token_type,
        token_expires_in_days=args.token_expires_in_days,
        missing_permissions=args.missing_permission,
        no_tos=args.no_tos,
        account_disabled=args.account_disabled,
        tier=args.tier,
        min_audience_size_after_removal=args.min_removal_size,
        populate_seconds=args.populate_seconds,
        max_payload_rows_before_unknown_error=args.max_rows_before_unknown_error,
        flagged_audience_in_adset=args.flagged_audience_in_adset,
        integrity_words=args.integrity_word or None,
        foreign_audience_ids=args.foreign_audience_id or None,
        business_tools_tos=False if args.no_business_tools_tos else None,
        method_override_grandfathered=True if args.method_override_grandfathered else None,
        version_auto_upgrade=False if args.no_version_auto_upgrade else None,
        match_seed=args.match_seed,
        value_based_tos=False if args.no_value_based_tos else None,
        **match_shares(args.match_share),
    )


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until Ctrl-C (token and secret come from the environment)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
        faults = faults_from_options(
            error_rate=args.error_rate,
            throttle_rate=args.throttle_rate,
            drop_rate=args.drop_rate,
            slow_ms=args.slow_ms,
            token_expires_after=args.token_expires_after,
            calls_per_minute=args.calls_per_minute,
            seed=args.seed,
            html_fraction=args.html_fraction,
            block_seconds=args.block_seconds,
            drop_after_apply=args.drop_after_apply,
            missing_after_create=args.missing_after_create,
            throttle_codes=_csv(args.throttle_codes),
            endpoints=_csv(args.fault_endpoints),
        )
    except ValueError as err:
        parser.error(str(err))
    announce = functools.partial(print, flush=True)
    if faults.active:
        print(f"sandbox faults: {faults.to_dict()}", file=sys.stderr, flush=True)
    serve(
        args.host,
        args.port,
        args.data,
        config=config,
        faults=faults if faults.active else None,
        announce=announce,
    )


def _csv(value: str | None) -> tuple[str, ...] | None:
    return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None


if __name__ == "__main__":
    main()
