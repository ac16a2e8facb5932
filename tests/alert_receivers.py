"""Local receivers for the alert tests: an HTTP server that keeps every POST (webhooks, Apprise's json://)
and an SMTP server (aiosmtpd) that keeps every message, both on loopback."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    url: str
    posts: list[Received] = field(default_factory=list)
    status: list[int] = field(default_factory=list)  # statuses to answer, in order (then 200)


@contextmanager
def http_receiver() -> Iterator[HttpReceiver]:
    rec = HttpReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            rec.posts.append(Received(self.path, dict(self.headers.items()), self.rfile.read(n)))
            code = rec.status.pop(0) if rec.status else 200
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class SmtpReceiver:
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)

    def url(self, to: str = "ads@example.com") -> str:
        """Apprise's URL for this server: plain SMTP on loopback, no login."""
        return f"mailto://127.0.0.1:{self.port}?from=fbsync@example.com&to={to}&mode=insecure"


@contextmanager
def smtp_receiver() -> Iterator[SmtpReceiver]:
    from aiosmtpd.controller import Controller

    rec = SmtpReceiver(0)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            rec.messages.append(msg)  # type: ignore[arg-type]
            return "250 OK"

    with socket.socket() as probe:  # aiosmtpd checks its server by connecting to the port it was given
        probe.bind(("127.0.0.1", 0))
        rec.port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=rec.port)
    controller.start()
    try:
        yield rec
    finally:
        controller.stop()
