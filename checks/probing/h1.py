"""A lean HTTP/1.1 client for probes: asyncio streams, connections owned by one probe.

Why not httpx here: its per-request machinery (request/response models, httpcore's pool and
tracing, anyio cancel scopes around every read and write) cost about 0.9 ms of CPU per request on
this kind of machine, more than the whole per-handshake budget; even `h11`'s event machinery costs
~0.18 ms per exchange. A probe needs much less: a few requests to one origin, one after another
(two at once for legacy SSE), on connections it opens itself and closes when it ends. So:

- `ProbeClient` carries the TLS configuration a sweep shares (built once: ~30 ms of CPU each).
- `Connections` belongs to one probe: keep-alive per origin between its requests, a second
  connection only while the first is busy (an open SSE stream), everything closed at the end, so
  the server is not left holding idle sockets and the next probe measures its own connect.
- The wire format is the small, strict subset of RFC 9112 a client needs: a request with a
  Content-Length body; a response framed by Content-Length, chunked transfer coding or the end of
  the connection; 1xx responses skipped; anything malformed is a `ProtocolError`, never a guess.
- Time limits are not the transport's business: the probe's phase clock cancels whatever is
  waiting, and a connection cancelled mid-exchange is closed, never reused.
- Proxies (`network.ProxyRoute`, an http:// proxy): HTTPS targets through a CONNECT tunnel
  (RFC 9110 §9.3.6) and then TLS inside it; HTTP targets as absolute-form requests
  (RFC 9112 §3.2.2) on a connection to the proxy. Basic Proxy-Authorization when configured.
- Per-service TLS (`network.TlsSettings`): CA bundle, client certificate, through cached contexts.
  ALPN offers only `http/1.1`; a server that speaks only HTTP/2 is recognised (its SETTINGS frame,
  or a `no_application_protocol` alert) and raised as `Unsupported`, so the caller can fall back
  to the httpx path for that service.
- No cookies, redirects or compression negotiation: redirects have their own same-host
  policy in `wire`; no `Accept-Encoding` is sent, and a gzip/deflate body sent anyway is decoded.
- Every connection obeys the egress policy (`console.egress`): the host is resolved once, every
  address is checked, and the socket goes to a checked address with the name kept for SNI/Host.
  Through a proxy, the proxy's address is checked the same way and the target is checked by
  `EgressPolicy.proxied_target` (the proxy resolves the name; see there).
"""

from __future__ import annotations

import asyncio
import errno
import re
import ssl
import time
import zlib
from collections.abc import AsyncIterator
from http import HTTPStatus
from typing import Any

import httpx

from checks.probing.errors import host_port
from checks.probing.network import DEFAULT_NETWORK, ProbeNetwork, ProxyRoute
from checks.probing.network import ssl_context as tls_context

try:  # decodes `br` bodies when the optional library is installed
    import brotli

    _BrotliError: type[Exception] = brotli.error
except ImportError:  # pragma: no cover - depends on the installation
    brotli = None
    _BrotliError = zlib.error
from console.egress import EgressPolicy, EgressRefused, current

READ_SIZE = 64 * 1024
_HIGH_WATER = 1 << 20  # received but unconsumed bytes before reading pauses
MAX_HEAD_BYTES = 64 * 1024  # status line + headers of one response
_MAX_CHUNK_LINE = 4096
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_NO_BODY = frozenset((204, 304))
_TOKEN_CHARS = b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class HttpError(Exception):
    """A transport failure; `wire` turns it into a ProbeFailure naming the phase."""


class ConnectError(HttpError):
    """The TCP connection or TLS handshake could not be made."""


class ProtocolError(HttpError):
    """The server broke HTTP/1.1 or closed the connection mid-exchange."""


class NetworkError(HttpError):
    """The connection failed while reading or writing."""


class RequestError(HttpError):
    """The request itself cannot be sent (a header value HTTP cannot carry)."""


class EgressError(ConnectError):
    """The egress policy refused the destination; nothing was connected."""


class Unsupported(ConnectError):
    """The server needs something this client does not do; `reason` says what (the httpx path
    does it)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class CertificateError(ConnectError):
    """The server's certificate did not verify against the trust in use."""


class ProxyError(ConnectError):
    """The proxy refused or could not open the way to the target."""


