"""One run's events as one message (pure): a title and a text for chat and e-mail, and the webhook's JSON.

The webhook body is fbsync's own, versioned schema (docs/alerts.md, ``"schema": "fbsync.alert/1"``); the
signature is the HMAC-SHA256 of the exact body bytes under the webhook's secret, sent as
``X-Fbsync-Signature: sha256=<hex>``, so a receiver checks it before parsing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..results import RunResult
from .events import SEVERITIES, Event

SCHEMA = "fbsync.alert/1"
SIGNATURE_HEADER = "X-Fbsync-Signature"
_MARK = {"error": "✗", "warning": "⚠", "info": "✓"}
_HEADINGS = {"error": "Problems", "warning": "Warnings", "info": "Recovered"}


def title(run: RunResult, events: Sequence[Event], account: str | None) -> str:
    """``fbsync sync run 42 (act_123): 2 problems, 1 warning``"""
    n: Counter[str] = Counter(e.severity for e in events)
    parts = [
        f"{n[s]} {word}{'s' if n[s] != 1 else ''}"
        for s, word in (("error", "problem"), ("warning", "warning"), ("info", "recovery"))
        if n[s]
    ]
    parts = [p.replace("recoverys", "recoveries") for p in parts]
    where = f" ({account})" if account else ""
    return f"fbsync {run.command} run {run.run_id}{where}: " + ", ".join(parts)


def text(run: RunResult, events: Sequence[Event]) -> str:
    """The events grouped by severity, one line each, then how the run ended."""
    lines: list[str] = []
    for sev in SEVERITIES:
        group = [e for e in events if e.severity == sev]
        if not group:
            continue
        lines.append(f"{_HEADINGS[sev]}:")
        lines += [f"{_MARK[sev]} {_about(e)}" for e in group]
        lines.append("")
    ok = sum(1 for a in run.audiences if a.status == "ok")
    lines.append(
        f"Run {run.run_id} ({run.command}) ended {run.status}: {ok} of {len(run.audiences)} audience(s) ok, "
        f"exit code {run.exit_code if not run.error_code else run.error_code}. "
        "Details: fbsync status, fbsync history, fbsync report."
    )
    return "\n".join(lines)


def _about(e: Event) -> str:
    """``vip: message``, without naming the audience twice when the sentence already starts with it."""
    if not e.audience or e.message.startswith(f"{e.audience}:"):
        return e.message
    return f"{e.audience}: {e.message}"


def body(run: RunResult, events: Sequence[Event], *, account: str | None, host: str, now: datetime) -> dict[str, Any]:
    """The webhook's JSON (schema ``fbsync.alert/1``)."""
    return {
        "schema": SCHEMA,
        "sent_at": now.isoformat(timespec="seconds"),
        "title": title(run, events, account),
        "text": text(run, events),
        "run": {
            "id": run.run_id,
            "command": run.command,
            "status": run.status,
            "exit_code": run.error_code or run.exit_code,
            "account": account,
            "host": host,
            "audiences": len(run.audiences),
            "audiences_ok": sum(1 for a in run.audiences if a.status == "ok"),
        },
        "counts": {s: sum(1 for e in events if e.severity == s) for s in SEVERITIES},
        "events": [e.to_dict() for e in events],
    }


def encode(doc: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact UTF-8 JSON."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(data: bytes, secret: str) -> str:
    """``sha256=<hex>``: the HMAC-SHA256 of the body under the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def verify(data: bytes, secret: str, header: str) -> bool:
    """What a receiver does (constant-time compare); fbsync's tests use it, a receiver may copy it."""
    return hmac.compare_digest(sign(data, secret), header or "")
