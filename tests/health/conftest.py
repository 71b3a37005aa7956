"""Fixtures for health-check tests: real SDK servers on loopback that can be switched down or
slowed, a webhook receiver for alert payloads, and helpers to register them as services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served
from tests.notifications.conftest import Receiver, receiver  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _quiet_sdk_logs() -> Iterator[None]:
    logging.getLogger("mcp").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    yield


class Knob:
    """Wraps an MCP app: `down` answers 503 to everything, `delay_s` slows every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.down = False
        self.delay_s = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.delay_s:
            await asyncio.sleep(self.delay_s)
        if scope["type"] == "http" and self.down:
            while (await receive()).get("more_body"):
                pass
            body = b"Service Unavailable"
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def knob_server() -> Iterator[tuple[str, Knob]]:
    """A real SDK Streamable HTTP server (JSON replies) behind a Knob; yields (MCP URL, knob)."""
    knob = Knob(streamable_app(demo_server("knob", "1.0.0"), json_response=True))
    with served(knob) as base:
        yield f"{base}/mcp", knob


@pytest.fixture
def knob(knob_server) -> Iterator[Knob]:
    _, k = knob_server
    k.down, k.delay_s = False, 0.0
    yield k
    k.down, k.delay_s = False, 0.0


@pytest.fixture(scope="module")
def sdk_url() -> Iterator[str]:
    """A plain SDK Streamable HTTP server (SSE replies, the SDK default)."""
    with served(streamable_app(demo_server("demo", "2.0.0"))) as base:
        yield f"{base}/mcp"


@pytest.fixture
def webhook(receiver: Receiver) -> Receiver:  # noqa: F811
    """A generic JSON webhook channel routed everything, pointed at the local receiver."""
    from console.notifications.models import AlertChannel

    AlertChannel.objects.create(name="ops-hook", type="webhook", target=receiver.url + "/hook")
    return receiver
