"""An MCP server that speaks only HTTP/2, on loopback, for the probe's httpx fallback.

Some deployments answer only HTTP/2 (gRPC-style gateways, h2-only ingress listeners). This fake
behaves like them, using the `h2` protocol library:
- With TLS it offers ALPN `h2` only and speaks HTTP/2 whatever the client offered: it sends its
  connection preface, a SETTINGS frame, first (RFC 9113 §3.4), and a client that sends HTTP/1.1
  gets a GOAWAY with PROTOCOL_ERROR (RFC 9113 §5.4.1) and the connection closed.
- Without TLS it is an HTTP/2 server by prior knowledge (RFC 9113 §3.3), with the same answer to
  HTTP/1.1.
It answers the session-era Streamable HTTP handshake the way the MCP SDK's servers do with
`json_response=True`: `server/discover` is an unknown method (-32601), `initialize` gives an
`Mcp-Session-Id`, `notifications/initialized` is 202, `tools/list` lists one tool, DELETE ends the
session. Every request is recorded as (method, path, JSON-RPC method).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

SESSION = "h2-session-1"
TOOLS = [{"name": "echo", "description": "Echo text.", "inputSchema": {"type": "object"}}]


class H2OnlyMcpServer:
    """Use as a context manager; `url` is the MCP endpoint."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        if ssl_context is not None:
            ssl_context.set_alpn_protocols(["h2"])
        self.requests: list[tuple[str, str, str]] = []
        self.http1_refused = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}/mcp"

    def __enter__(self) -> H2OnlyMcpServer:
        self._thread.start()
        start = asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        heads: dict[int, dict[str, str]] = {}
        bodies: dict[int, bytes] = {}
        try:
            while data := await reader.read(65536):
                try:
                    events = conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    self.http1_refused += 1
                    conn.close_connection(error_code=h2.errors.ErrorCodes.PROTOCOL_ERROR)
                    writer.write(conn.data_to_send())
                    await writer.drain()
                    return
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        heads[event.stream_id] = dict(event.headers)
                        bodies[event.stream_id] = b""
                    elif isinstance(event, h2.events.DataReceived):
                        bodies[event.stream_id] += event.data
                        conn.acknowledge_received_data(len(event.data), event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        sid = event.stream_id
                        self._respond(conn, heads.pop(sid), bodies.pop(sid), sid)
                writer.write(conn.data_to_send())
                await writer.drain()
        except (OSError, ssl.SSLError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _respond(self, conn: h2.connection.H2Connection, head: dict, body: bytes, sid: int) -> None:
        method, path = head.get(":method", ""), head.get(":path", "")
        if method == "DELETE":
            self.requests.append((method, path, ""))
            return _send(conn, sid, 200, b"")
        try:
            message = json.loads(body)
        except ValueError:
            return _send(conn, sid, 400, b"")
        rpc = message.get("method", "")
        self.requests.append((method, path, rpc))
        if "id" not in message:
            return _send(conn, sid, 202, b"")
        if rpc == "initialize":
            result = {
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "h2-only", "version": "1.0"},
            }
            return _send(conn, sid, 200, _reply(message["id"], result), session=True)
        if rpc == "tools/list":
            return _send(conn, sid, 200, _reply(message["id"], {"tools": TOOLS}))
        error = {"jsonrpc": "2.0", "id": message["id"], "error": {"code": -32601, "message": "?"}}
        return _send(conn, sid, 200, json.dumps(error).encode())


def _reply(request_id: object, result: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "result": result}).encode()


def _send(
    conn: h2.connection.H2Connection, sid: int, status: int, body: bytes, session: bool = False
) -> None:
    headers = [(":status", str(status)), ("content-length", str(len(body)))]
    if body:
        headers.append(("content-type", "application/json"))
    if session:
        headers.append(("mcp-session-id", SESSION))
    conn.send_headers(sid, headers, end_stream=not body)
    if body:
        conn.send_data(sid, body, end_stream=True)
