"""``fbsync status``: what fbsync remembers of each audience, and what Meta says of it now."""

from __future__ import annotations

from typing import Any

from .config import LoadedConfig
from .errors import MetaApiError
from .meta.client import MetaClient
from .settings import Settings
from .state import StateStore


def collect_status(loaded: LoadedConfig, settings: Settings) -> list[dict[str, Any]]:
    """One row per declared audience; Meta is read only when a token is set."""
    store = StateStore.open(settings.state_dir, settings.state_url)
    client = None
    if settings.access_token:
        client = MetaClient(settings, settings.account(loaded.config.ad_account_id))
    rows = []
    for a in loaded.config.audiences:
        rec = store.audience(a.name) or {}
        last = store.last_audience_run(a.name) or {}
        row: dict[str, Any] = {"name": a.name, "meta_id": rec.get("meta_id"),
                               "ledger_rows": store.ledger_count(a.name),
                               "last_sync": str(last.get("finished_at") or last.get("started_at") or "") or None,
                               "last_result": last.get("status"), "last_message": last.get("message"),
                               "size": None, "size_lower": None, "size_upper": None, "delivery": None}
        if client and rec.get("meta_id"):
            try:
                info = client.audience(rec["meta_id"])
            except MetaApiError as exc:
                row["delivery"] = f"unreadable: {exc}"
                info = None
            if info is None and not row["delivery"]:
                row["delivery"] = "deleted on Meta"
            elif info:
                lo, hi = info.get("approximate_count_lower_bound"), info.get("approximate_count_upper_bound")
                row.update(size_lower=lo, size_upper=hi,
                           size=f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}" if lo is not None else None,
                           delivery=(info.get("delivery_status") or {}).get("description"))
        rows.append(row)
    store.engine.dispose()
    return rows
