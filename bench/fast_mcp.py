"""A fast loopback MCP server for sweep benchmarks: protocol 2026-07-28, stateless, plain JSON.

One asyncio process answers `server/discover` and `tools/list` for every path (`/s/<n>/mcp`, one
endpoint per registered service) with keep-alive HTTP/1.1, so a sweep of 10,000 services measures
the console, not the target. The replies have the shapes the SDK's MCPServer sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import socket
from dataclasses import dataclass

VERSION = "2026-07-28"
TOOLS = [
    {
        "name": "add",
        "description": "Add two integers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "echo",
        "description": "Repeat the text.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
    },
]
DISCOVER = {
    "supportedVersions": [VERSION, "2025-11-25"],
    "capabilities": {"tools": {"listChanged": False}},
    "_meta": {"io.modelcontextprotocol/serverInfo": {"name": "bench", "version": "1.0.0"}},
}


def _reply(body: bytes) -> bytes:
    message = json.loads(body)
    method = message.get("method")
    if method == "server/discover":
        payload = {"jsonrpc": "2.0", "id": message.get("id"), "result": DISCOVER}
    elif method == "tools/list":
        payload = {"jsonrpc": "2.0", "id": message.get("id"), "result": {"tools": TOOLS}}
    else:
        payload = {
            "jsonrpc": "2.0",
            "id": message.get("id"),
            "error": {"code": -32601, "message": "Method not found"},
        }
    data = json.dumps(payload).encode()
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(data)).encode() + b"\r\n\r\n"
    )
    return head + data


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"post"):
                self.transport.write(_reply(body))
            else:
                self.transport.write(
                    b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n"
                )


def _serve(ports: multiprocessing.Queue) -> None:
    logging.disable(logging.WARNING)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    ports.put(sock.getsockname()[1])

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Http, sock=sock, backlog=4096)
        await server.serve_forever()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


@dataclass
class FastServers:
    processes: list[multiprocessing.Process]
    ports: list[int]

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i % len(self.ports)]}/s/{i}/mcp"

    def cpu_s(self) -> float:
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for process in self.processes:
            with open(f"/proc/{process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(5)


def start(count: int = 1) -> FastServers:
    """Start `count` server processes (spawned, so they share nothing with the caller)."""
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()
    processes = [ctx.Process(target=_serve, args=(queue,), daemon=True) for _ in range(count)]
    for process in processes:
        process.start()
    return FastServers(processes, [queue.get(timeout=60) for _ in processes])
