"""Sending one alert to every destination (IO).  A destination that fails is logged (its scheme only: the
rest of a notification URL often holds a token) and never fails the run."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .config import AlertsConfig, Webhook, _mask
from .payload import SIGNATURE_HEADER, encode, sign

log = logging.getLogger(__name__)
TIMEOUT = 10.0  # seconds per destination
ATTEMPTS = 2  # a webhook that times out or answers 5xx is tried once more


@dataclass(frozen=True)
class Delivery:
    """What happened at one destination (masked): for the log and the tests."""

    destination: str
    ok: bool
    detail: str = ""


def send(cfg: AlertsConfig, title: str, text: str, doc: dict[str, Any]) -> list[Delivery]:
    """Send the message to every notification URL and the webhook; never raises."""
    out = [_notify(url, title, text) for url in cfg.urls]
    if cfg.webhook is not None:
        out.append(_post(cfg.webhook, doc))
    for d in out:
        if d.ok:
            log.info("alert sent to %s", d.destination)
        else:
            log.warning("alert to %s failed (%s); the run itself is not affected", d.destination, d.detail)
    return out


def _notify(url: str, title: str, text: str) -> Delivery:
    where = _mask(url)
    try:
        import apprise

        logging.getLogger("apprise").setLevel(logging.CRITICAL)  # it would log the URL it failed on
        ap = apprise.Apprise()
        if not ap.add(url):
            return Delivery(where, False, "Apprise does not understand this URL")
        ok = ap.notify(title=title, body=text, body_format=apprise.NotifyFormat.TEXT)
        return Delivery(where, bool(ok), "" if ok else "the service refused it or did not answer")
    except Exception as exc:  # a destination never fails the run
        return Delivery(where, False, type(exc).__name__)


def _post(hook: Webhook, doc: dict[str, Any]) -> Delivery:
    import requests

    where = _mask(hook.url) + " (webhook)"
    data = encode(doc)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "fbsync-alerts/1"}
    if hook.secret:
        headers[SIGNATURE_HEADER] = sign(data, hook.secret)
    detail = ""
    for attempt in range(ATTEMPTS):
        try:
            r = requests.post(hook.url, data=data, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            detail = type(exc).__name__
        else:
            if r.status_code < 300:
                return Delivery(where, True)
            detail = f"HTTP {r.status_code}"
            if r.status_code < 500 and r.status_code != 429:
                break
        if attempt + 1 < ATTEMPTS:
            time.sleep(1.0)
    return Delivery(where, False, detail)


def destinations(cfg: AlertsConfig) -> Sequence[str]:
    """The destinations, masked, as ``doctor`` lists them."""
    return [_mask(u) for u in cfg.urls] + ([_mask(cfg.webhook.url) + " (webhook)"] if cfg.webhook else [])