class ProbeClient:
    """What a sweep shares between its probes: the TLS settings and connection counters.

    Use as `async with ProbeClient() as client:` (or `make_client` in `sweep`); nothing is pooled
    across probes, so closing it only marks the end of the sweep.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext | None = None, egress: EgressPolicy | None = None
    ) -> None:
        self._ssl_context = ssl_context
        self.egress = egress or current()  # the policy every connection is checked against
        self.opened = 0  # connections opened so far
        self.open_now = 0  # connections currently open
        self._httpx: dict[tuple[ProbeNetwork, bool], httpx.AsyncClient] = {}

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The verifying TLS context for https targets with default settings."""
        if self._ssl_context is None:
            self._ssl_context = tls_context(DEFAULT_NETWORK.tls)
        return self._ssl_context

    def context_for(self, network: ProbeNetwork) -> ssl.SSLContext:
        """The TLS context for a service's settings (the client's own for the defaults)."""
        if network.tls.default:
            return self.ssl_context
        return tls_context(network.tls)

    def connections(self, network: ProbeNetwork = DEFAULT_NETWORK) -> Connections:
        """A fresh set of connections for one probe; close it with `aclose()`."""
        return Connections(self, network)

    def httpx_client(
        self, network: ProbeNetwork, prior_knowledge: bool = False
    ) -> httpx.AsyncClient:
        """The httpx fallback for services with `network`'s settings: HTTP/2 (ALPN, or prior
        knowledge for cleartext h2-only servers), the same TLS trust and client certificate,
        the same proxy. One per distinct settings per sweep, closed with this client."""
        key = (network, prior_knowledge)
        client = self._httpx.get(key)
        if client is None:
            proxy = None
            if network.proxy is not None:
                auth = network.proxy.authorization
                # TLS to an https:// proxy is verified with the service's trust (its CA bundle,
                # else the system's): a corporate proxy's certificate is usually the private CA's.
                https = network.proxy.scheme == "https"
                proxy = httpx.Proxy(
                    network.proxy.url,
                    headers={"Proxy-Authorization": auth} if auth else None,
                    ssl_context=tls_context(network.tls, alpn=()) if https else None,
                )
            client = self._httpx[key] = httpx.AsyncClient(
                verify=tls_context(network.tls, alpn=()),
                http1=not prior_knowledge,
                http2=True,
                proxy=proxy,
                trust_env=False,  # the route was decided already (network.proxy)
                timeout=None,  # the probe's phase clock bounds every wait
            )
        return client

    async def __aenter__(self) -> ProbeClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the httpx fallback clients; every probe closes its own lean connections."""
        clients, self._httpx = list(self._httpx.values()), {}
        for client in clients:
            await client.aclose()


class _Connection(asyncio.Protocol):
    """One socket, as an asyncio protocol: received bytes pile up in `buffer` until consumed.

    A protocol rather than asyncio streams: one object per connection instead of three, and a
    read is one future per wake-up. Reading pauses while more than `_HIGH_WATER` bytes wait.
    """

    def __init__(self, client: ProbeClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.busy = False
        self.closed = False
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self.first_bytes = b""  # the start of what the server sent first (recognises HTTP/2)

    # -- asyncio.Protocol callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.first_bytes:
            self.first_bytes = bytes(data[:9])
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # let the transport close

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        self._error = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the client ----------------------------------------------------------------------

    def reusable(self) -> bool:
        # Bytes nobody asked for, or a peer that hung up: start afresh on a new connection.
        transport = self.transport
        return not (
            self.closed or self.buffer or self._eof or transport is None or transport.is_closing()
        )

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.client.open_now -= 1

    def close_unopened(self) -> None:
        """Close a connection that failed while being set up (never counted as open)."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    async def receive(self) -> bool:
        """Wait until more bytes are in the buffer; False at end of stream."""
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        before = len(self.buffer)
        while len(self.buffer) == before:
            if self._eof:
                if self._error is not None:
                    raise NetworkError(_os_text(self._error))
                return False
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return True

    async def read_line(self, limit: int, what: str) -> bytes:
        """One CRLF (or LF) terminated line, without its terminator."""
        buffer = self.buffer
        while (end := buffer.find(b"\n")) < 0:
            if len(buffer) > limit:
                raise ProtocolError(f"the {what} is longer than {limit} bytes")
            if not await self.receive():
                raise ProtocolError(f"the server closed the connection mid-{what}")
        line = bytes(buffer[:end])
        del buffer[: end + 1]
        return line[:-1] if line.endswith(b"\r") else line

    async def read_head(self) -> bytes:
        """Status line and headers, up to the blank line."""
        buffer = self.buffer
        scanned = 0
        while True:
            end = buffer.find(b"\r\n\r\n", scanned)
            lf_end = buffer.find(b"\n\n", scanned)
            if lf_end >= 0 and (end < 0 or lf_end < end):
                head, rest = bytes(buffer[:lf_end]), lf_end + 2
                break
            if end >= 0:
                head, rest = bytes(buffer[:end]), end + 4
                break
            if len(buffer) > MAX_HEAD_BYTES:
                raise ProtocolError(f"the response headers exceed {MAX_HEAD_BYTES // 1024} KiB")
            scanned = max(0, len(buffer) - 3)
            if not await self.receive():
                if buffer:
                    raise ProtocolError("the server closed the connection mid-headers")
                raise ProtocolError("Server disconnected without sending a response.")
        if len(head) > MAX_HEAD_BYTES:  # the end arrived in the same read as the excess
            raise ProtocolError(f"the response headers exceed {MAX_HEAD_BYTES // 1024} KiB")
        del buffer[:rest]
        return head


