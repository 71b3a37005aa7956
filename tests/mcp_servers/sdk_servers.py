"""Real MCP servers built with the official `mcp` SDK, plus small ASGI wrappers used around them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.types import ASGIApp, Receive, Scope, Send


def demo_server(name: str = "demo", version: str = "1.0.0", instructions: str = "") -> MCPServer:
    """An SDK server with three tools: `add`, `echo` and `fail` (which always reports isError)."""
    server = MCPServer(name, version=version, instructions=instructions or None)

    @server.tool(annotations=types.ToolAnnotations(readOnlyHint=True))
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Repeat the text back."""
        return f"echo: {text}"

    @server.tool()
    def fail(reason: str = "broken") -> str:
        """Always fails."""
        raise ToolError(f"tool failed: {reason}")

    return server


def streamable_app(server: MCPServer | None = None, *, json_response: bool = False) -> ASGIApp:
    """Streamable HTTP app at `/mcp`: answers JSON (`json_response`) or SSE streams."""
    return (server or demo_server()).streamable_http_app(json_response=json_response)


def sse_app(server: MCPServer | None = None) -> ASGIApp:
    """Legacy HTTP+SSE app: `GET /sse`, then `POST /messages/?session_id=...`."""
    return (server or demo_server()).sse_app()


def upgraded_sse_app(server: MCPServer | None = None) -> ASGIApp:
    """A server that moved to Streamable HTTP at its old `/sse` URL and still serves old clients.

    `POST /sse` is the SDK's Streamable HTTP endpoint (so `server/discover` works there), while
    `GET /sse` and `/messages/` stay the SDK's legacy SSE transport; the lifespan is the modern app's,
    which runs its session manager.
    """
    server = server or demo_server()
    modern = server.streamable_http_app(json_response=True)
    legacy = server.sse_app()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await modern(scope, receive, send)
        elif scope["method"] == "POST" and scope["path"] == "/sse":
            await modern({**scope, "path": "/mcp", "raw_path": b"/mcp"}, receive, send)
        else:
            await legacy(scope, receive, send)

    return app


def paginated_app(
    tool_count: int = 7, page_size: int = 3, *, json_response: bool = True
) -> ASGIApp:
    """A low-level SDK server whose tools/list is split into pages linked by `nextCursor`."""
    tools = [
        types.Tool(
            name=f"tool_{i:02d}",
            description=f"Tool number {i}.",
            input_schema={"type": "object", "properties": {"n": {"type": "integer"}}},
        )
        for i in range(tool_count)
    ]

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        start = int(params.cursor) if params and params.cursor else 0
        end = start + page_size
        next_cursor = str(end) if end < len(tools) else None
        return types.ListToolsResult(tools=tools[start:end], next_cursor=next_cursor)

    server = Server("paged", version="0.9.0", on_list_tools=list_tools)
    return server.streamable_http_app(json_response=json_response)


Recorded = dict[str, Any]


class RequestRecorder:
    """ASGI middleware that remembers each request's method, path and headers (for assertions)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.requests: list[Recorded] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.requests.append(
                {"method": scope["method"], "path": scope["path"], "headers": headers}
            )
        await self.app(scope, receive, send)

    def methods(self) -> list[str]:
        """The HTTP methods seen, in order."""
        return [r["method"] for r in self.requests]


def require_header(app: ASGIApp, name: str, value: str) -> ASGIApp:
    """Wrap `app` so every request without `name: value` gets 401, as an API gateway would."""
    wanted = (name.lower().encode(), value.encode())

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or wanted in scope["headers"]:
            await app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b"Bearer"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b'{"error":"unauthorized"}'})

    return guarded


def delayed(app: ASGIApp, delay_s: float, sleep: Callable[[float], Awaitable[None]]) -> ASGIApp:
    """Wrap `app` so each HTTP request waits `delay_s` before it is handled (a stand-in network)."""

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await sleep(delay_s)
        await app(scope, receive, send)

    return slow
