"""Loopback listeners that record what reached them, and a resolver the policy is configured with."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Listener:
    """A plain HTTP server on 127.0.0.1 answering every request with `reply` (status, headers)."""

    port: int = 0
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Host)
    reply: tuple[int, dict[str, str], bytes] = (200, {"Content-Type": "application/json"}, b"{}")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(listener: Listener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            listener.requests.append((self.command, self.path, self.headers.get("Host", "")))
            status, headers, body = listener.reply
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def listener() -> Iterator[Listener]:
    rec = Listener()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@dataclass
class ScriptedResolver:
    """A resolver for the policy's `FLEET_EGRESS_RESOLVER` hook: each name answers the next
    entry of its script (the last one repeats), like a DNS server changing its answer."""

    script: dict[str, list[list[str]]]
    asked: list[str] = field(default_factory=list)

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        answers = self.script[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]


@pytest.fixture
def resolver(settings) -> Callable[[dict[str, list[list[str]]]], ScriptedResolver]:
    """Configure the egress policy's resolver with a script of answers per name."""

    def configure(script: dict[str, list[list[str]]]) -> ScriptedResolver:
        scripted = ScriptedResolver(script)
        settings.FLEET_EGRESS_RESOLVER = scripted
        return scripted

    return configure