class Connections:
    """The connections of one probe, kept alive between its requests, closed by `aclose`."""

    def __init__(self, client: ProbeClient, network: ProbeNetwork = DEFAULT_NETWORK) -> None:
        self.client = client
        self.egress = client.egress
        self.network = network
        self.proxy = network.proxy
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
        via = self.proxy if self.proxy is not None and url.scheme == "http" else None
        if via is not None and via.authorization:
            headers = [*headers, ("Proxy-Authorization", via.authorization)]
        request = _encode_request(method, url, headers, body, absolute=via is not None)
        conn = await self._connection(url)
        conn.busy = True
        try:
            conn.write(request)
            while True:
                status, reason, fields, keep_alive = _parse_head(await conn.read_head())
                if status >= 200 or status == 101:
                    if via is not None and status == 407:
                        raise _proxy_refusal(via, status, reason, fields, "forward the request")
                    return Response(conn, status, reason, fields, keep_alive, url, method)
                # 1xx (100 Continue, 103 Early Hints): the real response follows
        except ProtocolError as exc:
            conn.busy = False
            conn.close()
            if _speaks_http2(conn.first_bytes):
                raise _http2_only(url) from None
            raise exc from None
        except BaseException:
            conn.busy = False
            conn.close()
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

    async def open_tls(self, host: str, port: int, context: ssl.SSLContext) -> _Connection:
        """A TLS connection with `context` the way this probe's connections go (TLS checks);
        closed with the others by `aclose`."""
        conn = await self._open(host, port, True, context)
        self._by_origin.setdefault(("tls-check", host, port), []).append(conn)
        return conn

    async def _open(
        self, host: str, port: int, tls: bool, context: ssl.SSLContext | None = None
    ) -> _Connection:
        started = time.perf_counter()
        where = host_port(host, port)
        conn = _Connection(self.client)
        if tls and context is None:
            context = self.client.context_for(self.network)
        proxy = self.proxy
        if proxy is not None and proxy.scheme != "http":
            raise Unsupported(
                f"{proxy.describe()} is reached over TLS, which the lean client does not do",
                self.network.httpx_reason(),
            )
        if proxy is None:
            await self._connect(conn, host, port, context, host)
        else:
            await self._check_proxied(host, port)
            await self._connect(conn, proxy.host, proxy.port, None, None, proxy)
            if tls:
                try:
                    await self._tunnel(conn, host, port, proxy)
                except BaseException:
                    conn.close_unopened()
                    raise
        if context is not None and proxy is not None:
            try:
                await self._start_tls(conn, context, host, where)
            except BaseException:
                conn.close_unopened()
                raise
        if self.connect_ms is None:
            self.connect_ms = (time.perf_counter() - started) * 1000
        self.connected = True
        self.client.opened += 1
        self.client.open_now += 1
        return conn

    async def _connect(
        self,
        conn: _Connection,
        host: str,
        port: int,
        context: ssl.SSLContext | None,
        server_hostname: str | None,
        proxy: ProxyRoute | None = None,
    ) -> None:
        """TCP (and TLS when `context`) to a checked address of `host`, never re-resolved."""
        where = host_port(host, port)
        what = f"the proxy {where}" if proxy is not None else where
        loop = asyncio.get_running_loop()
        try:
            # Resolve once and check every address; connect to a checked one, never re-resolve.
            addresses = await self.client.egress.resolve_async(host, port)
        except EgressRefused as exc:
            prefix = f"{proxy.describe()}: " if proxy is not None else ""
            raise EgressError(f"{prefix}{exc}") from None
        except OSError as exc:
            raise ConnectError(f"could not resolve {what} ({_os_text(exc)})") from None
        for index, address in enumerate(addresses):
            try:
                await loop.create_connection(
                    lambda: conn,
                    address,
                    port,
                    ssl=context,
                    server_hostname=server_hostname if context is not None else None,
                )
                return
            except ssl.SSLCertVerificationError as exc:
                raise CertificateError(f"TLS handshake with {where} failed ({exc})") from None
            except ssl.SSLError as exc:
                if _no_application_protocol(exc):
                    raise _http2_only_tls(where) from None
                raise ConnectError(f"TLS handshake with {where} failed ({exc})") from None
            except OSError as exc:
                if index + 1 < len(addresses):
                    continue  # the next address the name resolved to
                if _refused(exc):
                    raise ConnectError(f"connection refused by {what}") from None
                raise ConnectError(f"could not connect to {what} ({_os_text(exc)})") from None

    async def _check_proxied(self, host: str, port: int) -> None:
        try:
            await self.client.egress.proxied_target_async(host, port)
        except EgressRefused as exc:
            raise EgressError(
                f"{exc} (through {self.proxy.describe() if self.proxy else ''})"
            ) from None

    async def _tunnel(self, conn: _Connection, host: str, port: int, proxy: ProxyRoute) -> None:
        """CONNECT host:port through the proxy (RFC 9110 §9.3.6); a 2xx opens the tunnel."""
        authority = host_port(host, port)
        auth = f"Proxy-Authorization: {proxy.authorization}\r\n" if proxy.authorization else ""
        conn.write(
            f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{auth}\r\n".encode("latin-1")
        )
        try:
            status, reason, fields, _ = _parse_head(await conn.read_head())
        except ProtocolError as exc:
            raise ProxyError(f"{proxy.describe()} broke HTTP answering CONNECT ({exc})") from None
        if not 200 <= status < 300:
            raise _proxy_refusal(proxy, status, reason, fields, f"open a tunnel to {authority}")
        if conn.buffer:  # bytes before our TLS handshake: not a clean tunnel
            raise ProxyError(f"{proxy.describe()} sent data after its CONNECT answer")
        conn.first_bytes = b""  # what the target sends first comes next

    async def _start_tls(
        self, conn: _Connection, context: ssl.SSLContext, host: str, where: str
    ) -> None:
        """TLS with the target inside the tunnel; the protocol object carries on over it."""
        loop = asyncio.get_running_loop()
        assert conn.transport is not None
        try:
            transport = await loop.start_tls(conn.transport, conn, context, server_hostname=host)
        except ssl.SSLCertVerificationError as exc:
            raise CertificateError(
                f"TLS handshake with {where} (through {self.proxy.describe() if self.proxy else ''}) "
                f"failed ({exc})"
            ) from None
        except ssl.SSLError as exc:
            if _no_application_protocol(exc):
                raise _http2_only_tls(where) from None
            raise ConnectError(
                f"TLS handshake with {where} (through {self.proxy.describe() if self.proxy else ''}) "
                f"failed ({exc})"
            ) from None
        except (OSError, ConnectionError) as exc:
            raise ConnectError(
                f"the tunnel to {where} closed during TLS ({_os_text(exc)})"
            ) from None
        conn.transport = transport  # type: ignore[assignment]

    async def aclose(self) -> None:
        """Close every connection of this probe."""
        for pool in self._by_origin.values():
            for conn in pool:
                conn.close()
        self._by_origin.clear()


