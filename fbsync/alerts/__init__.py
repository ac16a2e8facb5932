"""Alerts: one grouped message per run to chat, e-mail or a signed webhook, for the runs nobody watches.

* :mod:`.config` — the ``alerts:`` block (and ``FBSYNC_ALERT_*`` variables);
* :mod:`.events` — pure: a run's result and the facts around it → the events worth a message;
* :mod:`.payload` — pure: the events → one message (title, text) and the webhook's JSON (schema version 1);
* :mod:`.deliver` — IO: Apprise for notification URLs, an HMAC-signed POST for the webhook; a failing
  destination is logged and never fails the run;
* :mod:`.hook` — the run log's "run finished" hook that ties them together, so ``sync``, ``upload``,
  ``forget``, ``purge`` and ``schedule`` alert alike (docs/alerts.md).
"""
