"""Test-only admin endpoints under ``/__sandbox/`` (no auth; not part of Meta's API).

* ``GET  /__sandbox/audiences`` — every live audience: account, name, subtype, member count, schema.
* ``GET  /__sandbox/audiences/{id}/members`` — ``{"schema": [...], "rows": [[...], ...]}``, rows sorted.
* ``GET  /__sandbox/requests`` — ``{"total": N, "by_endpoint": {"POST /users": n, ...}}``.
* ``POST /__sandbox/reset`` — forget everything.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import Response, SandboxApp


def handle(app: SandboxApp, method: str, path: str, query: str) -> Response:
    """Route one admin call."""
    parts = [p for p in path.split("/") if p][1:]
    if method == "GET" and parts == ["audiences"]:
        return _ok({"data": audiences(app)})
    if method == "GET" and len(parts) == 3 and parts[0] == "audiences" and parts[2] == "members":
        if not parts[1].isdigit() or app.store.get_audience(int(parts[1])) is None:
            return _reply(404, {"error": f"no audience {parts[1]}"})
        return _ok(app.members(parts[1]))
    if method == "GET" and parts == ["requests"]:
        return _ok(app.request_count())
    if method == "POST" and parts == ["reset"]:
        app.store.reset()
        return _ok({"success": True})
    return _reply(404, {"error": f"unknown admin endpoint {method} {path}"})


def audiences(app: SandboxApp) -> list[dict[str, Any]]:
    """Summary of every live audience (oldest first)."""
    out = []
    for aud in reversed(app.store.list_audiences()):
        out.append({
            "id": str(aud.id),
            "account_id": aud.account_id,
            "name": aud.data.get("name"),
            "subtype": aud.subtype,
            "member_count": aud.member_count,
            "kind": aud.kind,
            "schema": aud.schema,
        })
    return out


def _ok(value: Any) -> Response:
    return _reply(200, value)


def _reply(status: int, value: Any) -> Response:
    return status, {"Content-Type": "application/json; charset=UTF-8"}, json.dumps(value).encode()
