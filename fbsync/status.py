"""``fbsync status``: what fbsync remembers of each audience, and what Meta says of it now."""

from __future__ import annotations

from typing import Any

from . import integrity
from .config import LoadedConfig
from .errors import AuthError, MetaApiError
from .meta.factory import ClientFactory, client_factory
from .settings import Settings
from .state.store import StateStore


def collect_status(
    loaded: LoadedConfig, settings: Settings, clients: ClientFactory | None = None
) -> list[dict[str, Any]]:
    """One row per declared audience; Meta is read only when a token is set."""
    store = StateStore.open(settings.state_dir, settings.state_url)
    client = None
    if settings.access_token:
        client = (clients or client_factory(loaded.config.api))(settings, settings.account(loaded.config.ad_account_id))
    rows = []
    try:
        for a in loaded.config.audiences:
            rec = store.audience(a.name)
            last = store.last_audience_run(a.name)
            when = (last.finished_at or last.started_at) if last else None
            row: dict[str, Any] = {
                "name": a.name,
                "meta_id": rec.meta_id if rec else None,
                "ledger_rows": store.ledger_count(a.name),
                "last_sync": str(when) if when else None,
                "last_result": last.status if last else None,
                "last_message": last.message if last else None,
                "size": None,
                "operation_status": None,
                "operation": None,
                "size_lower": None,
                "size_upper": None,
                "delivery": None,
            }
            if client and rec is not None and rec.meta_id:
                try:
                    info = client.audience(rec.meta_id)
                except AuthError:
                    raise  # an expired or refused token: exit 3, as every command says it
                except MetaApiError as exc:
                    row["delivery"] = f"unreadable: {exc}"
                    info = None
                if info is None and not row["delivery"]:
                    row["delivery"] = "deleted on Meta"
                elif info:
                    lo, hi = info.get("approximate_count_lower_bound"), info.get("approximate_count_upper_bound")
                    code, sentence = integrity.operation(info)
                    row.update(operation_status=code, operation=sentence)
                    row.update(
                        size_lower=lo,
                        size_upper=hi,
                        size=f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}" if lo is not None else None,
                        delivery=(info.get("delivery_status") or {}).get("description"),
                    )
            rows.append(row)
    finally:
        store.close()
    return rows
