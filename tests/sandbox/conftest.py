"""Fixtures for the sandbox tests: an in-memory app with a fake clock, and a tiny Graph client.

The client calls :meth:`SandboxApp.handle` directly (no sockets) and encodes
parameters the way Graph clients do: query string, form body (JSON values as
JSON strings, like the SDK) or JSON body.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from fbsync.sandbox import SandboxApp, SandboxConfig, SandboxStore

TOKEN = "sandbox-test-token"
T0 = 1_800_000_000.0


class FakeClock:
    """A settable clock: ``clock()`` returns ``t``; ``advance(seconds)`` moves it."""

    def __init__(self, start: float = T0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class Resp:
    """A decoded sandbox answer."""

    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        assert self.status != 200, self.body
        return self.body["error"]

    def code(self) -> tuple[int, int | None]:
        """(code, error_subcode) of an error answer."""
        return self.error["code"], self.error.get("error_subcode")


def h(text: str) -> str:
    """SHA-256 lowercase hex, as a Meta client sends a normalized key."""
    return hashlib.sha256(text.encode()).hexdigest()


def _flat(params: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}


class Graph:
    """Minimal Graph client over ``SandboxApp.handle``."""

    h = staticmethod(h)
    TOKEN = TOKEN

    def __init__(self, app: SandboxApp, token: str | None = TOKEN, version: str = "v26.0") -> None:
        self.app = app
        self.token = token
        self.version = version

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        via: str = "auto",
        headers: dict[str, str] | None = None,
        token: str | None = "default",
    ) -> Resp:
        params = dict(params or {})
        token = self.token if token == "default" else token
        if token is not None:
            params.setdefault("access_token", token)
        if via == "auto":
            via = "query" if method in ("GET", "DELETE") else "form"
        query, body, hdrs = "", b"", {"Host": "sandbox.test"}
        if via == "query":
            query = urlencode(_flat(params))
        elif via == "form":
            body = urlencode(_flat(params)).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif via == "json":
            body = json.dumps(params).encode()
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        full = f"/{self.version}{path}" if self.version else path
        status, out_headers, raw = self.app.handle(method, full, query, hdrs, body)
        return Resp(status, json.loads(raw), out_headers)

    def get(self, path: str, **params: Any) -> Resp:
        return self.call("GET", path, params)

    def post(self, path: str, **params: Any) -> Resp:
        return self.call("POST", path, params)

    def create(self, account: str = "act_1", **params: Any) -> str:
        """Create a customer-file audience and return its id."""
        fields = {"name": "aud", "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY", **params}
        resp = self.call("POST", f"/{account}/customaudiences", fields)
        assert resp.status == 200, resp.body
        return resp.body["id"]

    def lookalike(self, seed: str, name: str = "lal", ratio: float = 0.01, country: str = "FR") -> Resp:
        """Ask for a lookalike of ``seed`` (the answer, refused or not)."""
        return self.post(
            "/act_1/customaudiences",
            name=name,
            subtype="LOOKALIKE",
            origin_audience_id=seed,
            lookalike_spec={"ratio": ratio, "country": country},
        )

    def add(
        self,
        audience_id: str,
        schema: Any,
        data: list[Any],
        session: dict[str, Any] | None = None,
        edge: str = "users",
        method: str = "POST",
        via: str = "auto",
    ) -> Resp:
        params: dict[str, Any] = {"payload": {"schema": schema, "data": data}}
        if session is not None:
            params["session"] = session
        return self.call(method, f"/{audience_id}/{edge}", params, via=via)

    def people(self, n: int, prefix: str = "p", key: str = "EMAIL") -> list[str]:
        """The first ``n`` values Meta knows among ``h("{prefix}{i}@example.com")``, i = 0, 1, … (e-mails; with
        ``key="PHONE"`` the same texts as phones): people it matches, chosen like a test picks real users."""
        found: list[str] = []
        i = 0
        while len(found) < n:
            value = h(f"{prefix}{i}@example.com")
            if self.app.matcher.known(key, value):
                found.append(value)
            i += 1
        return found

    def strangers(self, n: int, prefix: str = "x", key: str = "EMAIL") -> list[str]:
        """The first ``n`` values Meta does not know among ``h("{prefix}{i}@example.com")``."""
        found: list[str] = []
        i = 0
        while len(found) < n:
            value = h(f"{prefix}{i}@example.com")
            if not self.app.matcher.known(key, value):
                found.append(value)
            i += 1
        return found

    def size(self, audience_id: str) -> int:
        """``approximate_count_lower_bound`` of an audience (its matched people)."""
        body = self.get(f"/{audience_id}", fields="approximate_count_lower_bound").body
        return int(body["approximate_count_lower_bound"])

    def seed(self, audience_id: str, n: int, prefix: str = "p") -> None:
        """Add ``n`` matched people (single-EMAIL rows of :meth:`people`) in 10,000-row batches."""
        rows = [[value] for value in self.people(n, prefix)]
        for start in range(0, n, 10_000):
            resp = self.add(audience_id, ["EMAIL"], rows[start : start + 10_000])
            assert resp.status == 200, resp.body


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def config() -> SandboxConfig:
    return SandboxConfig()


@pytest.fixture
def app(clock: FakeClock, config: SandboxConfig) -> SandboxApp:
    store = SandboxStore(None)
    yield SandboxApp(store, clock=clock, config=config)
    store.close()


@pytest.fixture
def graph(app: SandboxApp) -> Graph:
    return Graph(app)


@pytest.fixture
def make_graph() -> type[Graph]:
    """The :class:`Graph` client class, for a second client (another token, another app)."""
    return Graph