class Response:
    """Status and headers of a response whose body is read with `aiter_bytes` (once)."""

    __slots__ = (
        "_conn",
        "status_code",
        "reason_phrase",
        "headers",
        "url",
        "_keep_alive",
        "_framing",
        "_remaining",
        "_done",
        "_chunked_once",
    )

    def __init__(
        self,
        conn: _Connection,
        status: int,
        reason: str,
        headers: dict[str, str],
        keep_alive: bool,
        url: httpx.URL,
        method: str,
    ) -> None:
        self._conn = conn
        self.status_code = status
        self.reason_phrase = reason
        self.headers = headers  # lowercase names; repeated fields joined with ", "
        self.url = url
        self._keep_alive = keep_alive
        self._remaining = 0
        self._done = False
        self._chunked_once = False
        if method == "HEAD" or status in _NO_BODY or status == 101:
            self._framing = "none"
            self._done = True
        elif "transfer-encoding" in headers:
            codings = [c.strip().lower() for c in headers["transfer-encoding"].split(",")]
            if codings[-1] != "chunked":
                self._framing, self._keep_alive = "close", False
            else:
                self._framing = "chunked"
        elif "content-length" in headers:
            self._framing = "length"
            self._remaining = _content_length(headers["content-length"])
            self._done = self._remaining == 0
        else:
            self._framing, self._keep_alive = "close", False

    @property
    def is_redirect(self) -> bool:
        """A redirect status with somewhere to go."""
        return self.status_code in _REDIRECTS and "location" in self.headers

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body as it arrives (decoded if the server compressed it unasked: gzip, deflate
        zlib-wrapped or raw, br when the brotli library is installed, stacked codings)."""
        stages = _decoders(self.headers.get("content-encoding", ""))
        async for raw in self._raw_body():
            if not stages:
                yield raw
                continue
            try:
                if len(stages) == 1:
                    decoder = stages[0]
                    chunk = decoder.decompress(raw, READ_SIZE)
                    while chunk:
                        yield chunk
                        chunk = decoder.decompress(decoder.unconsumed_tail, READ_SIZE)
                    continue
                for decoder in stages:  # stacked: outermost coding first, each bounded
                    raw = decoder.decompress(raw, _STACKED_LIMIT)
                    if decoder.unconsumed_tail:
                        raise ProtocolError("the compressed body expands too far")
                if raw:
                    yield raw
            except (zlib.error, _BrotliError) as exc:
                raise ProtocolError(f"the compressed body is corrupt ({exc})") from None

    async def _raw_body(self) -> AsyncIterator[bytes]:
        conn = self._conn
        buffer = conn.buffer
        if self._framing == "length":
            while self._remaining > 0:
                if not buffer and not await conn.receive():
                    raise ProtocolError("the server closed the connection mid-body")
                piece = bytes(buffer[: self._remaining])
                del buffer[: len(piece)]
                self._remaining -= len(piece)
                yield piece
            self._done = True
        elif self._framing == "chunked":
            while not self._done:
                if self._remaining == 0:
                    size = await self._chunk_size()
                    if size == 0:
                        await self._skip_trailers()
                        self._done = True
                        return
                    self._remaining = size
                if not buffer and not await conn.receive():
                    raise ProtocolError("the server closed the connection mid-body")
                piece = bytes(buffer[: self._remaining])
                del buffer[: len(piece)]
                self._remaining -= len(piece)
                yield piece
        elif self._framing == "close":
            while True:
                if buffer:
                    piece = bytes(buffer)
                    buffer.clear()
                    yield piece
                if not await conn.receive():
                    self._done = True
                    return

    async def _chunk_size(self) -> int:
        """The next chunk's size, after the CRLF that ends the previous chunk's data."""
        if self._chunked_once and await self._conn.read_line(2, "chunk") != b"":
            raise ProtocolError("a chunk of the body is longer than its declared size")
        self._chunked_once = True
        line = await self._conn.read_line(_MAX_CHUNK_LINE, "chunk header")
        size = line.split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(size):
            raise ProtocolError(f"invalid chunk size {line[:40]!r}")
        return int(size, 16)

    async def _skip_trailers(self) -> None:
        while await self._conn.read_line(MAX_HEAD_BYTES, "trailer") != b"":
            pass

    async def drain(self, limit: int) -> None:
        """Read and drop the rest of a body declared to be at most `limit` bytes (best effort)."""
        if self._done or self._framing != "length" or self._remaining > limit:
            return
        try:
            async for _ in self._raw_body():
                pass
        except HttpError:
            pass  # not reusable then; aclose() closes it

    async def aclose(self) -> None:
        """Release the connection: kept for the probe's next request if this exchange finished."""
        conn = self._conn
        if not conn.busy:
            return
        conn.busy = False
        if not self._done and self._framing == "length" and len(conn.buffer) >= self._remaining:
            del conn.buffer[: self._remaining]  # the rest already arrived: consume it
            self._remaining, self._done = 0, True
        if not self._done and self._framing == "chunked" and (end := self._buffered_end()):
            del conn.buffer[:end]  # an event stream's last chunk already arrived: keep the line
            self._remaining, self._done = 0, True
        if not (self._done and self._keep_alive):
            conn.close()  # unread body, cancelled exchange or "Connection: close": not reusable

    def _buffered_end(self) -> int:
        """Where the chunked body ends in what is already buffered (after the last chunk and
        the trailers), or 0 when its end has not all arrived."""
        buffer, pos = self._conn.buffer, self._remaining
        if pos or self._chunked_once:  # the CRLF after the current chunk's data
            if buffer[pos : pos + 2] != b"\r\n":
                return 0
            pos += 2
        while True:
            line_end = buffer.find(b"\n", pos, pos + _MAX_CHUNK_LINE)
            if line_end < 0:
                return 0
            size = bytes(buffer[pos:line_end]).rstrip(b"\r").split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size):
                return 0
            pos = line_end + 1
            if int(size, 16) == 0:
                break
            pos += int(size, 16)
            if buffer[pos : pos + 2] != b"\r\n":
                return 0
            pos += 2
        while True:  # trailers, up to the empty line
            line_end = buffer.find(b"\n", pos, pos + MAX_HEAD_BYTES)
            if line_end < 0:
                return 0
            empty = bytes(buffer[pos:line_end]).rstrip(b"\r") == b""
            pos = line_end + 1
            if empty:
                return pos


