"""The sandbox core: one pure ``handle(method, path, query, headers, body)`` call per HTTP request.

No sockets here, so the same object serves the HTTP adapter (``server.py``)
and ``responses`` callbacks in unit tests.  A request goes through: parse →
count → auth (docs/meta-api.md §5 "Auth") → version (``versions.py``, §8) →
method override and parameter count (§8, §1.5) → route → policies (fault
injection, ``injector.py``) → the tier's rate limits (``usage.py``, §4) →
permissions/terms (``access.py``) → handler → usage headers → the policies'
``after`` hooks → delay or drop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from . import access, admin, adsets, audiences, campaigns, errors, integrity, render, sharing, users, versions
from .config import SandboxConfig, header_tier
from .faults import ConnectionDropped, Faults
from .gauge import InFlight
from .injector import FaultInjector
from .matching import Matcher
from .params import Effects, GraphRequest, decode_json_params, header, parse_params, split_path
from .sessions import SessionState
from .store import Audience, SandboxStore
from .usage import Refusal, UsageBudget, UsageMeter

Response = tuple[int, dict[str, str], bytes]
Handler = Callable[["SandboxApp", GraphRequest], dict[str, Any]]
log = logging.getLogger(__name__)
ACCOUNT_RE = re.compile(r"^act_(\d+)$")
WRITE_METHODS = frozenset({"POST", "DELETE"})

# (node kind, edge) → {method: (endpoint label, handler)}
ROUTES: dict[tuple[str, str | None], dict[str, tuple[str, Handler]]] = {
    ("me", None): {"GET": ("GET /me", audiences.get_me)},
    ("me", "permissions"): {"GET": ("GET /me/permissions", access.get_permissions)},
    ("debug_token", None): {"GET": ("GET /debug_token", access.debug_token)},
    ("account", None): {"GET": ("GET /act_{id}", audiences.get_account)},
    ("account", "customaudiences"): {
        "GET": ("GET /customaudiences", audiences.list_audiences),
        "POST": ("POST /customaudiences", audiences.create_audience),
    },
    ("account", "usersofanyaudience"): {"DELETE": ("DELETE /usersofanyaudience", users.remove_from_any)},
    ("audience", None): {
        "GET": ("GET /{audience_id}", audiences.get_audience),
        "POST": ("POST /{audience_id}", audiences.update_audience),
        "DELETE": ("DELETE /{audience_id}", audiences.delete_audience),
    },
    ("audience", "users"): {
        "POST": ("POST /users", users.add_users),
        "DELETE": ("DELETE /users", users.remove_users),
    },
    ("audience", "usersreplace"): {"POST": ("POST /usersreplace", users.replace_users)},
    ("audience", "sessions"): {"GET": ("GET /sessions", users.list_sessions)},
    ("audience", "adaccounts"): sharing.ROUTES,
    ("adset", None): {
        "GET": ("GET /{adset_id}", adsets.get_adset),
        "POST": ("POST /{adset_id}", adsets.update_adset),
    },
    ("campaign", None): {"GET": ("GET /{campaign_id}", campaigns.get_campaign)},
}
NODE_TYPES = {
    "me": "User",
    "account": "AdAccount",
    "audience": "CustomAudience",
    "adset": "AdSet",
    "campaign": "Campaign",
    "debug_token": "DebugToken",
}
#: Parameters that do not count toward ``max_request_params`` (auth travels as parameters too).
AUTH_PARAMS = frozenset({"access_token", "appsecret_proof", "appsecret_time"})


class RequestPolicy(Protocol):
    """Plug-in seen before routing (after auth); returning a response short-circuits the call.

    A policy may also define ``after(app, request, response) -> response``, run on every routed
    answer (success or handler error), and may set ``request.effects`` (delay, drop) or raise
    :class:`~fbsync.sandbox.faults.ConnectionDropped`.  :class:`FaultInjector` is the one shipped.
    """

    def intercept(self, app: SandboxApp, request: GraphRequest) -> Response | None:
        """Return a response to send instead of handling the request, or None."""


@dataclass
class _Route:
    kind: str
    node: str
    edge: str | None


class SandboxApp:
    """A local stand-in for the Marketing API endpoints fbsync uses."""

    def __init__(
        self,
        store: SandboxStore,
        *,
        access_token: str | None = None,
        app_secret: str | None = None,
        clock: Callable[[], float] = time.time,
        config: SandboxConfig | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.store = store
        self._config = config or SandboxConfig()
        self.clock = clock
        self.started = clock()
        self.usage = UsageMeter(clock, budget_for(self._config))
        self.policies: list[RequestPolicy] = []
        self.in_flight = InFlight()  # calls being answered at once, per edge (admin: GET /__sandbox/requests)
        self.public_url: str | None = None
        #: Called with the delay of a slow-response fault (seconds); tests can swap it.
        self.sleep: Callable[[float], None] = time.sleep
        self._token = access_token or None
        self._more_tokens: set[str] = set()
        self._secret = app_secret or None
        self._injector: FaultInjector | None = None
        self.faults = faults
        self._matcher: tuple[SandboxConfig, Matcher] | None = None
        with store.lock:
            store.rematch(self.matcher)  # a --data file from before matching

    @property
    def config(self) -> SandboxConfig:
        """The knobs in force; replacing them (``dataclasses.replace``) takes effect at the next call, and a
        new ``tier`` / ``usage`` re-budgets the rate limits (the counters stay)."""
        return self._config

    @config.setter
    def config(self, value: SandboxConfig) -> None:
        old, self._config = self._config, value
        if (old.tier, old.usage) != (value.tier, value.usage):
            self.usage.budget = budget_for(value)

    @property
    def matcher(self) -> Matcher:
        """Which values Meta knows, from the config in force (docs/sandbox.md "Matching people")."""
        if self._matcher is None or self._matcher[0] is not self._config:
            self._matcher = (self._config, Matcher(self._config))
        return self._matcher[1]

    # --- fault injection and tokens ---

    @property
    def faults(self) -> Faults | None:
        """The fault settings in force (None = none); setting them starts a fresh fault state."""
        return self._injector.faults if self._injector else None

    @faults.setter
    def faults(self, value: Faults | None) -> None:
        with self.store.lock:
            if self._injector is not None:
                self.policies.remove(self._injector)
            self._injector = FaultInjector(value) if value is not None else None
            if self._injector is not None:
                self.policies.insert(0, self._injector)

    @property
    def injector(self) -> FaultInjector | None:
        """The live fault state (blocks, budgets, counters), for ``block()`` and ``state()``."""
        return self._injector

    def throttle(self, account_id: str | None, code: str = "80003/2446079", seconds: float | None = None) -> None:
        """Throttle on demand: refuse every call of ``account_id`` (code ``"4"``: of the app) for ``seconds``
        (default ``faults.block_seconds``), with that throttle's error; calls meanwhile extend the block."""
        with self.store.lock:
            if self._injector is None:
                self.faults = Faults()
            assert self._injector is not None
            self._injector.block(self, account_id, code, seconds)

    def allow_token(self, token: str) -> None:
        """Accept another token besides the configured one (a renewed token after an expiry)."""
        if token:
            self._more_tokens.add(token)

    def token_known(self, token: str) -> bool:
        """Would auth accept this token (ignoring expiry)?"""
        if not token:
            return False
        if self._token is None or token in self._more_tokens:
            return True
        return hmac.compare_digest(token.encode(), self._token.encode())

    def token_expired_at(self, token: str) -> float | None:
        """When the token expired (``token_expires_in_days`` or a ``token_expires_after`` fault), or None."""
        ended = access.lifetime_expired_at(self)
        if ended is None and self._injector is not None:
            ended = self._injector.token_expired_at(token)
        return ended

    def expired_token_error(self, expired_at: float) -> errors.GraphError:
        """190/463 for a token that expired at ``expired_at``."""
        return errors.expired_token(access.pacific(expired_at), access.pacific(self.clock()))

    def error_response(self, err: errors.GraphError, extra: dict[str, str] | None = None) -> Response:
        """A Graph error answer with a fresh trace id (for policies)."""
        return self._error(err, errors.new_trace_id(), extra or {})

    # --- helpers used by handlers ---

    def now(self) -> int:
        """Sandbox clock, unix seconds."""
        return int(self.clock())

    def running_replace(self, audience: Audience) -> SessionState | None:
        """The audience's running replace session (expired ones are completed first)."""
        return users.settle_replace(self, audience)

    def audience_full(self, audience: Audience, in_use: bool | None = None) -> dict[str, Any]:
        """Every modeled field of an audience (``in_use``: targeted by an ACTIVE ad set; None = look it up)."""
        running = self.running_replace(audience)
        fresh = self.store.get_audience(audience.id) or audience
        if in_use is None:
            in_use = str(audience.id) in self.store.active_targeted_ids()
        return render.audience_fields(fresh, self.now(), self.config, running, in_use)

    def render_audience(self, audience: Audience, fields: Any) -> dict[str, Any]:
        """The requested fields of an audience (docs/meta-api.md §1.2)."""
        return render.select(self.audience_full(audience), fields, render.AUDIENCE_FIELDS, "CustomAudience")

    def newest_version(self) -> str:
        """The version 2635 messages name: ``config.latest_version``, else the newest released one."""
        return self.config.latest_version or versions.latest(self.clock())

    def flag_audience(self, audience_id: int | str, fields: tuple[str, ...] | list[str] = ("name",)) -> None:
        """Flag an audience for integrity reasons (operation_status 471) as Meta would; ``fields`` = the
        ``fields_violating_integrity_policy``; ``()`` lifts the flag (an accepted appeal)."""
        integrity.set_flag(self.store, int(audience_id), list(fields), self.now())

    def unflag_audience(self, audience_id: int | str) -> None:
        """Lift an audience's integrity flag."""
        self.flag_audience(audience_id, ())

    def members(self, audience_id: int | str) -> dict[str, Any]:
        """``{"schema", "rows"}`` of an audience (its uploaded rows), as the admin endpoint returns them."""
        return self.store.members(int(audience_id))

    def match_stats(self, audience_id: int | str) -> dict[str, Any]:
        """``{"rows", "matched_rows", "persons", "keys": {KEY: {"rows", "matched"}}}`` of an audience."""
        return self.store.match_stats(int(audience_id))

    def request_count(self) -> dict[str, Any]:
        """Graph calls seen since start or reset."""
        return self.store.request_count()

    # --- entry point ---

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request.

        Never raises, except :class:`ConnectionDropped` when a drop fault fires (the HTTP server
        then closes the socket without answering).
        """
        trace = errors.new_trace_id()
        effects = Effects()
        version_headers: dict[str, str] = {}
        try:
            if path.startswith("/__sandbox/") or path == "/__sandbox":
                return admin.handle(self, method.upper(), path, query, body)
            with self.store.lock:
                response = self._graph(method.upper(), path, query, headers, body, trace, effects, version_headers)
        except ConnectionDropped:
            raise
        except errors.GraphError as err:
            response = self._error(err, trace, version_headers)
        except Exception:
            log.exception("sandbox internal error on %s %s", method, path)
            response = self._error(errors.internal(), trace, version_headers)
        if effects.delay > 0:
            self.sleep(effects.delay)
        if effects.drop:
            raise ConnectionDropped(applied=True)
        return response

    def _graph(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        trace: str,
        effects: Effects,
        version_headers: dict[str, str],
    ) -> Response:
        version, segments = split_path(path)
        params = parse_params(query, headers, body)
        failure: errors.GraphError | None = None
        try:
            decode_json_params(params)
        except errors.GraphError as err:
            failure = err
        method, overridden = _effective_method(method, params)
        route, failure = self._route(segments, failure)
        label = ROUTES.get((route.kind, route.edge), {}).get(method, (f"{method} {path_label(segments)}", None))[0]
        self.store.count_request(label)
        version_headers["facebook-api-version"] = versions.header_version(version, self.clock(), self.newest_version())
        req = GraphRequest(
            method, version, segments, params, headers, self._base_url(headers), endpoint=label, effects=effects
        )
        self._authenticate(req, on_me=route.kind == "me")
        if failure:
            raise failure
        self._check_version(version, label, version_headers)
        self._check_legacy(method, overridden, params)
        handler = self._resolve(req, route)
        for policy in self.policies:
            answer = policy.intercept(self, req)
            if answer is not None:
                status, answer_headers, answer_body = answer
                if "json" in header(answer_headers, "Content-Type"):  # not on an HTML error page
                    answer_headers = {**answer_headers, **version_headers}
                return status, answer_headers, answer_body
        audience_call = route.kind == "audience" or route.edge in ("customaudiences", "usersofanyaudience")
        active = self.store.count_live(req.account_id) if req.account_id and audience_call else 0
        refusal = self.usage.admit(
            req.account_id, write=method in WRITE_METHODS, audience_call=audience_call, active_audiences=active
        )
        extra = {**version_headers, **self._usage_headers(req, audience_call, refusal)}
        try:
            if refusal is not None:
                raise errors.throttled(refusal.key, refusal.minutes_left(self.clock()))
            access.authorize(self, req, route.kind, route.edge)
            result = handler(self, req)
        except errors.GraphError as err:
            response = self._error(err, trace, extra)
        else:
            response = 200, {**_base_headers(trace, self.newest_version()), **extra}, _json(result)
        for policy in self.policies:
            after = getattr(policy, "after", None)
            if after is not None:
                response = after(self, req, response)
        return response

    # --- routing ---

    def _route(self, segments: list[str], failure: errors.GraphError | None) -> tuple[_Route, errors.GraphError | None]:
        if not segments:
            return _Route("root", "", None), failure or errors.param("Batch requests are not simulated by the sandbox")
        node, edge = segments[0], (segments[1] if len(segments) > 1 else None)
        if len(segments) > 2:
            failure = failure or errors.unknown_path("/" + "/".join(segments[2:]))
        if node in ("me", "debug_token"):
            return _Route(node, node, edge), failure
        if node.startswith("act_"):
            return _Route("account", node, edge), failure
        if node.isdigit():
            # A numeric id names one node: route by what the store holds (unknown ids stay "audience",
            # answered 100/33 by _resolve).
            kind = self.store.node_kind(int(node)) or "audience"
            return _Route(kind, node, edge), failure
        return _Route("unknown", node, edge), failure

    def _resolve(self, req: GraphRequest, route: _Route) -> Handler:
        """Find the handler, and the account/audience the call is about (100/33 when missing)."""
        if route.kind == "unknown" or route.kind == "root":
            raise errors.unsupported(req.method, route.node)
        if route.kind == "account":
            match = ACCOUNT_RE.match(route.node)
            if not match:
                raise errors.unsupported(req.method, route.node)
            req.account_id = match.group(1)
        if route.kind == "audience" and route.node in self.config.foreign_audience_ids:
            raise errors.not_owned(route.node)  # another business's audience (docs/meta-api.md §3, §8)
        if route.kind in ("audience", "adset", "campaign"):
            get = {
                "audience": self.store.get_audience,
                "adset": self.store.get_adset,
                "campaign": self.store.campaigns.get,
            }[route.kind]
            node = get(int(route.node))
            if node is None:
                raise errors.unsupported(req.method, route.node)
            req.account_id = node.account_id
            req.extra[route.kind] = node
        methods = ROUTES.get((route.kind, route.edge))
        if methods is None:
            raise errors.nonexisting_field(route.edge or "", NODE_TYPES[route.kind])
        if req.method not in methods:
            raise errors.unsupported(req.method, route.node)
        return methods[req.method][1]

    def _check_version(self, version: str | None, label: str, out: dict[str, str]) -> None:
        """Serve, auto-upgrade or refuse the version (``versions.py``; docs/meta-api.md §1, §8)."""
        served = versions.serve(
            version,
            self.clock(),
            label,
            min_version=self.config.min_version,
            newest=self.newest_version(),
            auto_upgrade=self.config.version_auto_upgrade,
        )
        out["facebook-api-version"] = served.version
        if served.warning:
            out["X-Ad-Api-Version-Warning"] = served.warning

    def _check_legacy(self, method: str, overridden: bool, params: Mapping[str, Any]) -> None:
        """The method override after 2026-11-04 (docs/meta-api.md §8), and too many parameters (105, §1.5)."""
        grandfathered = self.config.method_override_grandfathered
        if overridden and not grandfathered and versions.legacy_features_refused(self.clock()):
            raise errors.method_override_refused(method)
        count = sum(1 for name in params if name not in AUTH_PARAMS)
        if count > self.config.max_request_params:
            raise errors.too_many_params(count, self.config.max_request_params)

    # --- auth (docs/meta-api.md §5 "Auth") ---

    def _authenticate(self, req: GraphRequest, *, on_me: bool) -> None:
        """Token required; only the configured one when set; appsecret_proof when a secret is set."""
        token = str(req.params.get("access_token") or "") or _bearer(req.headers)
        if not token:
            raise errors.missing_token(on_me)
        if not self.token_known(token):
            raise errors.invalid_token()
        req.token = token
        ended = access.lifetime_expired_at(self)
        if ended is not None:
            raise self.expired_token_error(ended)
        if self._secret is None:
            return
        proof = str(req.params.get("appsecret_proof") or "")
        if not proof:
            raise errors.missing_proof()
        signed = token
        if req.params.get("appsecret_time"):
            signed = f"{token}|{req.params['appsecret_time']}"
        expected = hmac.new(self._secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(proof.lower().encode(), expected.encode()):
            raise errors.invalid_proof()

    # --- responses ---

    def _base_url(self, headers: Mapping[str, str]) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = header(headers, "Host")
        return f"http://{host}" if host else "http://127.0.0.1"

    def _error(self, err: errors.GraphError, trace: str, extra: dict[str, str]) -> Response:
        """An error response (docs/meta-api.md §3); OAuth token errors also carry ``WWW-Authenticate``."""
        headers = {**_base_headers(trace, self.newest_version()), **extra}
        if err.type == errors.OAUTH and err.code in (104, 190, 2500):
            headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{err.message}"'
        return err.status, headers, _json(err.body(trace))

    def _usage_headers(self, req: GraphRequest, audience_call: bool, refusal: Refusal | None) -> dict[str, str]:
        active = self.store.count_live(req.account_id) if req.account_id and audience_call else 0
        return self.usage.headers(req.account_id, audience_call=audience_call, active_audiences=active, refusal=refusal)


def path_label(segments: list[str]) -> str:
    """Endpoint label of an unrouted path, with ids replaced so counters stay small."""
    parts = ["{id}" if s.isdigit() or s.startswith("act_") else s for s in segments[:2]]
    return "/" + "/".join(parts)


def budget_for(config: SandboxConfig) -> UsageBudget:
    """The rate-limit budget of a config: ``usage`` with the tier's header string (docs/meta-api.md §4)."""
    return replace(config.usage, tier=header_tier(config))


def _effective_method(method: str, params: Mapping[str, Any]) -> tuple[str, bool]:
    """Graph's ``method`` override: POST with ``method=DELETE`` (or GET) acts as that method (docs/meta-api.md §1.5),
    where it is still allowed (§8); returns (method, whether the override was used)."""
    override = str(params.get("method") or "").upper()
    if method == "POST" and override in ("DELETE", "GET"):
        return override, True
    return method, False


def _bearer(headers: Mapping[str, str]) -> str:
    """A token from ``Authorization: OAuth <token>`` or ``Bearer <token>``, which Graph also accepts."""
    value = header(headers, "Authorization").strip()
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() in ("oauth", "bearer") else ""


def _base_headers(trace: str, version: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=UTF-8",
        "x-fb-trace-id": trace,
        "facebook-api-version": version,
        "Cache-Control": "private, no-cache, no-store, must-revalidate",
    }


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
