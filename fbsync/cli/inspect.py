"""The commands that look without sending: status, history, report, doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..settings import Settings
from . import ConfigOpt, JsonOpt, command, load, out, out_json


@command("fbsync status", "fbsync status --json")
def status(config: ConfigOpt = Path("audiences.yaml"), as_json: JsonOpt = False) -> None:
    """Per audience: Meta id, size bounds, delivery status, last sync and its result."""
    from ..render.text import render_status
    from ..status import collect_status

    loaded, settings = load(config)
    rows = collect_status(loaded, settings)
    if as_json:
        out_json(rows)
    else:
        out(render_status(rows))


@command("fbsync history", "fbsync history --limit 5 --json")
def history(
    config: ConfigOpt = Path("audiences.yaml"),
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="How many runs.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Past runs with their counts and outcome."""
    from ..render.text import render_history
    from ..state.store import StateStore

    _, settings = load(config)
    store = StateStore.open(settings.state_dir, settings.state_url)
    try:
        runs = store.history(limit)
    finally:
        store.close()
    if as_json:
        out_json([r.to_dict() for r in runs])
    else:
        out(render_history(runs))


@command("fbsync report", "fbsync report -o /srv/www/fbsync.html --limit 50")
def report(
    config: ConfigOpt = Path("audiences.yaml"),
    output: Annotated[Path, typer.Option("-o", "--output", metavar="OUT", help="HTML file to write.")] = Path(
        "report.html"
    ),
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="How many runs.")] = 200,
) -> None:
    """Write the run history as one static HTML page (sizes over time, rows sent, drop reasons, match rate)."""
    from ..render.html import write_report
    from ..state.store import StateStore

    loaded, settings = load(config)
    store = StateStore.open(settings.state_dir, settings.state_url)
    try:
        path = write_report(
            store,
            output,
            limit=limit,
            account=None
            if several_accounts(loaded, settings)
            else settings.ad_account_id or loaded.config.ad_account_id,
            timezone=loaded.config.defaults.timezone,  # dates in the user's zone, as the schedule uses
        )
    finally:
        store.close()
    out(f"✓ wrote {path} (open it in any browser; it needs no network)")


@command("fbsync doctor", "fbsync doctor -c clients/acme.yaml --json")
def doctor(config: ConfigOpt = Path("audiences.yaml"), as_json: JsonOpt = False) -> None:
    """Check the token, its expiry, permissions, the ad account, the Custom Audience terms and local hashing."""
    from .. import redact
    from ..doctor import run_checks
    from ..meta.factory import client_factory

    if config.is_file():
        from ..accounts import all_accounts, home_account

        loaded, settings = load(config)
        every = all_accounts(loaded.config, home_account(loaded.config, settings.ad_account_id))
        account: str | list[str] = every or settings.account(None)
        api = loaded.config.api
    else:
        from ..config import load_dotenv_files

        load_dotenv_files(None)
        settings = Settings.from_env(None)
        redact.register(settings.secrets())
        account, api = settings.account(None), None
    checks = run_checks(settings, account, clients=client_factory(api))
    failed = [c for c in checks if not c.ok and c.blocking]
    if as_json:
        out_json({"ok": not failed, "checks": [c.to_dict() for c in checks]})
    else:
        for c in checks:
            out(c.line())
    raise typer.Exit(3 if failed else 0)


def several_accounts(loaded: Any, settings: Any) -> bool:
    """Whether the file syncs to more than one ad account (the report then lists those it recorded)."""
    from ..accounts import all_accounts, home_account

    return len(all_accounts(loaded.config, home_account(loaded.config, settings.ad_account_id))) > 1
