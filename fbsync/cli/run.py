"""The commands that read the CRM or a file and may send: validate, plan, sync, upload, hash."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import ConfigError
from ..results import RunResult
from ..signals import first_signal
from . import (
    ConfigOpt,
    DelimiterOpt,
    EncodingOpt,
    JsonOpt,
    LogFormatOpt,
    Names,
    VerboseOpt,
    command,
    err,
    flag,
    load,
    out,
    out_json,
)


@command("fbsync validate", "fbsync validate -c clients/acme.yaml --json")
def validate(config: ConfigOpt = Path("audiences.yaml"), as_json: JsonOpt = False) -> None:
    """Check the YAML and that every query runs and returns its mapped columns; sends nothing."""
    from ..api import validate as check

    loaded, settings = load(config)
    from ..integrity import warnings

    check(loaded, settings=settings)
    auds = loaded.config.audiences
    warned = warnings((a.name, a.display_name or a.name, a.description) for a in auds)
    if as_json:
        out_json({"valid": True, "file": str(loaded.path), "audiences": [a.name for a in auds], "warnings": warned})
    else:
        n = len(auds)
        out(f"✓ {loaded.path.name} is valid: {n} audience{'s' if n != 1 else ''}, every query returns its columns.")
        for w in warned:
            out(f"⚠ {w}")


@command("fbsync plan", "fbsync plan vip --json")
def plan(
    names: Names = None,
    config: ConfigOpt = Path("audiences.yaml"),
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Show what a sync would do per audience (create, update, +adds, -removes, replace, skip); sends nothing."""
    _sync(names or [], config, dry_run=True, as_json=as_json, verbose=verbose, command="plan")


@command("fbsync sync", "fbsync sync vip lapsed_customers", "fbsync sync vip --force", "fbsync sync --prune --json")
def sync(
    names: Names = None,
    config: ConfigOpt = Path("audiences.yaml"),
    dry_run: Annotated[bool, flag("--dry-run", help="Plan only; send nothing.")] = False,
    force: Annotated[bool, flag("--force", help="Allow a sync that shrinks an audience beyond max_shrink.")] = False,
    prune: Annotated[
        bool, flag("--prune", help="Delete the Meta audiences fbsync created for the YAML that it no longer declares.")
    ] = False,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    log_format: LogFormatOpt = "text",
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            metavar="PATH",
            help="After the run, write the metrics in Prometheus' textfile format (node-exporter; docs/metrics.md).",
        ),
    ] = None,
    summary_file: Annotated[
        Path | None,
        typer.Option(
            "--summary-file",
            metavar="PATH",
            help="After the run, write its result as JSON (schema fbsync.run/1; docs/summary.md).",
        ),
    ] = None,
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
        files=RunFiles(summary_file, metrics_file),
    )


def _sync(
    names: list[str],
    config: Path,
    *,
    dry_run: bool,
    as_json: bool,
    verbose: bool,
    command: str,
    force: bool = False,
    log_format: str = "text",
    prune: bool = False,
    files: RunFiles | None = None,
) -> None:
    from ..api import sync as run
    from ..render.progress import terminal_progress
    from ..runlog import hooked

    loaded, settings = load(config, verbose, log_format)
    files = files or RunFiles()
    files.check()  # a path that cannot be written is one sentence before anything is read or sent
    stop = threading.Event()
    recorded: list[RunResult] = []
    result: RunResult | None = None
    try:
        with (
            hooked(recorded.append),
            first_signal(lambda _sig: stop.set()) as signals,
            terminal_progress() as progress,
        ):
            result = run(
                loaded,
                names,
                settings=settings,
                dry_run=dry_run,
                force=force,
                prune=prune,
                stop=stop,
                progress=progress,
                command=command,
            )
    except BaseException as exc:
        files.write(recorded[-1] if recorded else failed_run(command, dry_run, exc), loaded, settings)
        raise
    files.write(result, loaded, settings)
    finish(result, as_json, signals)


def failed_run(command: str, dry_run: bool, exc: BaseException) -> RunResult:
    """The result of a run that stopped before the run log recorded it (a plan, a CRM that is down…)."""
    from ..runlog import error_of

    known = error_of(exc)  # empty for an interrupt
    return RunResult(
        command,
        None,
        (),
        dry_run,
        run_status="failed" if known else "interrupted",
        **(known or {"error": "the run was interrupted before it started", "error_code": 130}),
    )


class RunFiles:
    """``--summary-file`` (the run's JSON, 0600) and ``--metrics-file`` (textfile format, 0644), written
    atomically after the run, whatever its outcome: an orchestrator reads a failed run's summary too."""

    def __init__(self, summary: Path | None = None, metrics: Path | None = None) -> None:
        self.summary, self.metrics = summary, metrics

    def check(self) -> None:
        from ..outfile import open_out

        for path in (self.summary, self.metrics):
            if path is not None:
                open_out(path).discard()

    def write(self, result: RunResult, loaded: Any, settings: Any) -> None:
        import json

        from .. import redact
        from ..outfile import open_out

        if self.summary is not None:
            with open_out(self.summary, mode=0o600) as stream:
                stream.write(redact.scrub(json.dumps(result.to_dict(), ensure_ascii=False, indent=2)) + "\n")
        if self.metrics is not None:
            from .. import metrics

            body = metrics.text(settings, metrics.audience_accounts(loaded, settings))
            with open_out(self.metrics, mode=0o644) as stream:  # counts only; node-exporter must read it
                stream.write(body)


