"""Prometheus metrics, read from the run history (one home for the numbers): ``schedule --metrics-port``
serves them over HTTP at every scrape, ``sync --metrics-file`` writes them in node-exporter's textfile
format after the run (docs/metrics.md).

Each audience's latest recorded run gives its gauges, so the endpoint and the file say the same thing,
and with a PostgreSQL state store any worker's endpoint shows every worker's runs.  :func:`families` is
pure (records in, metric families out); :class:`HistoryCollector` reads the store at each scrape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .accounts import home_account, split, units
from .errors import ConfigError
from .results import FAILED
from .settings import Settings
from .state.records import AudienceRunRecord
from .state.store import StateStore

STATUSES = ("ok", "failed", "refused", "skipped", "interrupted")


@dataclass(frozen=True)
class Snapshot:
    """What the history says of one audience: its latest run and its latest successful one."""

    audience: str
    account: str
    last: AudienceRunRecord | None
    last_ok: datetime | None


def _ts(d: datetime | None) -> float | None:
    if d is None:
        return None
    return (d if d.tzinfo else d.replace(tzinfo=UTC)).timestamp()


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def families(snapshots: Sequence[Snapshot]) -> list[Metric]:
    """The metric families of these audiences (pure).  Labels: ``account``, ``audience``."""
    lab = ["account", "audience"]
    g: dict[str, GaugeMetricFamily] = {}

    def gauge(name: str, doc: str, extra: Sequence[str] = (), unit: str = "") -> GaugeMetricFamily:
        if name not in g:
            g[name] = GaugeMetricFamily(f"fbsync_{name}", doc, labels=[*lab, *extra], unit=unit)
        return g[name]

    gauge("last_run_timestamp_seconds", "When the audience's latest run finished (unix time).")
    gauge("last_success_timestamp_seconds", "When the audience last synced successfully (unix time).")
    gauge("last_run_ok", "1 if the audience's latest run succeeded, 0 if it failed, was refused or interrupted.")
    gauge("last_run_status", "The latest run's outcome: 1 for the status it had, 0 for the others.", ["status"])
    gauge("rows_read", "Rows the latest run read from the CRM.")
    gauge("rows_dropped", "Rows the latest run left out (consent, suppression, exclusions, no usable key).")
    gauge("rows_sent", "Rows the latest run sent to Meta, by direction.", ["direction"])
    gauge("audience_size", "Meta's approximate audience size after the latest run, lower and upper bound.", ["bound"])
    gauge("match_rate", "Estimated match rate after the latest run (Meta's size over the people sent), 0 to 1.")
    gauge("run_duration_seconds", "How long the latest run of the audience took.")
    gauge("api_calls", "Marketing API calls the latest run made for the audience.")
    gauge("api_retries", "Calls the latest run retried for the audience (transient errors, throttling).")
    gauge("retry_wait_seconds", "Seconds the latest run's retries waited for the audience.")
    gauge("throttle_wait_seconds", "Seconds the latest run paced its calls to stay under Meta's usage limits.")
    gauge("meta_usage_percent", "Meta's usage of the ad account (highest of its headers) after the latest run.")
    for s in snapshots:
        labels = [s.account, s.audience]
        if s.last_ok is not None:
            g["last_success_timestamp_seconds"].add_metric(labels, _ts(s.last_ok) or 0.0)
        r = s.last
        if r is None:
            continue
        d = r.details if isinstance(r.details, dict) else {}
        when = _ts(r.finished_at or r.started_at)
        if when is not None:
            g["last_run_timestamp_seconds"].add_metric(labels, when)
        g["last_run_ok"].add_metric(labels, 0.0 if r.status in FAILED else 1.0)
        for st in STATUSES:
            g["last_run_status"].add_metric([*labels, st], 1.0 if r.status == st else 0.0)
        g["rows_read"].add_metric(labels, float(r.rows_read))
        g["rows_dropped"].add_metric(labels, float(r.rows_dropped))
        g["rows_sent"].add_metric([*labels, "added"], float(r.rows_added))
        g["rows_sent"].add_metric([*labels, "removed"], float(r.rows_removed))
        for bound, v in (("lower", r.size_lower), ("upper", r.size_upper)):
            if v is not None and v >= 0:
                g["audience_size"].add_metric([*labels, bound], float(v))
        rate = d.get("match_rate")
        if isinstance(rate, list) and len(rate) == 2 and all(_num(x) is not None for x in rate):
            g["match_rate"].add_metric(labels, (float(rate[0]) + float(rate[1])) / 2)
        if (sec := _num(d.get("seconds"))) is not None:
            g["run_duration_seconds"].add_metric(labels, sec)
        api_raw = d.get("api")
        api: dict[str, Any] = api_raw if isinstance(api_raw, dict) else {}
        for key, name in (
            ("calls", "api_calls"),
            ("retries", "api_retries"),
            ("retry_wait", "retry_wait_seconds"),
            ("throttle_wait", "throttle_wait_seconds"),
            ("usage", "meta_usage_percent"),
        ):
            if (x := _num(api.get(key))) is not None:
                g[name].add_metric(labels, x)
    return list(g.values())


def snapshots(store: StateStore, audiences: Iterable[tuple[str, str]]) -> list[Snapshot]:
    """Each (account, slot)'s latest run and latest success, from the store; labelled with the audience's
    name (a slot on another account, ``vip@act_…``, is ``vip`` with that account's label)."""
    out = []
    for account, where in audiences:
        runs = store.audience_runs(where, 50)
        ok = next((r for r in runs if r.status == "ok"), None)
        last_ok = (ok.finished_at or ok.started_at) if ok else None
        out.append(Snapshot(split(where)[0], account, runs[0] if runs else None, last_ok))
    return out


Audiences = Sequence[tuple[str, str]] | Callable[[], Sequence[tuple[str, str]]]


class HistoryCollector(Collector):
    """Reads the state store at each scrape: what every worker sharing it recorded.  ``audiences`` is
    the (account, audience) list, or a function giving it (the scheduler re-reads the YAML)."""

    def __init__(self, settings: Settings, audiences: Audiences) -> None:
        self.settings, self.audiences = settings, audiences

    def collect(self) -> Iterator[Metric]:
        names = self.audiences() if callable(self.audiences) else self.audiences
        store = StateStore.open(self.settings.state_dir, self.settings.state_url)
        try:
            found = families(snapshots(store, names))
        finally:
            store.close()
        yield from found


def registry(settings: Settings, audiences: Audiences) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(HistoryCollector(settings, audiences))
    return reg


def text(settings: Settings, audiences: Audiences) -> str:
    """The metrics in Prometheus' text format (node-exporter's textfile collector reads the same)."""
    from prometheus_client import generate_latest

    return generate_latest(registry(settings, audiences)).decode("utf-8")


def serve(port: int, settings: Settings, audiences: Audiences, addr: str = "0.0.0.0") -> Any:
    """Serve ``/metrics`` on ``addr:port`` in a background thread; returns (server, thread).  A port in
    use or not ours to take is one sentence (:class:`ConfigError`)."""
    import errno

    from prometheus_client import start_http_server

    try:
        return start_http_server(port, addr=addr, registry=registry(settings, audiences))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"Port {port} is already in use, so the metrics cannot be served there; "
                "pick another with --metrics-port."
            ) from None
        raise ConfigError(
            f"Cannot serve the metrics on {addr}:{port} ({exc.strerror or exc}); "
            "pick a port above 1024 with --metrics-port."
        ) from None


def audience_accounts(loaded: Any, settings: Settings) -> list[tuple[str, str]]:
    """(account, slot) for every audience of the file on each of its ad accounts."""
    home = home_account(loaded.config, settings.ad_account_id)
    return [(u.account, u.slot) for u in units(loaded.config, loaded.config.audiences, home)]
