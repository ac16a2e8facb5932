"""The ``fbsync`` command line (contract: "Commands").

Thin: each command loads the config, calls one library function and renders its
result.  Every :class:`~fbsync.errors.FbsyncError` is caught once, in
:func:`main`, printed as one sentence on stderr, and turned into its exit code.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from . import logs
from .config import LoadedConfig, load_config, load_dotenv_files
from .errors import ConfigError, FbsyncError
from .settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Keep Meta custom audiences in step with your CRM.",
)

ConfigOpt = Annotated[Path, typer.Option("-c", "--config", help="Path of audiences.yaml.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]
Names = Annotated[list[str] | None, typer.Argument(help="Audience names (default: all).")]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Show progress and retries on stderr.")]
LogFormatOpt = Annotated[str, typer.Option("--log-format", help="text or json.")]


def _load(config: Path, verbose: bool = False, log_format: str = "text") -> tuple[LoadedConfig, Settings]:
    loaded = load_config(config)
    settings = Settings.from_env(loaded.path)
    logs.setup(settings.secrets(), verbose=verbose, log_format=log_format, state_dir=settings.state_dir)
    return loaded, settings


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


F = TypeVar("F", bound=Callable[..., Any])


def handled(fn: F) -> F:
    """Turn fbsync's errors into one sentence on stderr and the contract's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except FbsyncError as exc:
            _err(f"✗ {exc}")
            raise typer.Exit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------- commands
@app.command()
@handled
def validate(config: ConfigOpt = Path("audiences.yaml")) -> None:
    """Check the YAML and that every query runs and returns its mapped columns; sends nothing."""
    from .api import validate as check

    loaded, settings = _load(config)
    check(loaded, settings=settings)
    n = len(loaded.config.audiences)
    typer.echo(f"✓ {loaded.path.name} is valid: {n} audience{'s' if n != 1 else ''}, every query returns its columns.")


@app.command()
@handled
def plan(
    names: Names = None,
    config: ConfigOpt = Path("audiences.yaml"),
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show what a sync would do per audience (create, update, +adds, -removes, replace, skip); sends nothing."""
    _sync(names or [], config, dry_run=True, force=False, as_json=as_json, verbose=verbose, command="plan")


@app.command()
@handled
def sync(
    names: Names = None,
    config: ConfigOpt = Path("audiences.yaml"),
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only; send nothing.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Allow a sync that shrinks an audience beyond max_shrink.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete the Meta audiences fbsync created that the YAML no longer declares.")
    ] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = "text",
) -> None:
    """Bring every audience (or the NAMEs given) on Meta in step with the CRM."""
    _sync(
        names or [],
        config,
        dry_run=dry_run,
        force=force,
        as_json=as_json,
        verbose=verbose,
        command="sync",
        log_format=log_format,
        prune=prune,
    )


def _sync(
    names: list[str],
    config: Path,
    *,
    dry_run: bool,
    force: bool,
    as_json: bool,
    verbose: bool,
    command: str,
    log_format: str = "text",
    prune: bool = False,
) -> None:
    from .api import sync as run
    from .render.progress import terminal_progress
    from .render.text import render_run

    loaded, settings = _load(config, verbose, log_format)
    with terminal_progress() as progress:
        report = run(
            loaded,
            names,
            settings=settings,
            dry_run=dry_run,
            force=force,
            prune=prune,
            progress=progress,
            command=command,
        )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render_run(report))
    for a in report.audiences:
        if a.status in ("failed", "refused") and a.message and not as_json:
            _err(f"✗ {a.message}")
    raise typer.Exit(report.exit_code)


@app.command()
@handled
def upload(
    file: Annotated[Path, typer.Argument(help="CSV, TSV or Parquet file.")],
    audience: Annotated[str, typer.Option("--audience", help="Audience name (of the YAML, or a new one).")],
    mode: Annotated[str, typer.Option("--mode", help="add, remove or replace.")] = "add",
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="KEY=column, repeatable (default: columns named after Meta keys).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the counts only; send nothing.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Allow a replace or removal that shrinks the audience beyond max_shrink, or empties it."
        ),
    ] = False,
    config: ConfigOpt = Path("audiences.yaml"),
    as_json: JsonOpt = False,
) -> None:
    """One-off upload of a customer file into an audience (created if missing)."""
    from .api import upload_file
    from .render.text import render_run
    from .sources.files import parse_map

    loaded, settings = _load(config)
    report = upload_file(
        loaded,
        file,
        audience,
        mode,
        parse_map(mapping) if mapping else None,
        settings=settings,
        dry_run=dry_run,
        force=force,
    )
    typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if as_json else render_run(report))
    for a in report.audiences:
        if a.status in ("failed", "refused") and a.message and not as_json:
            _err(f"✗ {a.message}")
    raise typer.Exit(report.exit_code)


@app.command("hash")
@handled
def hash_cmd(
    file: Annotated[str | None, typer.Argument(help="CSV, TSV or Parquet file to hash.")] = None,
    values: Annotated[
        list[str] | None, typer.Argument(help="With --key: values to normalize and hash.", show_default=False)
    ] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", help="KEY=column, repeatable.")] = None,
    out: Annotated[Path | None, typer.Option("-o", "--output", help="Output CSV (default stdout).")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Hash the VALUEs given as this Meta key.")] = None,
    default_country: Annotated[
        str | None, typer.Option("--default-country", help="Country of national phone numbers, e.g. FR.")
    ] = None,
) -> None:
    """Write a hashed customer file (Meta's columns) without calling the API, or explain single values (--key)."""
    from .sources.files import hash_file, hash_values, open_out, parse_map

    if key:
        vals = ([file] if file is not None else []) + list(values or [])
        if not vals:
            raise ConfigError("--key needs at least one VALUE, e.g. fbsync hash --key EMAIL ' Jean@Example.fr '.")
        for line in hash_values(key, vals, default_country):
            typer.echo(json.dumps(line, ensure_ascii=False))
        return
    if file is None:
        raise ConfigError("Give a FILE with --map KEY=column, or --key KEY VALUE….")
    if values:
        raise ConfigError(f"Unexpected argument {values[0]!r}; a file is hashed with --map, values with --key.")
    mapping_ = parse_map(mapping)
    stream = open_out(out)
    try:
        totals = hash_file(Path(file), mapping_, stream, default_country)
    finally:
        if out is not None:
            stream.close()
        else:
            stream.flush()
    _err(
        f"{totals['rows_read']:,} rows read, {totals['rows_written']:,} written, "
        f"{totals['rows_dropped']:,} dropped (no usable identifier)"
        + "".join(f"; {k}: {n:,}" for k, n in sorted(totals["invalid"].items()))
    )


@app.command()
@handled
def status(config: ConfigOpt = Path("audiences.yaml"), as_json: JsonOpt = False) -> None:
    """Per audience: Meta id, size bounds, delivery status, last sync and its result."""
    from .render.text import render_status
    from .status import collect_status

    loaded, settings = _load(config)
    rows = collect_status(loaded, settings)
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str) if as_json else render_status(rows))


