"""HTTP adapter: serves :class:`SandboxApp` with the stdlib ``ThreadingHTTPServer``.

``serve()`` blocks until Ctrl-C (``fbsync sandbox``); ``running_sandbox()`` runs
it on a free port in a daemon thread for tests.  Request lines are never
logged, because Graph URLs carry the access token in their query string.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import SandboxApp
from .config import SandboxConfig
from .faults import ConnectionDropped, Faults
from .store import SandboxStore


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fbsync-sandbox"
    app: SandboxApp  # set on the subclass made per server

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            with self.app.in_flight.track(self.command, path):
                status, headers, payload = self.app.handle(self.command, path, query, dict(self.headers.items()), body)
        except ConnectionDropped:
            self._drop()
            return
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (killed, timed out): nothing to answer

    def _drop(self) -> None:
        """Close the socket without a byte of answer: a reset (linger 0), as a dropped connection looks."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default access log: request lines contain access tokens."""


def make_server(app: SandboxApp, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """Bind a threading HTTP server for ``app`` (``port=0`` picks a free port).

    Paging links are built from each request's ``Host`` header, so they point at
    whatever address the client used (``app.public_url`` overrides that).
    """
    handler = type("SandboxHandler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    """``http://HOST:PORT`` of a bound server."""
    host, port = server.server_address[:2]
    assert isinstance(host, str), "a bound socket reports its host as text (socket.getsockname())"
    return f"http://{host}:{port}"


def _env(value: str | None, name: str) -> str | None:
    return os.environ.get(name) or None if value is None else (value or None)


def serve(
    host: str = "127.0.0.1",
    port: int = 8765,
    data: str | None = None,
    access_token: str | None = None,
    app_secret: str | None = None,
    *,
    config: SandboxConfig | None = None,
    faults: Faults | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until Ctrl-C.

    ``None`` token/secret fall back to ``FB_ACCESS_TOKEN``/``FB_APP_SECRET``; ``""`` disables.
    """
    store = SandboxStore(data)
    app = SandboxApp(
        store,
        access_token=_env(access_token, "FB_ACCESS_TOKEN"),
        app_secret=_env(app_secret, "FB_APP_SECRET"),
        config=config,
        faults=faults,
    )
    server = make_server(app, host, port)
    announce(f"sandbox listening on {server_url(server)}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        store.close()


@dataclass
class RunningSandbox:
    """A sandbox served in a background thread: its base ``url``, ``app`` and ``store``."""

    url: str
    app: SandboxApp
    store: SandboxStore


@contextmanager
def running_sandbox(
    data: str | None = None,
    access_token: str | None = None,
    app_secret: str | None = None,
    *,
    config: SandboxConfig | None = None,
    clock: Callable[[], float] | None = None,
    faults: Faults | None = None,
) -> Iterator[RunningSandbox]:
    """Run a sandbox on a free local port for the duration of a ``with`` block (token/secret not read from env)."""
    store = SandboxStore(data)
    kwargs: dict[str, Any] = {
        "access_token": access_token,
        "app_secret": app_secret,
        "config": config,
        "faults": faults,
    }
    if clock is not None:
        kwargs["clock"] = clock
    app = SandboxApp(store, **kwargs)
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fbsync-sandbox", daemon=True
    )
    thread.start()
    try:
        yield RunningSandbox(url=server_url(server), app=app, store=store)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        store.close()