def _encode_request(
    method: str,
    url: httpx.URL,
    headers: list[tuple[str, str]],
    body: bytes | None,
    *,
    absolute: bool = False,
) -> bytes:
    """The request head (+ body); `absolute`: the absolute-form target a proxy needs."""
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers])
    lines = len(headers)  # each field line brings exactly one CR and one LF of its own
    if fields.count("\n") != lines or fields.count("\r") != lines or "\0" in fields:
        bad = next(n for n, v in headers if any(c in n + v for c in "\r\n\0"))
        raise RequestError(f"the {bad} header value contains a line break or NUL")
    length = "" if body is None else f"Content-Length: {len(body)}\r\n"
    text = (
        f"{method} {_target(url, absolute)} HTTP/1.1\r\n"
        f"Host: {url.netloc.decode('ascii')}\r\n{fields}{length}\r\n"
    )
    try:
        head = text.encode("latin-1")
    except UnicodeEncodeError:
        bad = next(n for n, v in headers if not _latin1(n) or not _latin1(v))
        raise RequestError(f"the {bad} header has characters HTTP headers cannot carry") from None
    return head + body if body else head


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str], bool]:
    """(status, reason, headers with lowercase names, keep-alive) from a response head."""
    lines = head.split(b"\n")
    status_line = lines[0].rstrip(b"\r")
    version, _, rest = status_line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for line in _unfolded(lines[1:]):
        name, colon, value = line.partition(b":")
        if not colon or not name or name.translate(None, _TOKEN_CHARS):
            raise ProtocolError(f"malformed response header line {line[:60]!r}")
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    connection = headers.get("connection", "").lower()
    # HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 only when asked to.
    keep_alive = (
        ("close" not in connection) if version == b"HTTP/1.1" else ("keep-alive" in connection)
    )
    return int(code), reason.decode("latin-1"), headers, keep_alive


