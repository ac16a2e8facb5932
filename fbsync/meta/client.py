"""Typed Marketing API calls for customer-list audiences, through the facebook-business SDK.

The SDK provides the session (token and ``appsecret_proof`` on every call),
JSON encoding of parameters, and the error object; fbsync adds what it lacks
(docs/meta-api.md §7): removals in the request body instead of the URL,
retries of transient errors with backoff, and errors that never carry the
request (token in the URL, hashes in the body).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from facebook_business.api import FacebookAdsApi, FacebookSession, _top_level_param_json_encode
from facebook_business.exceptions import FacebookRequestError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from ..errors import AudienceError, ConfigError, MetaApiError, MetaUnreachable
from ..identity.attributes import ATTRIBUTE_KEYS, to_meta
from ..settings import Settings
from ..values import VALUE
from ..values import to_meta as value_to_meta
from . import versions
from .errors import THROTTLE_CODES, classify
from .governor import Governor, Usage
from .session import Session

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_ROWS_PER_CALL = 10_000
CONNECT_TIMEOUT_S = 10.0  # to open a connection to Meta (bounded further by api.max_wait_per_call_seconds)
READ_TIMEOUT_S = 120.0  # to wait for an answer
AUDIENCE_FIELDS = (
    "id",
    "name",
    "description",
    "subtype",
    "customer_file_source",
    "approximate_count_lower_bound",
    "approximate_count_upper_bound",
    "delivery_status",
    "operation_status",
    "fields_violating_integrity_policy",
    "time_updated",
    "data_source",
    "is_value_based",
)


@dataclass
class RetryPolicy:
    """How transient errors are retried (exponential backoff with full jitter)."""

    attempts: int = 6
    initial: float = 1.0
    maximum: float = 60.0
    total: float = 900.0  # give up on one call after this many seconds of waiting
    per_audience: float = 1800.0  # and on an audience once its retries have waited this long in all
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        regain = getattr(exc, "regain_seconds", None)
        if regain:  # Meta says when the account may call again: wait that long, once (never retry into a block)
            return float(regain)
        return random.uniform(0, min(self.maximum, self.initial * 2 ** (state.attempt_number - 1)))


class stop_when(stop_base):
    """A tenacity stop condition from a plain predicate, so it combines with ``|`` (which takes stop_base)."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


