"""A real HTTP receiver on 127.0.0.1 for webhook and Slack deliveries, and alerting helpers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from console.notifications.events import AlertEvent


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every request; answers from `statuses` in order, then `default_status`."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    extra_headers: dict[str, str] = field(default_factory=dict)

    def next_status(self) -> int:
        return self.statuses.pop(0) if self.statuses else self.default_status


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.requests.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status = receiver.next_status()
            text = b"ok" if status < 300 else b"receiver says no"
            self.send_response(status)
            for name, value in receiver.extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _fast_retries(settings) -> None:
    settings.ALERT_RETRY_BACKOFF_SECONDS = 0.01
    settings.ALERT_RETRY_BACKOFF_MAX_SECONDS = 0.05
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    settings.ALERT_HTTP_TIMEOUT_SECONDS = 5
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def event(service=None, **overrides) -> AlertEvent:
    """A 'down' event about `service` (or about nothing), with fields overridable."""
    fields = {
        "kind": "down",
        "title": f"{service.name if service else 'something'} is DOWN",
        "body": "3 probes in a row failed: connection refused.",
        "severity": "critical",
        "dedupe_key": f"incident:{service.pk if service else 0}",
        "service": service,
        "url": "/incidents/1/",
    }
    return AlertEvent(**{**fields, **overrides})
