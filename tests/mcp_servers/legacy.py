"""A hand-written handshake-era Streamable HTTP server that behaves like mcp 1.x servers did.

The installed SDK (2.3) always also speaks 2026-07-28, so servers that only know 2024-11-05,
2025-03-26 or 2025-06-18 are emulated here, replying exactly as the old SDK did: no session id on
a non-initialize POST is 400 "Missing session ID", an unknown one 404, DELETE ends the session.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import Receive, Scope, Send

OLD_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18")
Tool = dict[str, Any]


def default_tools() -> list[Tool]:
    """Two tools in wire form."""
    return [
        {
            "name": "lookup",
            "description": "Look up a record by id.",
            "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}},
            "annotations": {"readOnlyHint": True},
        },
        {
            "name": "ping_db",
            "description": "Check the database answers.",
            "inputSchema": {"type": "object", "properties": {}},
        },
    ]


class LegacyStreamableServer:
    """ASGI app at any path; `tools` may be a callable so the list can change between calls."""

    def __init__(
        self,
        protocol_version: str = "2025-03-26",
        *,
        sse_responses: bool = False,
        tools: list[Tool] | Callable[[], list[Tool]] | None = None,
        page_size: int = 0,
        name: str = "legacy-server",
        version: str = "0.4.2",
    ) -> None:
        self.protocol_version = protocol_version
        self.sse_responses = sse_responses
        self._tools = tools if tools is not None else default_tools()
        self.page_size = page_size
        self.name, self.version = name, version
        self.sessions: set[str] = set()
        self.deleted: list[str] = []
        self.requests: list[dict[str, Any]] = []  # method, rpc method, headers

    def tools(self) -> list[Tool]:
        """The tools as listed right now."""
        return self._tools() if callable(self._tools) else self._tools

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body = await _body(receive)
        record: dict[str, Any] = {"method": scope["method"], "headers": headers, "rpc": None}
        self.requests.append(record)
        session = headers.get("mcp-session-id", "")
        if scope["method"] == "DELETE":
            if session in self.sessions:
                self.sessions.discard(session)
                self.deleted.append(session)
                await _send(send, 200, b"", "text/plain")
            else:
                await _send(send, 404, b"Session not found", "text/plain")
            return
        if scope["method"] != "POST":
            await _send(send, 405, b"Method Not Allowed", "text/plain")
            return
        accept = headers.get("accept", "")
        if "application/json" not in accept or "text/event-stream" not in accept:
            await self._error(send, 406, None, -32600, "Not Acceptable: Client must accept both")
            return
        try:
            message = json.loads(body)
        except ValueError:
            await self._error(send, 400, None, -32700, "Parse error")
            return
        record["rpc"] = message.get("method")
        if message.get("method") == "initialize":
            session = uuid.uuid4().hex
            self.sessions.add(session)
            await self._reply(send, message, self._initialize_result(), session)
            return
        if not session:
            await self._error(send, 400, None, -32600, "Bad Request: Missing session ID")
            return
        if session not in self.sessions:
            await self._error(send, 404, None, -32600, "Session not found")
            return
        version = headers.get("mcp-protocol-version")
        if version is not None and version not in (*OLD_VERSIONS, self.protocol_version):
            await self._error(
                send, 400, None, -32600, f"Bad Request: Unsupported protocol version: {version}"
            )
            return
        if "id" not in message:
            await _send(send, 202, b"", "application/json")
            return
        await self._handle(send, message, session)

    async def _handle(self, send: Send, message: dict[str, Any], session: str) -> None:
        method, params = message.get("method"), message.get("params") or {}
        if method == "tools/list":
            await self._reply(send, message, self._tools_page(params.get("cursor")), session)
        elif method == "tools/call":
            text = f"{params.get('name')} ok: {json.dumps(params.get('arguments') or {})}"
            result = {"content": [{"type": "text", "text": text}], "isError": False}
            await self._reply(send, message, result, session)
        elif method == "ping":
            await self._reply(send, message, {}, session)
        else:
            await self._error(send, 200, message.get("id"), -32601, "Method not found")

    def _initialize_result(self) -> dict[str, Any]:
        return {
            "protocolVersion": self.protocol_version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": self.name, "version": self.version},
            "instructions": "An old server.",
        }

    def _tools_page(self, cursor: str | None) -> dict[str, Any]:
        tools = self.tools()
        if not self.page_size:
            return {"tools": tools}
        start = int(cursor or 0)
        end = start + self.page_size
        page: dict[str, Any] = {"tools": tools[start:end]}
        if end < len(tools):
            page["nextCursor"] = str(end)
        return page

    async def _reply(self, send: Send, message: dict[str, Any], result: Any, session: str) -> None:
        payload = {"jsonrpc": "2.0", "id": message.get("id"), "result": result}
        data = json.dumps(payload).encode()
        extra = [(b"mcp-session-id", session.encode())]
        if self.sse_responses:
            await _send(
                send,
                200,
                b"event: message\r\ndata: " + data + b"\r\n\r\n",
                "text/event-stream",
                extra,
            )
        else:
            await _send(send, 200, data, "application/json", extra)

    async def _error(self, send: Send, status: int, rid: Any, code: int, text: str) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": text}})
        await _send(send, status, body.encode(), "application/json")


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
