"""The long-running commands: the weekly scheduler and the local Marketing API sandbox."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from . import ConfigOpt, JsonOpt, LogFormatOpt, VerboseOpt, command, flag, load, out, out_json


@command("fbsync schedule", "fbsync schedule --list --json", "fbsync schedule -v --log-format json")
def schedule(
    config: ConfigOpt = Path("audiences.yaml"),
    list_only: Annotated[bool, flag("--list", help="Print each audience's next run times and exit.")] = False,
    as_json: JsonOpt = False,
    misfire_grace: Annotated[
        int,
        typer.Option(
            "--misfire-grace",
            metavar="SECONDS",
            help="Seconds within which a run missed while the scheduler was down still runs at start-up.",
        ),
    ] = 3600,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            metavar="PORT",
            help="Serve Prometheus metrics on this port at /metrics while the scheduler runs (docs/metrics.md).",
        ),
    ] = None,
    lease: Annotated[
        float,
        typer.Option(
            "--lease",
            metavar="SECONDS",
            min=2,
            help="Several workers (PostgreSQL state): a worker silent this long has its run taken over.",
        ),
    ] = 60.0,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = "text",
) -> None:
    """Run the weekly refresh in the foreground (APScheduler); --list prints each audience's next run times."""
    from ..scheduler import format_next_runs, next_runs, run_scheduler

    loaded, settings = load(config, verbose, log_format)
    if list_only:
        rows = next_runs(loaded)
        if as_json:
            out_json(rows)
        else:
            out(format_next_runs(rows))
        return
    from ..api import sync as run
    from ..state.locks import scheduler_lock
    from ..state.store import StateStore

    store = StateStore.open(settings.state_dir, settings.state_url)

    def run_sync(names: list[str], stop: Any) -> Any:
        # Re-read the YAML so each run uses the file as it is now.
        from ..config import load_config

        return run(load_config(loaded.path), names, settings=settings, stop=stop)

    server = None
    fleet = None
    if store.engine.dialect.name == "postgresql":  # several workers may share it: due runs are claimed
        from ..fleet import Fleet, lookalike_sources

        fleet = Fleet(store, lookalike_sources(loaded), lease=lease)
    try:
        with nullcontext() if fleet is not None else scheduler_lock(settings):
            if metrics_port is not None:
                server = serve_metrics(loaded, settings, metrics_port)
            code = run_scheduler(loaded, run_sync, store=store, misfire_grace_seconds=misfire_grace, fleet=fleet)
    finally:
        if server is not None:
            server[0].shutdown()
        store.close()
    raise typer.Exit(code)


def serve_metrics(loaded: Any, settings: Any, port: int) -> Any:
    """``/metrics`` of every audience the YAML declares at each scrape (it is re-read, as each run does)."""
    import logging

    from .. import metrics

    known = metrics.audience_accounts(loaded, settings)

    def audiences() -> list[tuple[str, str]]:
        nonlocal known
        try:
            from ..config import load_config

            known = metrics.audience_accounts(load_config(loaded.path), settings)
        except ConfigError:
            pass  # a YAML being edited: the audiences it last declared
        return known

    server = metrics.serve(port, settings, audiences)
    logging.getLogger("fbsync.metrics").info("metrics served on port %d at /metrics", server[0].server_port)
    return server


@command("fbsync sandbox", "fbsync sandbox --port 0 --data sandbox.db --error-rate 0.05 --slow-ms 100-500")
def sandbox(
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on (0: any free port).")] = 8765,
    data: Annotated[
        Path | None, typer.Option(metavar="FILE", help="File keeping the sandbox's audiences across restarts.")
    ] = None,
    error_rate: Annotated[float, typer.Option(metavar="R", help="Share of calls answered by an HTTP 500.")] = 0.0,
    throttle_rate: Annotated[
        float, typer.Option(metavar="R", help="Share of calls throttled (80003, 17, 4, 613).")
    ] = 0.0,
    drop_rate: Annotated[
        float, typer.Option(metavar="R", help="Share of connections dropped without an answer.")
    ] = 0.0,
    slow_ms: Annotated[str | None, typer.Option(metavar="MS", help="Delay before answering: 250 or 100-500.")] = None,
    token_expires_after: Annotated[
        int | None, typer.Option(metavar="N", help="The token expires (190/463) after this many calls.")
    ] = None,
    calls_per_minute: Annotated[
        int | None, typer.Option(metavar="N", help="Per-account budget per rolling minute (reads 1, writes 3).")
    ] = None,
    seed: Annotated[int | None, typer.Option(metavar="S", help="Seed of the random faults.")] = None,
    tier: Annotated[
        str | None, typer.Option(metavar="limited|full", help="Meta's access tier to simulate (rate limits).")
    ] = None,
    match_share: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=SHARE",
            help="Share of a key's values Meta knows (email, phone, madid, …, or all); all=1: every row matches.",
        ),
    ] = None,
    no_value_based_tos: Annotated[
        bool, typer.Option("--no-value-based-tos", help="The value-based audience terms are not accepted.")
    ] = False,
) -> None:
    """Serve the local Marketing API sandbox (no Meta account needed), optionally misbehaving like Meta."""
    import errno

    from ..config import load_dotenv_files
    from ..sandbox import config_from_options, serve
    from ..sandbox.config import match_shares
    from ..sandbox.faults import faults_from_options

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
        more: dict[str, Any] = {**match_shares(match_share or []), "tier": tier}
        if no_value_based_tos:
            more["value_based_tos"] = False
        config = config_from_options(**more) if any(v is not None for v in more.values()) else None
    except ValueError as exc:
        raise ConfigError(f"fbsync sandbox: {exc}") from None
    try:
        serve(
            host=host,
            port=port,
            data=str(data) if data else None,
            faults=faults if faults.active else None,
            config=config,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"Port {port} on {host} is already in use (another sandbox?); stop it, or pick "
                "another port with --port (0 picks a free one)."
            ) from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            raise ConfigError(
                f"Cannot listen on {host}:{port} ({exc.strerror}); use an address of this machine "
                "and a port above 1024."
            ) from None
        raise
