"""Meta's audience sharing edge (docs/meta-api.md §1.8, "Sharing"): who an audience is shared with, share
it with more ad accounts, unshare it.  Through :meth:`MetaClient.call`, so retries, pacing and Meta's
errors are handled as for every other call."""

from __future__ import annotations

import json
from collections.abc import Iterable

from .client import MetaClient


def _act(account_id: str) -> str:
    return account_id if account_id.startswith("act_") else f"act_{account_id}"


def shared_with(client: MetaClient, audience_id: str) -> set[str]:
    """Every ad account the audience is shared with or owned by (``act_…``), following pages."""
    out: set[str] = set()
    page = client.call("GET", audience_id, "adaccounts", params={"limit": 500})
    while True:
        out |= {_act(str(x.get("id"))) for x in (page or {}).get("data") or [] if x.get("id")}
        after = ((page or {}).get("paging") or {}).get("cursors", {}).get("after")
        if not after or not (page or {}).get("paging", {}).get("next"):
            return out
        page = client.call("GET", audience_id, "adaccounts", params={"limit": 500, "after": after})


def _ids(accounts: Iterable[str]) -> str:
    return json.dumps([a.removeprefix("act_") for a in accounts])


def share(client: MetaClient, audience_id: str, accounts: Iterable[str]) -> None:
    """Share with these ad accounts, for targeting and insights (Meta's default); others stay as they are."""
    client.call("POST", audience_id, "adaccounts", params={"adaccounts": _ids(accounts)})


def unshare(client: MetaClient, audience_id: str, accounts: Iterable[str]) -> None:
    """Stop sharing with these ad accounts: their ads that use the audience stop."""
    client.call("DELETE", audience_id, "adaccounts", params={"adaccounts": _ids(accounts)}, body=True)