def _unfolded(lines: list[bytes]) -> list[bytes]:
    """Header lines with obsolete line folding undone: a line starting with space or tab
    continues the one before, joined by a space (RFC 9112 §5.2)."""
    out: list[bytes] = []
    for raw in lines:
        line = raw.rstrip(b"\r")
        if line[:1] in (b" ", b"\t") and out:
            out[-1] = out[-1].rstrip(b" \t") + b" " + line.strip(b" \t")
        else:
            out.append(line)
    return out


def _content_length(value: str) -> int:
    values = {v.strip() for v in value.split(",")}
    if len(values) != 1 or not (number := values.pop()).isdigit():
        raise ProtocolError(f"invalid Content-Length {value[:40]!r}")
    return int(number)


def _latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


_STACKED_LIMIT = 8 << 20  # decoded bytes one received chunk may expand to through stacked codings
_SUPPORTED = "gzip, deflate, identity" + (", br" if brotli is not None else "")


class _Deflate:
    """`deflate` as servers send it: zlib-wrapped (RFC 9110 §8.4.1.2) or, from some, raw."""

    def __init__(self) -> None:
        self._d: Any = None

    def decompress(self, data: bytes, limit: int) -> bytes:
        if self._d is None:
            if not data:
                return b""
            wrapped = len(data) > 1 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._d = zlib.decompressobj() if wrapped else zlib.decompressobj(-zlib.MAX_WBITS)
        return self._d.decompress(data, limit)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._d.unconsumed_tail if self._d is not None else b""


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()
        self.unconsumed_tail = b""

    def decompress(self, data: bytes, limit: int) -> bytes:
        return self._d.process(data) if data else b""


