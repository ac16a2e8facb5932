"""``fbsync status``: what fbsync remembers of each audience, and what Meta says of it now."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import accounts, integrity
from .config import LoadedConfig
from .errors import AuthError, MetaApiError
from .meta.factory import ClientFactory, client_factory
from .results import match_range
from .settings import Settings
from .state.records import AudienceRunRecord
from .state.store import StateStore
from .util import as_int

#: Runs of an audience the match-rate trend looks back over.
TREND_RUNS = 8
#: A change of the match rate smaller than this (2 points) is "steady".
TREND_STEP = 0.02


def collect_status(
    loaded: LoadedConfig, settings: Settings, clients: ClientFactory | None = None
) -> list[dict[str, Any]]:
    """One row per declared audience; Meta is read only when a token is set."""
    home = accounts.home_account(loaded.config, settings.ad_account_id)
    todo = accounts.units(loaded.config, loaded.config.audiences, home)
    make = clients or client_factory(loaded.config.api)
    made: dict[str, Any] = {}

    def client_of(account: str) -> Any:
        if account not in made:
            made[account] = make(settings, account)
        return made[account]

    store = StateStore.open(settings.state_dir, settings.state_url)
    rows = []
    try:
        for u in todo:
            client = client_of(u.account) if settings.access_token else None
            rec = store.audience(u.slot)
            history = store.audience_runs(u.slot, TREND_RUNS)
            last = history[0] if history else None
            when = (last.finished_at or last.started_at) if last else None
            row: dict[str, Any] = {
                "name": u.name,
                "account": u.account,
                "slot": u.slot,
                "meta_id": rec.meta_id if rec else None,
                "ledger_rows": store.ledger_count(u.slot),
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
            row.update(match(history, row["size_lower"], row["size_upper"], row["ledger_rows"]))
            rows.append(row)
    finally:
        store.close()
    return rows


def match(
    history: Sequence[AudienceRunRecord], lower: int | None, upper: int | None, ledger_rows: int
) -> dict[str, Any]:
    """The match-rate insight of one audience (pure): Meta's size now over the people last sent, its trend
    over the latest runs, the share of rows carrying each key and the key that adds the most matches.

    ``history`` is newest first.  The denominator is the people the last successful run sent (a customer
    with several identifiers counted once), or the rows fbsync holds as sent when no run recorded it."""
    ok = [r for r in history if r.status == "ok" and isinstance(r.details, dict)]
    measured = next((r for r in ok if r.details.get("keys")), None)
    people = as_int(measured.details.get("people")) if measured else None
    rate = match_range(lower, upper, people or ledger_rows)
    points: list[dict[str, Any]] = []
    rates: list[float] = []
    for r in reversed(ok):
        bounds = r.details.get("match_rate")
        if isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(x, (int, float)) for x in bounds):
            when = r.finished_at or r.started_at
            rates.append(_mid(bounds))
            points.append({"run_id": r.run_id, "at": when.isoformat() if when else None, "rate": rates[-1]})
    now = _mid(rate) if rate else None
    rates += [now] if now is not None else []
    trend = None
    if len(rates) >= 2:
        step = rates[-1] - rates[0]
        trend = "up" if step >= TREND_STEP else "down" if step <= -TREND_STEP else "steady"
    keys = measured.details.get("keys") if measured else None
    keys = {str(k): v for k, v in keys.items() if isinstance(v, dict)} if isinstance(keys, dict) else {}
    best = max(keys, key=lambda k: (keys[k].get("alone", 0), keys[k].get("rows", 0))) if keys else None
    return {
        "match_rate": now,
        "match_range": [round(x, 4) for x in rate] if rate else None,
        "match_trend": trend,
        "match_history": points,
        "keys": keys,
        "best_key": best,
    }


def _mid(bounds: Sequence[float]) -> float:
    return round((bounds[0] + bounds[1]) / 2, 4)
