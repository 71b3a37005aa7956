"""The 2024-11-05 HTTP+SSE transport: GET an event stream, POST requests to its endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx

from checks.probing.clock import PhaseClock, PhaseTimeout
from checks.probing.errors import ProbeFailure, ReplyFailure
from checks.probing.session import (
    CLIENT_INFO,
    LATEST_HANDSHAKE_VERSION,
    ServerIdentity,
    identity_from,
)
from checks.probing.wire import AnyResponse, HttpChannel, Sending, match_response, same_host

_ENDED = "the SSE stream ended before the response arrived"


class SseSession:
    """One legacy SSE session; holds two connections (the stream and the POSTs) while open."""

    transport = "sse"

    def __init__(self, channel: HttpChannel, url: httpx.URL, clock: PhaseClock) -> None:
        self.channel = channel
        self.url = url
        self.clock = clock
        self.endpoint: httpx.URL | None = None
        self.protocol_version = ""
        self._sending: Sending | None = None
        self._reader: asyncio.Task[None] | None = None
        self._endpoint_ready: asyncio.Future[httpx.URL] | None = None
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0

    async def open(self) -> ServerIdentity:
        """Open the stream, wait for the endpoint event, then initialize + initialized."""
        try:
            async with self.clock.phase("connect", "connect"):
                await self._connect()
        except PhaseTimeout as timeout:
            if self._reader is None:
                raise
            raise PhaseTimeout(
                "connect", f"the event stream opened but sent no endpoint event ({timeout.cause})"
            ) from None
        self.channel.waiting_in = ""
        async with self.clock.phase("initialize", "initialize"):
            params = {
                "protocolVersion": LATEST_HANDSHAKE_VERSION,
                "capabilities": {},
                "clientInfo": CLIENT_INFO,
            }
            result = await self.request("initialize", params, phase="initialize")
            version = result.get("protocolVersion")
            if not isinstance(version, str) or not version:
                raise ReplyFailure("initialize", "the initialize result has no protocolVersion")
            self.protocol_version = version
        async with self.clock.phase("initialized", "initialized"):
            await self._post(
                {"jsonrpc": "2.0", "method": "notifications/initialized"}, "initialized"
            )
        return identity_from(result, version, result.get("serverInfo"))

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._endpoint_ready = loop.create_future()
        self._sending = self.channel.send(
            "GET", self.url, phase="connect", headers={"Accept": "text/event-stream"}
        )
        resp, self.url = await self._sending.__aenter__()
        if resp.status_code >= 400:
            await self.channel.raise_for_status(resp, "connect")
        kind = resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != "text/event-stream":
            raise ReplyFailure(
                "connect", f"expected an event stream but got {kind or 'no content type'}"
            )
        self._reader = asyncio.create_task(self._read(resp))
        self.endpoint = await self._endpoint_ready

    async def _read(self, resp: AnyResponse) -> None:
        """Route stream events: the endpoint first, then replies by id."""
        failure: ProbeFailure = ReplyFailure("sse stream", _ENDED)
        try:
            async for event in self.channel.sse_events(resp, "sse stream"):
                if event.event == "endpoint":
                    self._on_endpoint(event.data)
                elif event.event == "message" and event.data:
                    self._on_message(event.data)
        except ProbeFailure as exc:
            failure = exc
        self._fail_all(failure)

    def _on_endpoint(self, data: str) -> None:
        ready = self._endpoint_ready
        if ready is None or ready.done():
            return
        endpoint = self.url.join(data.strip())
        if not same_host(self.url, endpoint):
            ready.set_exception(
                ProbeFailure("connect", f"the endpoint event points to another host ({endpoint})")
            )
        else:
            ready.set_result(endpoint)

    def _on_message(self, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            self._fail_all(
                ReplyFailure("sse stream", "an SSE event's data is not a JSON-RPC object")
            )
            return
        waiter = self._waiting.get(message.get("id"))  # type: ignore[arg-type]
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    def _fail_all(self, failure: ProbeFailure) -> None:
        if self._endpoint_ready is not None and not self._endpoint_ready.done():
            cause = failure.cause
            if cause == _ENDED:
                cause = "the SSE stream ended without sending the endpoint event"
            self._endpoint_ready.set_exception(ProbeFailure("connect", cause))
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(failure)

    async def request(
        self, method: str, params: dict[str, Any], *, phase: str, schema: dict | None = None
    ) -> dict[str, Any]:
        """POST a request to the endpoint and wait for its reply on the stream."""
        self._next_id += 1
        request_id = self._next_id
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiter
        try:
            message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            await self._post(message, phase)
            try:
                reply = await waiter
            except ReplyFailure as exc:
                raise ReplyFailure(phase, exc.cause, excerpt=exc.excerpt) from None
            except ProbeFailure as exc:
                raise ProbeFailure(phase, exc.cause, excerpt=exc.excerpt) from None
        finally:
            del self._waiting[request_id]
        result = match_response(reply, request_id, phase)
        if result is None:
            raise ReplyFailure(phase, "malformed JSON-RPC reply on the SSE stream")
        return result

    async def _post(self, message: dict[str, Any], phase: str) -> None:
        assert self.endpoint is not None
        async with self.channel.send(
            "POST", self.endpoint, phase=phase, headers={}, body=message
        ) as (
            resp,
            _,
        ):
            if resp.status_code >= 400:
                await self.channel.raise_for_status(resp, phase)

    async def close(self) -> None:
        """Close the stream; the server ends the session when it goes away."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._sending is not None:
            with contextlib.suppress(Exception):
                await self._sending.__aexit__(None, None, None)