@app.command()
@handled
def history(
    config: ConfigOpt = Path("audiences.yaml"),
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Past runs with their counts and outcome."""
    from .render.text import render_history
    from .state.store import StateStore

    _, settings = _load(config)
    store = StateStore.open(settings.state_dir, settings.state_url)
    try:
        runs = store.history(limit)
    finally:
        store.close()
    typer.echo(
        json.dumps([r.to_dict() for r in runs], ensure_ascii=False, indent=2, default=str)
        if as_json
        else render_history(runs)
    )


@app.command()
@handled
def doctor(config: ConfigOpt = Path("audiences.yaml")) -> None:
    """Check the token, its expiry, permissions, the ad account, the Custom Audience terms and local hashing."""
    from .doctor import run_checks
    from .meta.factory import client_factory

    if config.is_file():
        loaded, settings = _load(config)
        account = settings.account(loaded.config.ad_account_id)
        api = loaded.config.api
    else:
        load_dotenv_files(None)
        settings = Settings.from_env(None)
        account, api = settings.account(None), None
    checks = run_checks(settings, account, clients=client_factory(api))
    for c in checks:
        typer.echo(c.line())
    failed = [c for c in checks if not c.ok and c.blocking]
    raise typer.Exit(3 if failed else 0)


@app.command()
@handled
def forget(
    config: ConfigOpt = Path("audiences.yaml"),
    email: Annotated[list[str] | None, typer.Option("--email", help="The person's email (repeatable).")] = None,
    phone: Annotated[list[str] | None, typer.Option("--phone", help="The person's phone (repeatable).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove one person from every audience fbsync manages and keep them out of later syncs (RGPD)."""
    import sys

    from .api import forget_person
    from .suppression import summarize

    loaded, settings = _load(config)
    if not (email or phone):
        raise ConfigError("fbsync forget needs --email and/or --phone to say who to forget.")
    if sys.stdin.isatty() and not yes:
        typer.confirm(
            "Remove this person from every audience fbsync manages on Meta, and keep them out of every future sync?",
            abort=True,
        )
    rep = forget_person(loaded, email or [], phone or [], settings=settings)
    if rep.found:
        typer.echo(f"✓ Forgotten: {summarize(rep.removed)}; kept out of every future sync (audit: run {rep.run_id}).")
    else:
        typer.echo(
            f"✓ Not found in any audience fbsync manages; suppressed anyway, so no future sync will send "
            f"them (audit: run {rep.run_id})."
        )


@app.command()
@handled
def purge(
    audience: Annotated[str, typer.Argument(help="The audience's name in audiences.yaml.")],
    config: ConfigOpt = Path("audiences.yaml"),
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete fbsync's local data for one audience (its encrypted ledger and record); Meta is not touched."""
    import sys

    from .erasure import purge_audience

    loaded, settings = _load(config)
    if sys.stdin.isatty() and not yes:
        typer.confirm(
            f"Delete fbsync's local data for {audience}? The next sync re-establishes it with one replace.", abort=True
        )
    n = purge_audience(loaded, settings, audience)
    typer.echo(f"✓ Purged {audience}: {n:,} ledger rows deleted; the run history keeps the counts (audit).")


@app.command()
@handled
def schedule(
    config: ConfigOpt = Path("audiences.yaml"),
    list_only: Annotated[bool, typer.Option("--list", help="Print each audience's next run times and exit.")] = False,
    as_json: JsonOpt = False,
    misfire_grace: Annotated[
        int,
        typer.Option(
            "--misfire-grace",
            help="Seconds within which a run missed while the scheduler was down still runs at start-up.",
        ),
    ] = 3600,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = "text",
) -> None:
    """Run the weekly refresh in the foreground (APScheduler); --list prints each audience's next run times."""
    from .scheduler import format_next_runs, next_runs, run_scheduler

    loaded, settings = _load(config, verbose, log_format)
    if list_only:
        rows = next_runs(loaded)
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2) if as_json else format_next_runs(rows))
        return
    from .api import sync as run
    from .state.locks import scheduler_lock
    from .state.store import StateStore

    store = StateStore.open(settings.state_dir, settings.state_url)

    def run_sync(names: list[str], stop: Any) -> Any:
        # Re-read the YAML so each run uses the file as it is now.
        return run(load_config(loaded.path), names, settings=settings, stop=stop)

    try:
        with scheduler_lock(settings):
            code = run_scheduler(loaded, run_sync, store=store, misfire_grace_seconds=misfire_grace)
    finally:
        store.close()
    raise typer.Exit(code)


