"""RGPD commands: forget one person everywhere, purge one audience's local data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from . import ConfigOpt, command, flag, load, out


@command("fbsync forget --email jean.dupont@exemple.fr --yes", "fbsync forget --phone '+33 6 12 34 56 78'")
def forget(
    config: ConfigOpt = Path("audiences.yaml"),
    email: Annotated[
        list[str] | None, typer.Option("--email", metavar="EMAIL", help="The person's email (repeatable).")
    ] = None,
    phone: Annotated[
        list[str] | None, typer.Option("--phone", metavar="PHONE", help="The person's phone (repeatable).")
    ] = None,
    yes: Annotated[bool, flag("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove one person from every audience fbsync manages and keep them out of later syncs (RGPD)."""
    from ..api import forget_person
    from ..suppression import summarize

    loaded, settings = load(config)
    if not (email or phone):
        raise ConfigError("fbsync forget needs --email and/or --phone to say who to forget.")
    if sys.stdin.isatty() and not yes:
        typer.confirm(
            "Remove this person from every audience fbsync manages on Meta, and keep them out of every future sync?",
            abort=True,
        )
    rep = forget_person(loaded, email or [], phone or [], settings=settings)
    if rep.found:
        out(f"✓ Forgotten: {summarize(rep.removed)}; kept out of every future sync (audit: run {rep.run_id}).")
    else:
        out(
            f"✓ Not found in any audience fbsync manages; suppressed anyway, so no future sync will send "
            f"them (audit: run {rep.run_id})."
        )


@command("fbsync purge lapsed_customers --yes")
def purge(
    audience: Annotated[str, typer.Argument(metavar="NAME", help="The audience's name in audiences.yaml.")],
    config: ConfigOpt = Path("audiences.yaml"),
    yes: Annotated[bool, flag("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete fbsync's local data for one audience (its encrypted ledger and record); Meta is not touched."""
    from ..erasure import purge_audience

    loaded, settings = load(config)
    if sys.stdin.isatty() and not yes:
        typer.confirm(
            f"Delete fbsync's local data for {audience}? The next sync re-establishes it with one replace.", abort=True
        )
    n = purge_audience(loaded, settings, audience)
    out(f"✓ Purged {audience}: {n:,} ledger rows deleted; the run history keeps the counts (audit).")
