"""The run log's "run finished" hook that alerts: gathers the facts around a recorded run (each audience's
previous status, the token's and the API version's days left), collects the events, and when there are
any sends one message per destination.  Nothing here may fail the run: every error is logged."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .. import redact
from ..results import RunResult
from ..settings import Settings
from ..state.store import StateStore
from .config import AlertsConfig, with_env
from .deliver import Delivery, send
from .events import Event, Facts, collect
from .payload import body, text, title

log = logging.getLogger(__name__)
#: How a Meta client is made for the token check (``fbsync.meta.factory.ClientFactory``); tests give theirs.
ClientMaker = Callable[[Settings, str], Any]


def alert_hook(
    cfg: AlertsConfig | None,
    settings: Settings,
    account: str | None,
    clients: ClientMaker | None = None,
    sent: list[list[Delivery]] | None = None,
) -> Callable[[RunResult], None] | None:
    """The hook for this config and environment, or None when no destination is set."""
    full = with_env(cfg)
    if not full.enabled:
        return None
    # Notification URLs hold tokens, the webhook its secret: never in a log line or a message.
    redact.register([*full.urls, full.webhook.secret if full.webhook else None])

    def hook(run: RunResult) -> None:
        events = run_events(run, full, settings, account, clients)
        if not events:
            return
        now = datetime.now(UTC)
        doc = body(run, events, account=account, host=socket.gethostname(), now=now)
        result = send(full, title(run, events, account), text(run, events), doc)
        if sent is not None:
            sent.append(result)

    return hook


def run_events(
    run: RunResult, cfg: AlertsConfig, settings: Settings, account: str | None, clients: ClientMaker | None
) -> list[Event]:
    return collect(run, facts(run, cfg, settings, account, clients), cfg)


def facts(
    run: RunResult, cfg: AlertsConfig, settings: Settings, account: str | None, clients: ClientMaker | None
) -> Facts:
    previous: dict[str, str] = {}
    previous_run = None
    try:
        store = StateStore.open(settings.state_dir, settings.state_url)
        try:
            for a in run.audiences:
                runs = [r for r in store.audience_runs(a.name, 3) if r.run_id != run.run_id]
                if runs:
                    previous[a.name] = runs[0].status
            earlier = [r for r in store.history(5) if r.id != run.run_id and r.command == run.command]
            previous_run = earlier[0].status if earlier else None
        finally:
            store.close()
    except Exception:
        log.warning("alerts: the run history could not be read; recoveries are not reported this time")
    version, vdays = _version_days(settings)
    return Facts(previous, previous_run, _token_days(settings, account, clients, cfg), version, vdays)


def _version_days(settings: Settings) -> tuple[str | None, int | None]:
    from ..meta import versions

    today = datetime.now(UTC).date()
    c = versions.choose(settings.api_version, today)
    return c.name, (c.known.days_left(today) if c.known is not None else None)


def _token_days(
    settings: Settings, account: str | None, clients: ClientMaker | None, cfg: AlertsConfig
) -> float | None:
    """Days before the token expires (Meta's debug_token), None when it never does or cannot be read."""
    if not settings.access_token or not account:
        return None
    try:
        if clients is None:
            from ..meta.factory import client_factory

            clients = client_factory(None)
        client = clients(settings, account)
        data = client.call("GET", "debug_token", params={"input_token": settings.access_token}).get("data") or {}
        exp = int(data.get("expires_at") or 0)
        return None if exp == 0 else (exp - time.time()) / 86400
    except Exception:
        log.info("alerts: the token's expiry could not be read (doctor checks it)")
        return None


def hooks_for(
    loaded: Any, settings: Settings, clients: ClientMaker | None = None
) -> tuple[Callable[[RunResult], None], ...]:
    """The run-finished hooks a config asks for (its alerts), for :class:`~fbsync.runlog.RunLog`."""
    account = settings.ad_account_id or loaded.config.ad_account_id
    hook = alert_hook(loaded.config.alerts, settings, account, clients)
    return (hook,) if hook is not None else ()