def _decoders(header: str) -> list[Any]:
    """Decoders for a Content-Encoding header, outermost (last applied) first; ProtocolError
    naming the coding when one is not supported."""
    codings = [c.strip().lower() for c in header.split(",")]
    stages: list[Any] = []
    for coding in reversed([c for c in codings if c and c != "identity"]):
        if coding in ("gzip", "x-gzip"):
            stages.append(zlib.decompressobj(zlib.MAX_WBITS | 16))
        elif coding == "deflate":
            stages.append(_Deflate())
        elif coding == "br" and brotli is not None:
            stages.append(_Brotli())
        else:
            raise ProtocolError(
                f"the server sent the body in the content encoding {coding[:40]!r}, which the "
                f"probe does not decode (it decodes {_SUPPORTED})"
            )
    return stages


def _target(url: httpx.URL, absolute: bool) -> str:
    path = url.raw_path.decode("ascii")
    return f"{url.scheme}://{url.netloc.decode('ascii')}{path}" if absolute else path


def _proxy_refusal(
    proxy: ProxyRoute, status: int, reason: str, fields: dict[str, str], doing: str
) -> ProxyError:
    """The proxy's refusal in words: 407 names the scheme it asks for, never its text."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    text = (
        f"{proxy.describe()} answered HTTP {status} {phrase}".rstrip() + f" when asked to {doing}"
    )
    if status == 407:
        scheme = fields.get("proxy-authenticate", "").strip().split(" ", 1)[0][:30]
        held = "the credentials sent were refused" if proxy.authorization else "none were sent"
        text += f": it asks for {scheme or 'unnamed'} proxy credentials and {held}" + (
            "" if scheme.lower() in ("", "basic") else " (the probe sends only Basic)"
        )
    return ProxyError(text)


def _speaks_http2(first: bytes) -> bool:
    """An HTTP/2 server's first frame is SETTINGS on stream 0 (RFC 9113 §3.4): 3 bytes of
    length, type 0x4, flags, then a zero stream id."""
    return len(first) >= 9 and first[3] == 0x04 and first[5:9] == b"\0\0\0\0"


def _http2_only(url: httpx.URL) -> Unsupported:
    where = host_port(url.host, url.port or (443 if url.scheme == "https" else 80))
    return Unsupported(
        f"{where} answered an HTTP/1.1 request with HTTP/2 frames: it speaks only HTTP/2",
        "the server speaks only HTTP/2",
    )


def _http2_only_tls(where: str) -> Unsupported:
    return Unsupported(
        f"{where} refused the TLS handshake because it offers no HTTP/1.1 (ALPN "
        "no_application_protocol): it speaks only HTTP/2",
        "the server speaks only HTTP/2",
    )


def _no_application_protocol(exc: ssl.SSLError) -> bool:
    return "NO_APPLICATION_PROTOCOL" in (getattr(exc, "reason", "") or "").upper()


def _refused(exc: OSError) -> bool:
    if exc.errno == errno.ECONNREFUSED:
        return True
    text = str(exc).lower()
    return "refused" in text or "connect call failed" in text


def _os_text(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