def finish(result: RunResult, as_json: bool, signals: list[int] | None = None) -> None:
    """Print a run's result (table or JSON), each failure's sentence, and exit with the run's code."""
    from ..render.text import render_run

    if as_json:
        out_json(result.to_dict())
    else:
        out(render_run(result))
        for a in result.audiences:
            if a.status in ("failed", "refused") and a.message:
                err(f"✗ {a.message}")
        if signals:
            err(
                f"✗ {signal.Signals(signals[0]).name} received: the batches in flight finished and are recorded; "
                "run the command again to send the rest."
            )
    raise typer.Exit(result.exit_code)


@command(
    "fbsync upload salon_2026.csv --audience salon_2026",
    "fbsync upload optins.csv --audience newsletter --map EMAIL=Courriel --map PHONE=Tel",
    "fbsync upload final.parquet --audience salon_2026 --mode replace --dry-run",
)
def upload(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="CSV, TSV or Parquet file.")],
    audience: Annotated[
        str, typer.Option("--audience", metavar="NAME", help="Audience name (of the YAML, or a new one).")
    ],
    mode: Annotated[str, typer.Option("--mode", metavar="add|remove|replace", help="What the file does.")] = "add",
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", metavar="KEY=column", help="Repeatable (default: columns named after Meta keys)."),
    ] = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    dry_run: Annotated[bool, flag("--dry-run", help="Show the counts only; send nothing.")] = False,
    force: Annotated[
        bool,
        flag("--force", help="Allow a replace or removal that shrinks the audience beyond max_shrink, or empties it."),
    ] = False,
    config: ConfigOpt = Path("audiences.yaml"),
    as_json: JsonOpt = False,
) -> None:
    """One-off upload of a customer file into an audience (created if missing)."""
    from ..api import upload_file
    from ..sources.files import parse_map

    loaded, settings = load(config)
    stop = threading.Event()
    with first_signal(lambda _sig: stop.set()) as signals:
        result = upload_file(
            loaded,
            file,
            audience,
            mode,
            parse_map(mapping) if mapping else None,
            settings=settings,
            dry_run=dry_run,
            force=force,
            stop=stop,
            delimiter=delimiter,
            encoding=encoding,
        )
    finish(result, as_json, signals)


@command(
    "fbsync hash clients.csv --map EMAIL=email --map PHONE=tel -o hashed.csv",
    "fbsync hash --key PHONE --default-country FR '06 12 34 56 78'",
    name="hash",
)
def hash_cmd(
    file: Annotated[str | None, typer.Argument(metavar="FILE", help="CSV, TSV or Parquet file to hash.")] = None,
    values: Annotated[
        list[str] | None, typer.Argument(metavar="VALUE", help="With --key: values to normalize and hash.")
    ] = None,
    mapping: Annotated[list[str] | None, typer.Option("--map", metavar="KEY=column", help="Repeatable.")] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="OUT", help="Output CSV (default stdout).")
    ] = None,
    delimiter: DelimiterOpt = None,
    encoding: EncodingOpt = None,
    key: Annotated[str | None, typer.Option("--key", metavar="KEY", help="Hash the VALUEs given as this key.")] = None,
    default_country: Annotated[
        str | None, typer.Option("--default-country", metavar="CC", help="Country of national phone numbers, e.g. FR.")
    ] = None,
) -> None:
    """Write a hashed customer file (Meta's columns) without calling the API, or explain single values (--key)."""
    from ..config_types import check_country
    from ..outfile import open_out
    from ..sources.files import hash_file, hash_values, parse_map

    if default_country:
        default_country = check_country(default_country)
    if key:
        vals = ([file] if file is not None else []) + list(values or [])
        if not vals:
            raise ConfigError("--key needs at least one VALUE, e.g. fbsync hash --key EMAIL ' Jean@Example.fr '.")
        for line in hash_values(key, vals, default_country):
            out_json_line(line)
        return
    if file is None:
        raise ConfigError("Give a FILE with --map KEY=column, or --key KEY VALUE….")
    if values:
        raise ConfigError(f"Unexpected argument {values[0]!r}; a file is hashed with --map, values with --key.")
    mapping_ = parse_map(mapping)
    with open_out(output) as stream:
        totals = hash_file(Path(file), mapping_, stream, default_country, delimiter=delimiter, encoding=encoding)
    err(
        f"{totals['rows_read']:,} rows read, {totals['rows_written']:,} written, "
        f"{totals['rows_dropped']:,} dropped (no usable identifier)"
        + (f", {totals['rows_malformed']:,} skipped as malformed" if totals.get("rows_malformed") else "")
        + "".join(f"; {k}: {n:,}" for k, n in sorted(totals["invalid"].items()))
    )


def out_json_line(data: object) -> None:
    """One JSON object per line (``hash --key``), not through the redaction path: the caller asked for hashes."""
    import json

    typer.echo(json.dumps(data, ensure_ascii=False))
