"""A lean HTTP/1.1 client for probes: asyncio streams and `h11`, connections owned by one probe.

Why not httpx here: its per-request machinery (request/response models, httpcore's pool and
tracing, anyio cancel scopes around every read and write) cost about 0.9 ms of CPU per request on
this kind of machine, more than the whole per-handshake budget. A probe needs much less: a few
requests to one origin, one after another (two at once for legacy SSE), on connections it opens
itself and closes when it ends. So:

- `ProbeClient` carries the TLS configuration a sweep shares (built once: ~30 ms of CPU each).
- `Connections` belongs to one probe: keep-alive per origin between its requests, a second
  connection only while the first is busy (an open SSE stream), everything closed at the end, so
  the server is not left holding idle sockets and the next probe measures its own connect.
- Time limits are not the transport's business: the probe's phase clock cancels whatever is
  waiting, and a connection cancelled mid-exchange is closed, never reused.
- No proxies, cookies, redirects or compression negotiation: redirects have their own same-host
  policy in `wire`; no `Accept-Encoding` is sent, and a gzip/deflate body sent anyway is decoded.
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import time
import zlib
from collections.abc import AsyncIterator

import h11
import httpx

READ_SIZE = 64 * 1024
_MAX_HEADER_BYTES = 64 * 1024
_REDIRECTS = frozenset((301, 302, 303, 307, 308))


class HttpError(Exception):
    """A transport failure; `wire` turns it into a ProbeFailure naming the phase."""


class ConnectError(HttpError):
    """The TCP connection or TLS handshake could not be made."""


class ProtocolError(HttpError):
    """The server broke HTTP/1.1 or closed the connection mid-exchange."""


class NetworkError(HttpError):
    """The connection failed while reading or writing."""


class ProbeClient:
    """What a sweep shares between its probes: the TLS settings and connection counters.

    Use as `async with ProbeClient() as client:` (or `make_client` in `sweep`); nothing is pooled
    across probes, so closing it only marks the end of the sweep.
    """

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl_context = ssl_context
        self.opened = 0  # connections opened so far
        self.open_now = 0  # connections currently open

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The verifying TLS context for https targets, created on first use."""
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def connections(self) -> Connections:
        """A fresh set of connections for one probe; close it with `aclose()`."""
        return Connections(self)

    async def __aenter__(self) -> ProbeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Nothing to release: every probe closes its own connections."""


class _Connection:
    __slots__ = ("reader", "writer", "h11", "busy", "client")

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: ProbeClient
    ) -> None:
        self.reader, self.writer, self.client = reader, writer, client
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)
        self.busy = False

    def reusable(self) -> bool:
        return (
            self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and not self.writer.is_closing()
            and not self.reader.at_eof()
        )

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
            self.client.open_now -= 1

    async def next_event(self) -> object:
        """The next h11 event, reading from the socket as needed."""
        conn = self.h11
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise ProtocolError(f"invalid HTTP from the server ({exc})") from None
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.reader.read(READ_SIZE)
            except OSError as exc:
                raise NetworkError(_os_text(exc)) from None
            try:
                conn.receive_data(data)
            except h11.RemoteProtocolError as exc:
                raise ProtocolError(f"invalid HTTP from the server ({exc})") from None


class Connections:
    """The connections of one probe, kept alive between its requests, closed by `aclose`."""

    def __init__(self, client: ProbeClient) -> None:
        self.client = client
        self._by_origin: dict[tuple[str, str, int], list[_Connection]] = {}
        self.connected = False  # a TCP (and TLS) connection was made
        self.connect_ms: float | None = None  # set-up time of the first connection

    async def send(
        self,
        method: str,
        url: httpx.URL,
        headers: list[tuple[str, str]],
        body: bytes | None = None,
    ) -> Response:
        """Send one request and return once the response headers are in (body still streamed)."""
        conn = await self._connection(url)
        conn.busy = True
        try:
            request_headers = [("Host", url.netloc.decode("ascii")), *headers]
            if body is not None:
                request_headers.append(("Content-Length", str(len(body))))
            h = conn.h11
            data = h.send(h11.Request(method=method, target=url.raw_path, headers=request_headers))
            if body:
                data += h.send(h11.Data(data=body))
            data += h.send(h11.EndOfMessage())
            conn.writer.write(data)
            while True:
                event = await conn.next_event()
                if isinstance(event, h11.Response):
                    return Response(conn, event, url)
                if isinstance(event, h11.ConnectionClosed):
                    raise ProtocolError("Server disconnected without sending a response.")
                # an InformationalResponse (1xx): keep reading
        except BaseException:
            conn.close()
            conn.busy = False
            raise

    async def _connection(self, url: httpx.URL) -> _Connection:
        scheme = url.scheme
        port = url.port or (443 if scheme == "https" else 80)
        origin = (scheme, url.host, port)
        pool = self._by_origin.setdefault(origin, [])
        for conn in pool:
            if not conn.busy:
                if conn.reusable():
                    return conn
                conn.close()
        pool[:] = [c for c in pool if c.busy]
        conn = await self._open(url.host, port, scheme == "https")
        pool.append(conn)
        return conn

    async def _open(self, host: str, port: int, tls: bool) -> _Connection:
        started = time.perf_counter()
        where = f"{host}:{port}"
        try:
            if tls:
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=self.client.ssl_context, server_hostname=host
                )
            else:
                reader, writer = await asyncio.open_connection(host, port)
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS handshake with {where} failed ({exc})") from None
        except OSError as exc:
            if _refused(exc):
                raise ConnectError(f"connection refused by {where}") from None
            raise ConnectError(f"could not connect to {where} ({_os_text(exc)})") from None
        if self.connect_ms is None:
            self.connect_ms = (time.perf_counter() - started) * 1000
        self.connected = True
        self.client.opened += 1
        self.client.open_now += 1
        return _Connection(reader, writer, self.client)

    async def aclose(self) -> None:
        """Close every connection of this probe."""
        for pool in self._by_origin.values():
            for conn in pool:
                conn.close()
        self._by_origin.clear()


class Response:
    """Status and headers of a response whose body is read with `aiter_bytes` (once)."""

    __slots__ = ("_conn", "status_code", "reason_phrase", "headers", "url", "_done")

    def __init__(self, conn: _Connection, event: h11.Response, url: httpx.URL) -> None:
        self._conn = conn
        self.status_code: int = event.status_code
        self.reason_phrase = event.reason.decode("latin-1")
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")  # h11 lowercases names
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self.headers = headers
        self.url = url
        self._done = False

    @property
    def is_redirect(self) -> bool:
        """A redirect status with somewhere to go."""
        return self.status_code in _REDIRECTS and "location" in self.headers

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (decoded if the server compressed it unasked)."""
        decoder = _decoder(self.headers.get("content-encoding", ""))
        conn = self._conn
        while not self._done:
            event = await conn.next_event()
            if isinstance(event, h11.Data):
                if decoder is None:
                    yield bytes(event.data)
                    continue
                try:
                    chunk = decoder.decompress(event.data, READ_SIZE)
                    while chunk:
                        yield chunk
                        chunk = decoder.decompress(decoder.unconsumed_tail, READ_SIZE)
                except zlib.error as exc:
                    raise ProtocolError(f"the compressed body is corrupt ({exc})") from None
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
            else:  # ConnectionClosed mid-body is a RemoteProtocolError from h11 already
                raise ProtocolError("the server closed the connection mid-body")

    async def drain(self, limit: int) -> None:
        """Read and drop the rest of a body declared to be at most `limit` bytes (best effort)."""
        declared = self.headers.get("content-length", "")
        if self._done or not declared.isdigit() or int(declared) > limit:
            return
        try:
            async for _ in self.aiter_bytes():
                pass
        except HttpError:
            pass  # not reusable then; aclose() closes it

    async def aclose(self) -> None:
        """Release the connection: kept for the probe's next request if this exchange finished."""
        conn = self._conn
        if not conn.busy:
            return
        conn.busy = False
        if not self._done:
            self._finish_buffered()
        if self._done and conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
            try:
                conn.h11.start_next_cycle()
                return
            except h11.LocalProtocolError:
                pass
        conn.close()  # unread body, cancelled exchange or "Connection: close": not reusable

    def _finish_buffered(self) -> None:
        """Consume an unread body that has already arrived in full (a 202's empty one, say)."""
        try:
            while True:
                event = self._conn.h11.next_event()
                if isinstance(event, h11.EndOfMessage):
                    self._done = True
                    return
                if not isinstance(event, h11.Data):
                    return  # NEED_DATA: the rest is still on the wire; not worth waiting for
        except h11.RemoteProtocolError:
            return


def _decoder(encoding: str) -> zlib._Decompress | None:  # type: ignore[name-defined]
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None


def _refused(exc: OSError) -> bool:
    if exc.errno == errno.ECONNREFUSED:
        return True
    return "refused" in str(exc).lower() or "connect call failed" in str(exc).lower()


def _os_text(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