@app.command()
@handled
def report(
    config: ConfigOpt = Path("audiences.yaml"),
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")] = Path("report.html"),
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 200,
) -> None:
    """Write the run history as one static HTML page (sizes over time, rows sent, drop reasons, match rate)."""
    from .render.html import write_report
    from .state.store import StateStore

    loaded, settings = _load(config)
    store = StateStore.open(settings.state_dir, settings.state_url)
    try:
        path = write_report(store, output, limit=limit, account=settings.ad_account_id or loaded.config.ad_account_id)
    finally:
        store.close()
    typer.echo(f"✓ wrote {path} (open it in any browser; it needs no network)")


@app.command()
@handled
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8765,
    data: Annotated[Path | None, typer.Option(help="File keeping the sandbox's audiences across restarts.")] = None,
    error_rate: Annotated[float, typer.Option(help="Share of calls answered by an HTTP 500 (code 2).")] = 0.0,
    throttle_rate: Annotated[float, typer.Option(help="Share of calls throttled (80003, 17, 4, 613).")] = 0.0,
    drop_rate: Annotated[float, typer.Option(help="Share of connections dropped without an answer.")] = 0.0,
    slow_ms: Annotated[str | None, typer.Option(help="Delay before answering: 250 or 100-500 (ms).")] = None,
    token_expires_after: Annotated[
        int | None, typer.Option(help="The token expires (190/463) after this many calls.")
    ] = None,
    calls_per_minute: Annotated[
        int | None, typer.Option(help="Per-account budget per rolling minute (reads 1, writes 3).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the random faults.")] = None,
) -> None:
    """Serve the local Marketing API sandbox (no Meta account needed), optionally misbehaving like Meta."""
    from .errors import ConfigError as _ConfigError
    from .sandbox import serve
    from .sandbox.faults import faults_from_options

    load_dotenv_files(None)
    try:
        faults = faults_from_options(
            error_rate=error_rate,
            throttle_rate=throttle_rate,
            drop_rate=drop_rate,
            slow_ms=slow_ms,
            token_expires_after=token_expires_after,
            calls_per_minute=calls_per_minute,
            seed=seed,
        )
    except ValueError as exc:
        raise _ConfigError(f"fbsync sandbox: {exc}") from None
    serve(host=host, port=port, data=str(data) if data else None, faults=faults if faults.active else None)


def main() -> None:
    """Entry point (console script ``fbsync``)."""
    app()
