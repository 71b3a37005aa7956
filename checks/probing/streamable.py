"""Streamable HTTP sessions: the 2025 handshake with a session id, and stateless 2026-07-28."""

from __future__ import annotations

from typing import Any

import httpx

from checks.probing.clock import PhaseClock
from checks.probing.errors import ProbeFailure, ReplyFailure
from checks.probing.session import (
    CLIENT_INFO,
    LATEST_HANDSHAKE_VERSION,
    STATELESS_VERSION,
    ServerIdentity,
    identity_from,
)
from checks.probing.wire import ACCEPT_BOTH, HttpChannel

SERVER_INFO_META_KEY = "io.modelcontextprotocol/serverInfo"
_NAME_BEARING = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


class StatelessSession:
    """Protocol 2026-07-28: every POST stands alone, carrying its version, method and `_meta`."""

    transport = "stateless"

    def __init__(self, channel: HttpChannel, url: httpx.URL) -> None:
        self.channel = channel
        self.url = url
        self._next_id = 0
        self._meta = {
            "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
            "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
            "io.modelcontextprotocol/clientCapabilities": {},
        }

    async def discover(self) -> ServerIdentity | None:
        """Ask `server/discover`; None when the answer is not evidence of a 2026-07-28 server."""
        result = await self.request("server/discover", {}, phase="discover")
        versions = result.get("supportedVersions")
        if not isinstance(versions, list) or STATELESS_VERSION not in versions:
            return (
                None  # e.g. a server that answers discover but advertises only handshake versions
            )
        meta = result.get("_meta") if isinstance(result.get("_meta"), dict) else {}
        return identity_from(result, STATELESS_VERSION, meta.get(SERVER_INFO_META_KEY))

    async def request(
        self, method: str, params: dict[str, Any], *, phase: str, schema: dict | None = None
    ) -> dict[str, Any]:
        """POST one self-contained request (headers mirror the body, as the server checks)."""
        self._next_id += 1
        body_params = {**params, "_meta": self._meta}
        headers = {
            "Accept": ACCEPT_BOTH,
            "MCP-Protocol-Version": STATELESS_VERSION,
            "Mcp-Method": method,
        }
        name_key = _NAME_BEARING.get(method)
        if name_key and isinstance(params.get(name_key), str):
            # Imported here: the SDK costs ~1.7 s to import and only tools/call needs it.
            from mcp.shared.inbound import encode_header_value

            headers["Mcp-Name"] = encode_header_value(params[name_key])
        if method == "tools/call" and schema:
            headers.update(_param_headers(schema, params.get("arguments") or {}))
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": body_params}
        reply = await self.channel.rpc(self.url, message, phase=phase, headers=headers)
        self.url = reply.url
        return reply.result

    async def close(self) -> None:
        """Nothing to end: there is no session."""


class HandshakeSession:
    """Protocol 2024-11-05 … 2025-11-25 over Streamable HTTP: initialize, session id, DELETE."""

    transport = "streamable-http"

    def __init__(self, channel: HttpChannel, url: httpx.URL, clock: PhaseClock) -> None:
        self.channel = channel
        self.url = url
        self.clock = clock
        self.session_id = ""
        self.protocol_version = ""
        self.delete_status: int | None = None  # what the server answered to DELETE, if it was sent
        self._next_id = 0

    async def open(self) -> ServerIdentity:
        """initialize, then notifications/initialized; each its own timed phase."""
        async with self.clock.phase("initialize", "initialize"):
            identity = await self._initialize()
        async with self.clock.phase("initialized", "initialized"):
            message = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await self.channel.notify(
                self.url, message, phase="initialized", headers=self._headers()
            )
        return identity

    async def _initialize(self) -> ServerIdentity:
        self._next_id += 1
        params = {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": CLIENT_INFO,
        }
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": "initialize", "params": params}
        reply = await self.channel.rpc(
            self.url, message, phase="initialize", headers={"Accept": ACCEPT_BOTH}
        )
        self.url = reply.url
        self.session_id = reply.headers.get("mcp-session-id", "")
        version = reply.result.get("protocolVersion")
        if not isinstance(version, str) or not version:
            raise ReplyFailure("initialize", "the initialize result has no protocolVersion")
        self.protocol_version = version
        return identity_from(reply.result, version, reply.result.get("serverInfo"))

    async def request(
        self, method: str, params: dict[str, Any], *, phase: str, schema: dict | None = None
    ) -> dict[str, Any]:
        """POST one request inside the session."""
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        reply = await self.channel.rpc(self.url, message, phase=phase, headers=self._headers())
        return reply.result

    async def close(self) -> None:
        """DELETE the session so the server can free it; a refusal (405) is allowed by the spec."""
        if not self.session_id or self.clock.remaining() <= 0:
            return
        try:
            async with (
                self.clock.phase("close", "close"),
                self.channel.send("DELETE", self.url, phase="close", headers=self._headers()) as (
                    resp,
                    _,
                ),
            ):
                self.delete_status = resp.status_code
        except ProbeFailure:
            pass  # the check already has its answer; a failed goodbye does not change it

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT_BOTH, "MCP-Protocol-Version": self.protocol_version}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        return headers


def _param_headers(schema: dict, arguments: dict[str, Any]) -> dict[str, str]:
    """The `Mcp-Param-*` headers a 2026-07-28 tools/call mirrors from its arguments."""
    from mcp.shared.inbound import mcp_param_headers, x_mcp_header_map

    try:
        return mcp_param_headers(x_mcp_header_map(schema), arguments)
    except (TypeError, ValueError, AttributeError):
        return {}  # a schema the SDK cannot walk declares no usable headers
