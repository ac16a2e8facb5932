"""The ``fbsync`` command line (contract: "Commands").

Thin: each command loads the config, calls one library function (:mod:`fbsync.api`) and renders its
result.  Errors are handled once, by :func:`handled`: fbsync's own errors become one sentence on stderr
(or a JSON object with ``--json``) and their exit code; an interrupt (Ctrl-C) exits 130; anything
unexpected is logged with its traceback to the log file only and reported as one sentence, exit 1.
Every message goes through :func:`fbsync.redact.scrub`.

The commands live in :mod:`.run` (validate, plan, sync, upload, hash), :mod:`.inspect` (status,
history, report, doctor), :mod:`.privacy` (forget, purge) and :mod:`.service` (schedule, sandbox).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from .. import __version__, logs, redact
from ..errors import ConfigError, FbsyncError
from ..settings import Settings
from ..state import folder

if TYPE_CHECKING:  # the config (pydantic, YAML…) is imported by the commands that read it, not by `hash`
    from ..config import LoadedConfig

log = logging.getLogger("fbsync.cli")


class _NoTypeNoise:
    """Flags (``--help``, ``--json``, typer's completion options…) are shown without a type in ``--help``."""

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""
        return params


class Command(_NoTypeNoise, TyperCommand):
    pass


class Group(_NoTypeNoise, TyperGroup):
    pass


app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Keep Meta custom audiences in step with your CRM.",
    epilog="Exit codes: 0 done; 1 an audience failed; 2 bad input or configuration; 3 authentication, "
    "permission or terms; 130 interrupted. Docs: README.md.",
)


def flag(*names: str, help: str) -> Any:
    """A boolean flag shown without a type in ``--help``."""
    return typer.Option(*names, help=help, metavar="")


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: one example per line."""
    return "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  {line}" for line in lines)


ConfigOpt = Annotated[Path, typer.Option("-c", "--config", metavar="FILE", help="Path of audiences.yaml.")]
JsonOpt = Annotated[bool, flag("--json", help="Machine-readable JSON on stdout (errors too).")]
Names = Annotated[list[str] | None, typer.Argument(metavar="NAME", help="Audience names (default: all).")]
VerboseOpt = Annotated[bool, flag("-v", "--verbose", help="Show progress and retries on stderr.")]
DelimiterOpt = Annotated[
    str | None, typer.Option("--delimiter", metavar="CHAR", help=", ; tab or | (default: sniffed from the file).")
]
EncodingOpt = Annotated[
    str | None,
    typer.Option("--encoding", metavar="NAME", help="utf-8, cp1252, latin-1, utf-16… (default: UTF-8, else cp1252)."),
]
LogFormatOpt = Annotated[str, typer.Option("--log-format", metavar="text|json", help="Log lines as text or JSON.")]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fbsync {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, metavar="", help="Print the version.")
    ] = False,
) -> None:
    """Keep Meta custom audiences in step with your CRM."""


def load(config: Path, verbose: bool = False, log_format: str = "text") -> tuple[LoadedConfig, Settings]:
    """The config, the settings, and logging set up (console and the state folder's log file)."""
    from ..config import load_config

    loaded = load_config(config)
    settings = Settings.from_env(loaded.path)
    redact.register(settings.secrets())
    folder.prepare(settings.state_dir)
    logs.setup(settings.secrets(), verbose=verbose, log_format=log_format, state_dir=settings.state_dir)
    return loaded, settings


def err(msg: str) -> None:
    """One line on stderr, through the redaction path."""
    typer.echo(redact.scrub(msg), err=True)


def out(text: str) -> None:
    """Text on stdout, through the redaction path."""
    typer.echo(redact.scrub(text))


def out_json(data: Any) -> None:
    out(json.dumps(data, ensure_ascii=False, indent=2, default=str))


F = TypeVar("F", bound=Callable[..., Any])


def handled(fn: F) -> F:
    """Turn every failure into one sentence on stderr (a JSON object on stdout with ``--json``) and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            logs.setup([])  # console logging for every command (load() adds the log file and the secrets)
            return fn(*args, **kwargs)
        except FbsyncError as exc:
            fail(str(exc), exc.exit_code, as_json, getattr(exc, "problems", None))
        except KeyboardInterrupt:
            fail(
                "interrupted: what Meta acknowledged before is recorded; run the command again to go on.", 130, as_json
            )
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            log.error("unexpected error in fbsync %s", fn.__name__, exc_info=True)
            fail(
                f"fbsync stopped on an unexpected error ({type(exc).__name__}); the details are in the log file "
                "(fbsync.log in the state folder): please report it with that file.",
                1,
                as_json,
            )

    return wrapper  # type: ignore[return-value]


def fail(message: str, code: int, as_json: bool = False, problems: list[str] | None = None) -> None:
    """Report a failure as fbsync reports every failure, then exit with ``code``."""
    if as_json:
        body: dict[str, Any] = {"message": message, "exit_code": code}
        if problems and len(problems) > 1:
            body["problems"] = problems
        out_json({"error": body})
    else:
        err(f"✗ {message}")
    raise typer.Exit(code)


def command(*examples_: str, name: str | None = None) -> Callable[[F], F]:
    """Register a command with its examples, its flags' help without type noise, and the error handling."""

    def register(fn: F) -> F:
        decorated = handled(fn)
        app.command(name, cls=Command, epilog=examples(*examples_) if examples_ else None)(decorated)
        return decorated

    return register


def main() -> None:
    """Entry point (console script ``fbsync``)."""
    app()


# The commands register themselves on ``app``, in the order --help lists them.
# isort: off
from . import run  # noqa: E402, F401
from . import inspect  # noqa: E402, F401
from . import service  # noqa: E402, F401
from . import privacy  # noqa: E402, F401
# isort: on

__all__ = ["ConfigError", "app", "main"]