class MetaClient:
    """One ad account on the Marketing API (or on anything speaking it: ``FBSYNC_GRAPH_URL``)."""

    def __init__(
        self, settings: Settings, account_id: str, retry: RetryPolicy | None = None, governor: Governor | None = None
    ) -> None:
        token = settings.require_token()
        self.retry = retry or RetryPolicy()
        # Every call is bounded by the per-call budget too: a server that accepts the connection and never
        # answers (a stuck proxy) costs at most that long, not 120 s per try.
        budget = self.retry.total
        session = FacebookSession(
            app_id=settings.app_id,
            app_secret=settings.app_secret,
            access_token=token,
            timeout=(min(CONNECT_TIMEOUT_S, budget), min(READ_TIMEOUT_S, budget)),
        )
        session.GRAPH = settings.graph_url  # instance attribute: never changes other sessions
        self.version = versions.choose(settings.api_version, datetime.now(UTC).date())
        if self.version.warning:
            log.warning("%s", self.version.warning)
        self.api = FacebookAdsApi(session, api_version=self.version.name)
        self.api_version = self.api._api_version
        self.upgrade_warning: str | None = None  # Meta's X-Ad-Api-Version-Warning, when it auto-upgraded a call
        self.served_version: str | None = None  # the facebook-api-version header of the latest answer
        self.account_id = account_id
        self.governor = governor or Governor(sleep=self.retry.sleep)
        self.calls = 0
        self.retries = 0
        self.waited = 0.0  # seconds the current audience's retries have waited
        self._count = threading.Lock()  # member batches may be sent from several threads (the applier's window)
        self._members_now = 0
        self.in_flight = 0  # the most member batches this audience had in flight at once
        if self.governor.cap > 8:  # one pooled connection per batch in flight and spares (requests keeps 10)
            for scheme in ("https://", "http://"):
                session.requests.mount(scheme, requests.adapters.HTTPAdapter(pool_maxsize=self.governor.cap + 2))
        self.unreachable: MetaUnreachable | None = None  # set once a call gave up on the network: stop trying

    def start_audience(self) -> None:
        """Reset the per-audience retry budget (the quota governor stays shared by the whole run)."""
        self.waited = 0.0
        self.in_flight = 0

    @contextmanager
    def _member_call(self) -> Iterator[None]:
        """Count a member batch in flight (the run report's ``in_flight``)."""
        with self._count:
            self._members_now += 1
            self.in_flight = max(self.in_flight, self._members_now)
        try:
            yield
        finally:
            with self._count:
                self._members_now -= 1

    # ------------------------------------------------------------------ transport
    def _once(self, method: str, path: Sequence[str], params: Mapping[str, Any], body: bool) -> dict[str, Any]:
        if self.unreachable is not None:
            raise self.unreachable
        self.governor.before_call()
        with self._count:
            self.calls += 1
        what = f"{method} {path[-1] if len(path) > 1 else 'object'}"
        try:
            if body and method == "DELETE":
                url = "/".join((self.api._session.GRAPH, self.api_version, *map(str, path)))
                resp = self.api._session.requests.request(
                    "DELETE",
                    url,
                    data=_top_level_param_json_encode(dict(params)),
                    headers=dict(FacebookAdsApi.HTTP_DEFAULT_HEADERS),
                    timeout=self.api._session.timeout,
                )
                self._observe(resp.headers)
                if resp.status_code >= 400 or not resp.text:
                    raise classify(resp.status_code, resp.text, resp.headers, what)
                return _json(resp.text)
            fb = self.api.call(method, tuple(path), params=dict(params))
            self._observe(fb.headers())
            body_json = fb.json()
            # The SDK takes any non-JSON body for a success, even an HTML error page with HTTP 502.
            if fb.status() >= 400 or not isinstance(body_json, (dict, list)):
                raise classify(fb.status(), fb.body(), fb.headers(), what)
            return body_json if isinstance(body_json, dict) else {"data": body_json}
        except FacebookRequestError as exc:
            self._observe(exc.http_headers())
            raise classify(exc.http_status(), exc.body(), exc.http_headers(), what) from None
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise ConfigError(
                f"{self.api._session.GRAPH} is not a URL fbsync can call; set FBSYNC_GRAPH_URL to an http(s) URL "
                "such as https://graph.facebook.com, or unset it."
            ) from None
        except requests.RequestException as exc:
            raise MetaUnreachable(
                f"{what} failed: {type(exc).__name__} talking to {self.api._session.GRAPH} "
                "(network problem or timeout).",
                transient=True,
            ) from None

    def _observe(self, headers: Mapping[str, str] | None) -> None:
        """Usage headers to the governor; Meta's version headers kept (and an auto-upgrade said once)."""
        self.governor.observe(headers)
        h = {k.lower(): v for k, v in (headers or {}).items()}
        self.served_version = h.get("facebook-api-version") or self.served_version
        warning = h.get("x-ad-api-version-warning")
        if warning and warning != self.upgrade_warning:
            self.upgrade_warning = warning
            log.warning("Meta auto-upgraded a call (%s); set FBSYNC_API_VERSION to a live version.", warning)

    def _retrying(self, method: str, path: Sequence[str], *, halvable: bool = False) -> Retrying:
        """The retry policy of one call; ``halvable`` batches that Meta finds too big are not retried unchanged
        (the applier sends them again in halves)."""
        p = self.retry

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            with self._count:
                self.retries += 1
                self.waited += state.upcoming_sleep
            if getattr(exc, "code", None) in THROTTLE_CODES:
                self.governor.throttled()
            if getattr(exc, "regain_seconds", None):
                self.governor.usage = Usage()  # this wait is Meta's own regain time: no pacing on top
            log.warning(
                "retrying %s %s in %.1fs (attempt %d/%d): %s",
                method,
                path[-1],
                state.upcoming_sleep,
                state.attempt_number,
                p.attempts,
                exc,
            )

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            seconds = p.wait(state)
            if getattr(exc, "code", None) in THROTTLE_CODES and not getattr(exc, "regain_seconds", None):
                # Blocked without Meta saying for how long: wait the tier's block once (retrying into a block
                # extends it), 300 s when the tier is not known.
                seconds = max(seconds, self.governor.block_seconds())
            return max(0.0, min(seconds, p.per_audience - self.waited))

        def over_call_budget(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            waited = state.seconds_since_start or 0.0
            return waited >= p.total and not getattr(exc, "regain_seconds", None)

        def budget_spent(state: RetryCallState) -> bool:
            if self.waited >= p.per_audience:
                log.warning(
                    "giving up %s %s: this audience's retries already waited %.0fs (api.max_wait_per_audience_seconds)",
                    method,
                    path[-1],
                    self.waited,
                )
                return True
            return False

        return Retrying(
            retry=retry_if_exception(
                lambda e: isinstance(e, MetaApiError) and e.transient and not (halvable and e.too_big)
            ),
            # A throttle with Meta's regain time is not "waiting too long on one call": it is bounded by the
            # audience's budget only (80003 on the hourly quota must wait, not fail the run).
            stop=stop_after_attempt(p.attempts) | stop_when(over_call_budget) | stop_when(budget_spent),
            wait=wait,
            sleep=p.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )

    def call(self, method: str, *path: str, params: Mapping[str, Any] | None = None, body: bool = False) -> Any:
        """One Graph call, transient failures retried under the retry policy (uploads are idempotent)."""
        return self._guarded(self._retrying(method, path), self._once, method, path, params or {}, body)

    def _guarded(self, retrying: Retrying, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` under ``retrying``; a call that gave up on the network opens the circuit: every later
        call of this client (the rest of the run, every audience) fails at once instead of waiting again."""
        try:
            return retrying(fn, *args)
        except MetaUnreachable as exc:
            if self.unreachable is None:
                self.unreachable = MetaUnreachable(
                    f"Meta's API at {self.api._session.GRAPH} did not answer within the api: budget "
                    f"({self.retry.attempts} tries, at most {self.retry.total:g} s per call); fbsync stopped "
                    "calling it for the rest of this run: check the network, a proxy, or FBSYNC_GRAPH_URL.",
                    transient=False,
                )
                log.error("%s (last error: %s)", self.unreachable, exc)
            raise self.unreachable from None

    # ------------------------------------------------------------------ reads
    def me(self) -> dict[str, Any]:
        return self.call("GET", "me", params={"fields": "id,name"})

    def account(self, fields: Sequence[str] = ("id", "name", "account_status", "tos_accepted")) -> dict[str, Any]:
        return self.call("GET", self.account_id, params={"fields": ",".join(fields)})

    def audiences(self, fields: Sequence[str] = AUDIENCE_FIELDS, name: str | None = None) -> Iterator[dict[str, Any]]:
        """Every custom audience of the account (all pages), optionally those with one exact name."""
        params: dict[str, Any] = {"fields": ",".join(fields), "limit": 20}
        if name is not None:
            params["filtering"] = [{"field": "name", "operator": "EQUAL", "value": name}]
        while True:
            page = self.call("GET", self.account_id, "customaudiences", params=params)
            for item in page.get("data") or []:
                if name is None or item.get("name") == name:
                    yield item
            after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
            if not (page.get("paging") or {}).get("next") or not after:
                return
            params["after"] = after

    def audience(self, audience_id: str, fields: Sequence[str] = AUDIENCE_FIELDS) -> dict[str, Any] | None:
        """An audience by id, or None when Meta says it does not exist (100/33)."""
        try:
            return self.call("GET", audience_id, params={"fields": ",".join(fields)})
        except MetaApiError as exc:
            if exc.code == 100 and exc.subcode == 33:
                return None
            raise

    # ------------------------------------------------------------------ writes
    def create_customer_list(
        self, name: str, description: str | None, source: str, *, value_based: bool = False
    ) -> str:
        """A customer list (value-based with ``is_value_based``, docs/meta-api.md §1.7), with
        ``enable_fetch_or_create`` (§1.1): if an audience of this name exists, Meta returns it instead of a
        second one; one of another kind (or value-based where a plain list is wanted, or the reverse) is
        refused here."""
        params: dict[str, Any] = {
            "name": name,
            "subtype": "CUSTOM",
            "customer_file_source": source,
            "enable_fetch_or_create": True,
            "fields": "id,subtype,is_value_based",
        }
        if value_based:
            params["is_value_based"] = 1
        if description:
            params["description"] = description
        made = self._create(name, params)
        if made.get("subtype") not in (None, "CUSTOM"):
            raise AudienceError(
                f"Meta already has an audience named {name!r} that is not a customer list "
                f"({made.get('subtype')}); give this audience another display_name."
            )
        if "is_value_based" in made and bool(made["is_value_based"]) != value_based:
            kind = "a value-based list" if made["is_value_based"] else "a plain customer list"
            raise AudienceError(
                f"Meta already has an audience named {name!r} that is {kind}; give this audience another "
                "display_name (a list cannot change kind on Meta)."
            )
        return str(made["id"])

    def create_lookalike(self, name: str, origin_id: str, spec: dict[str, Any]) -> str:
        """A lookalike of ``origin_id`` (docs/meta-api.md §1.7); ``lookalike_spec`` goes as a JSON string."""
        params = {
            "name": name,
            "subtype": "LOOKALIKE",
            "origin_audience_id": origin_id,
            "lookalike_spec": json.dumps(spec, separators=(",", ":"), sort_keys=True),
        }
        return str(self._create(name, params)["id"])

    def _create(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Create once: after a transient failure (the audience may exist anyway), look it up by name first."""
        failed = [False]

        def attempt() -> dict[str, Any]:
            if failed[0]:
                found = next(self.audiences(("id", "name", "subtype"), name=name), None)
                if found:
                    log.warning("audience %r was created by an attempt that timed out; using it", name)
                    return found
            try:
                return self._once("POST", (self.account_id, "customaudiences"), params, False)
            except MetaApiError as exc:
                failed[0] = failed[0] or exc.transient
                raise

        return self._guarded(self._retrying("POST", ("customaudiences",)), attempt)

    def ad_set(self, ad_set_id: str) -> dict[str, Any] | None:
        """An ad set's name and targeting, or None when Meta says it does not exist (100/33)."""
        try:
            return self.call(
                "GET", ad_set_id, params={"fields": "id,name,targeting,campaign{id,special_ad_categories}"}
            )
        except MetaApiError as exc:
            if exc.code == 100 and exc.subcode == 33:
                return None
            raise

    def update_targeting(self, ad_set_id: str, targeting: dict[str, Any]) -> None:
        """Meta replaces the whole targeting object: always send it complete."""
        self.call("POST", ad_set_id, params={"targeting": targeting})

    def update_audience(self, audience_id: str, **fields: Any) -> None:
        self.call("POST", audience_id, params=fields)

    def delete_audience(self, audience_id: str) -> None:
        self.call("DELETE", audience_id)

    def add_users(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]], session: Session, last: bool
    ) -> dict[str, Any]:
        """One batch of a /users add session."""
        return self._users_batch("POST", audience_id, schema, rows, session, last)

    def remove_users(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]], session: Session, last: bool
    ) -> dict[str, Any]:
        """One batch of a /users removal session, payload in the body (the SDK's URL breaks on long lists)."""
        return self._users_batch("DELETE", audience_id, schema, rows, session, last)

    def _users_batch(
        self,
        method: str,
        audience_id: str,
        schema: Sequence[str],
        rows: Sequence[Sequence[str]],
        session: Session,
        last: bool,
    ) -> dict[str, Any]:
        """Adds and removes are idempotent, so a failed batch is simply sent again, but never with a
        batch_seq Meta may already have (the lost answer may hide a batch that arrived): a retry goes in a
        fresh single-batch session and the main session carries on."""
        first = [True]

        def attempt() -> dict[str, Any]:
            sess = session.next(last) if first[0] else Session.new(len(rows)).next(True)
            first[0] = False
            return self._once(method, (audience_id, "users"), _users_params(schema, rows, sess), method == "DELETE")

        with self._member_call():
            return self._guarded(self._retrying(method, ("users",), halvable=True), attempt)

    def replace_users(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[Sequence[str]], session: Session, last: bool
    ) -> dict[str, Any]:
        """One batch of a /usersreplace session (docs/meta-api.md §1.6).

        A retry never repeats a batch_seq Meta may have received: it takes the session's next number.
        Two answers then tell what happened to the lost attempt: 1870147 (the session's first batch never
        arrived) means send it again as batch 1; 1870159 (already finished) after a retried last batch
        means that batch arrived and closed the session.
        """
        tried = [False]

        def attempt() -> dict[str, Any]:
            seq_before = session.batch_seq
            try:
                return self._once(
                    "POST", (audience_id, "usersreplace"), _users_params(schema, rows, session.next(last)), False
                )
            except MetaApiError as exc:
                if tried[0] and exc.code == 2650 and exc.subcode == 1870159 and last:
                    log.info("replace session %s was closed by the batch whose answer was lost", session.session_id)
                    return {"num_received": None, "num_invalid_entries": 0}
                if exc.code == 2650 and exc.subcode == 1870147 and seq_before >= 1:
                    session.batch_seq = 0  # batch 1 never arrived: send this one as batch 1
                    exc.transient = True
                tried[0] = tried[0] or exc.transient
                raise

        with self._member_call():
            return self._guarded(self._retrying("POST", ("usersreplace",), halvable=True), attempt)


def _users_params(schema: Sequence[str], rows: Sequence[Sequence[str]], session: dict[str, Any]) -> dict[str, Any]:
    """Meta's multi-key payload (always a schema list with ``is_raw``) and the session fields."""
    if len(rows) > MAX_ROWS_PER_CALL:
        raise ValueError(f"at most {MAX_ROWS_PER_CALL} rows per call")
    attrs = [(i, k) for i, k in enumerate(schema) if k in ATTRIBUTE_KEYS]
    value = schema.index(VALUE) if VALUE in schema else None
    data: list[list[Any]] = [list(r) for r in rows]
    for row in data if attrs or value is not None else ():  # as Meta's types: ["LDU"], 1, 1000, 12.5
        for i, key in attrs:
            row[i] = to_meta(key, row[i])
        if value is not None:
            row[value] = value_to_meta(row[value])
    payload = {"schema": list(schema), "is_raw": True, "data": data}
    return {"payload": payload, "session": session}


def _json(text: str) -> dict[str, Any]:
    try:
        out = json.loads(text)
    except ValueError:
        raise MetaApiError("Meta returned a body that is not JSON on success.", transient=True) from None
    if isinstance(out, dict) and out.get("success") is False:
        raise MetaApiError("Meta answered success=false.", transient=True)
    return out if isinstance(out, dict) else {"data": out}
