"""A forward HTTP proxy on loopback that records what it is asked, for probe tests.

It models what probes meet in front of enterprise networks, strictly:
- `CONNECT host:port` (RFC 9110 §9.3.6): a 2xx answer, then bytes both ways until either side
  closes; a target it cannot reach is a 502 (RFC 9110 §15.6.3).
- An absolute-form request for an `http://` target (RFC 9112 §3.2.2): forwarded in origin-form
  with `Connection: close`, the answer streamed back, then the connection closed (a proxy may
  close after any response, RFC 9112 §9.6). An origin-form request is refused with 400: a proxy
  needs to know where to send it.
- With `credentials` ("user:password"), every request must carry
  `Proxy-Authorization: Basic base64(user:password)` (RFC 7617); otherwise 407 with a
  `Proxy-Authenticate` challenge (RFC 9110 §11.7.1), `Basic realm=...` unless `challenge` names
  another scheme (a proxy asking for Negotiate, which the probe does not do).
- With `hosts` ({name: address}), the proxy resolves those names itself, as a corporate proxy
  with an inside DNS does: they reach servers the client could not find on its own.
Every request head is recorded in `requests` before it is judged.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ProxiedRequest:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)


class ForwardProxy:
    """Use as a context manager: `with ForwardProxy() as proxy: proxy.url ...`."""

    def __init__(
        self,
        credentials: str | None = None,
        challenge: str = 'Basic realm="fleet-proxy"',
        ssl_context: ssl.SSLContext | None = None,
        hosts: dict[str, str] | None = None,
    ) -> None:
        """`ssl_context`: an https:// proxy (TLS between the client and the proxy)."""
        self.ssl_context = ssl_context
        self.hosts = dict(hosts or {})
        self.credentials = credentials
        self.challenge = challenge
        self.requests: list[ProxiedRequest] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def targets(self) -> list[str]:
        return [f"{r.method} {r.target}" for r in self.requests]

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.ssl_context), self._loop
        )
        self._server = future.result(timeout=5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def _address(self, host: str) -> str:
        return self.hosts.get(host.lower(), host)

    # -- one client connection ------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            asyncio.CancelledError,
        ):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        lines = head.split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        self.requests.append(ProxiedRequest(method, target, headers))
        if self.credentials is not None:
            wanted = "Basic " + base64.b64encode(self.credentials.encode()).decode()
            if headers.get("proxy-authorization") != wanted:
                await _answer(
                    writer,
                    "407 Proxy Authentication Required",
                    f"Proxy-Authenticate: {self.challenge}\r\n",
                )
                return
        if method == "CONNECT":
            await self._tunnel(target, reader, writer)
        else:
            await self._forward(method, target, headers, reader, writer)

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self._address(host.strip("[]")), int(port)
            )
        except (OSError, ValueError):
            await _answer(writer, "502 Bad Gateway")
            return
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await _both_ways(reader, writer, up_reader, up_writer)

    async def _forward(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.hostname:
            await _answer(writer, "400 Bad Request")
            return
        body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self._address(parts.hostname), parts.port or 80
            )
        except OSError:
            await _answer(writer, "502 Bad Gateway")
            return
        path = parts.path or "/"
        if parts.query:
            path += f"?{parts.query}"
        hop = {"proxy-authorization", "proxy-connection", "connection", "keep-alive"}
        fields = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k not in hop)
        up_writer.write(f"{method} {path} HTTP/1.1\r\n{fields}Connection: close\r\n\r\n".encode())
        up_writer.write(body)
        await up_writer.drain()
        await _copy(up_reader, writer)
        up_writer.close()


async def _answer(writer: asyncio.StreamWriter, status: str, extra: str = "") -> None:
    writer.write(
        f"HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
    )
    with contextlib.suppress(OSError):
        await writer.drain()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass


async def _both_ways(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    async def one(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        await _copy(src, dst)
        dst.close()

    await asyncio.gather(one(reader, up_writer), one(up_reader, writer))
