"""The sandbox core: one pure ``handle(method, path, query, headers, body)`` call per HTTP request.

No sockets here, so the same object serves the HTTP adapter (``server.py``)
and ``responses`` callbacks in unit tests.  A request goes through: parse →
count → auth (meta-api.md §5 "Auth") → policies (the hook a fault-injection
policy will use) → route → usage headers (meta-api.md §4).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import admin, audiences, errors, render, users
from .config import SandboxConfig
from .params import GraphRequest, decode_json_params, header, parse_params, split_path, version_tuple
from .sessions import SessionState
from .store import Audience, SandboxStore
from .usage import UsageMeter

Response = tuple[int, dict[str, str], bytes]
Handler = Callable[["SandboxApp", GraphRequest], dict[str, Any]]
log = logging.getLogger(__name__)
ACCOUNT_RE = re.compile(r"^act_(\d+)$")
WRITE_METHODS = frozenset({"POST", "DELETE"})

# (node kind, edge) → {method: (endpoint label, handler)}
ROUTES: dict[tuple[str, str | None], dict[str, tuple[str, Handler]]] = {
    ("me", None): {"GET": ("GET /me", audiences.get_me)},
    ("account", None): {"GET": ("GET /act_{id}", audiences.get_account)},
    ("account", "customaudiences"): {
        "GET": ("GET /customaudiences", audiences.list_audiences),
        "POST": ("POST /customaudiences", audiences.create_audience),
    },
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
}
NODE_TYPES = {"me": "User", "account": "AdAccount", "audience": "CustomAudience"}


class RequestPolicy(Protocol):
    """Plug-in seen before routing (after auth); returning a response short-circuits the call.

    The fault-injection work will implement this (throttles from :class:`UsageMeter`, 5xx, …).
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
    ) -> None:
        self.store = store
        self.config = config or SandboxConfig()
        self.clock = clock
        self.usage = UsageMeter(clock, self.config.usage)
        self.policies: list[RequestPolicy] = []
        self.public_url: str | None = None
        self._token = access_token or None
        self._secret = app_secret or None

    # --- helpers used by handlers ---

    def now(self) -> int:
        """Sandbox clock, unix seconds."""
        return int(self.clock())

    def running_replace(self, audience: Audience) -> SessionState | None:
        """The audience's running replace session (expired ones are completed first)."""
        return users.settle_replace(self, audience)

    def audience_full(self, audience: Audience) -> dict[str, Any]:
        """Every modeled field of an audience."""
        replace = self.running_replace(audience)
        fresh = self.store.get_audience(audience.id) or audience
        return render.audience_fields(fresh, self.now(), self.config, replace)

    def render_audience(self, audience: Audience, fields: Any) -> dict[str, Any]:
        """The requested fields of an audience (meta-api.md §1.2)."""
        return render.select(self.audience_full(audience), fields, render.AUDIENCE_FIELDS, "CustomAudience")

    def members(self, audience_id: int | str) -> dict[str, Any]:
        """``{"schema", "rows"}`` of an audience, as the admin endpoint returns them."""
        return self.store.members(int(audience_id))

    def request_count(self) -> dict[str, Any]:
        """Graph calls seen since start or reset."""
        return self.store.request_count()

    # --- entry point ---

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer one HTTP request; never raises."""
        trace = errors.new_trace_id()
        try:
            if path.startswith("/__sandbox/") or path == "/__sandbox":
                return admin.handle(self, method.upper(), path, query)
            with self.store.lock:
                return self._graph(method.upper(), path, query, headers, body, trace)
        except errors.GraphError as err:
            return self._error(err, trace, {})
        except Exception:  # noqa: BLE001 - a sandbox bug must still answer like Meta (code 2, HTTP 500)
            log.exception("sandbox internal error on %s %s", method, path)
            return self._error(errors.internal(), trace, {})

    def _graph(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes,
               trace: str) -> Response:
        version, segments = split_path(path)
        params = parse_params(query, headers, body)
        failure: errors.GraphError | None = None
        try:
            decode_json_params(params)
        except errors.GraphError as err:
            failure = err
        method = _effective_method(method, params)
        route, failure = self._route(segments, failure)
        label = ROUTES.get((route.kind, route.edge), {}).get(method, (f"{method} {path_label(segments)}", None))[0]
        self.store.count_request(label)
        req = GraphRequest(method, version, segments, params, headers, self._base_url(headers), endpoint=label)
        self._authenticate(req, on_me=route.kind == "me")
        if failure:
            raise failure
        self._check_version(version)
        handler = self._resolve(req, route)
        for policy in self.policies:
            answer = policy.intercept(self, req)
            if answer is not None:
                return answer
        audience_call = route.kind == "audience" or route.edge == "customaudiences"
        self.usage.record(req.account_id, write=method in WRITE_METHODS, audience_call=audience_call)
        extra = self._usage_headers(req, audience_call)
        try:
            result = handler(self, req)
        except errors.GraphError as err:
            return self._error(err, trace, extra)
        return 200, {**_base_headers(trace, self.config.latest_version), **extra}, _json(result)

    # --- routing ---

    def _route(self, segments: list[str], failure: errors.GraphError | None) -> tuple[_Route, errors.GraphError | None]:
        if not segments:
            return _Route("root", "", None), failure or errors.param("Batch requests are not simulated by the sandbox")
        node, edge = segments[0], (segments[1] if len(segments) > 1 else None)
        if len(segments) > 2:
            failure = failure or errors.unknown_path("/" + "/".join(segments[2:]))
        if node == "me":
            return _Route("me", node, edge), failure
        if node.startswith("act_"):
            return _Route("account", node, edge), failure
        if node.isdigit():
            return _Route("audience", node, edge), failure
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
        if route.kind == "audience":
            audience = self.store.get_audience(int(route.node))
            if audience is None:
                raise errors.unsupported(req.method, route.node)
            req.account_id = audience.account_id
            req.extra["audience"] = audience
        methods = ROUTES.get((route.kind, route.edge))
        if methods is None:
            raise errors.nonexisting_field(route.edge or "", NODE_TYPES[route.kind])
        if req.method not in methods:
            raise errors.unsupported(req.method, route.node)
        return methods[req.method][1]

    def _check_version(self, version: str | None) -> None:
        """Versions older than ``config.min_version`` are refused with 2635 (meta-api.md §1)."""
        if version and version_tuple(version) < version_tuple(self.config.min_version):
            raise errors.deprecated_version(self.config.latest_version)

    # --- auth (meta-api.md §5 "Auth") ---

    def _authenticate(self, req: GraphRequest, *, on_me: bool) -> None:
        """Token required; only the configured one when set; appsecret_proof when a secret is set."""
        token = str(req.params.get("access_token") or "") or _bearer(req.headers)
        if not token:
            raise errors.missing_token(on_me)
        if self._token is not None and not hmac.compare_digest(token.encode(), self._token.encode()):
            raise errors.invalid_token()
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
        """An error response (meta-api.md §3); OAuth token errors also carry ``WWW-Authenticate``."""
        headers = {**_base_headers(trace, self.config.latest_version), **extra}
        if err.type == errors.OAUTH and err.code in (104, 190, 2500):
            headers["WWW-Authenticate"] = f'OAuth "Facebook Platform" "invalid_token" "{err.message}"'
        return err.status, headers, _json(err.body(trace))

    def _usage_headers(self, req: GraphRequest, audience_call: bool) -> dict[str, str]:
        active = self.store.count_live(req.account_id) if req.account_id and audience_call else 0
        return self.usage.headers(req.account_id, audience_call=audience_call, active_audiences=active)


def path_label(segments: list[str]) -> str:
    """Endpoint label of an unrouted path, with ids replaced so counters stay small."""
    parts = ["{id}" if s.isdigit() or s.startswith("act_") else s for s in segments[:2]]
    return "/" + "/".join(parts)


def _effective_method(method: str, params: Mapping[str, Any]) -> str:
    """Graph's ``method`` override: POST with ``method=DELETE`` (or GET) acts as that method (meta-api.md §1.5)."""
    override = str(params.get("method") or "").upper()
    if method == "POST" and override in ("DELETE", "GET"):
        return override
    return method


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
