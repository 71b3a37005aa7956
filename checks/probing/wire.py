"""One probe's HTTP exchanges: JSON-RPC over POST (JSON or SSE replies), redirects, size caps.

Requests go through the probe's own `Connections`: the lean HTTP/1.1 client of `h1` when the
caller hands in an `h1.ProbeClient` (what sweeps use), or `HttpxConnections` when it hands in an
`httpx.AsyncClient` (its transport, TLS settings and pool are then used as they are).
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import httpx

from checks.probing import h1
from checks.probing.clock import PhaseClock
from checks.probing.errors import (
    ClientUnsupported,
    HttpStatusFailure,
    NeedsCredentials,
    ProbeFailure,
    ReplyFailure,
    RpcErrorFailure,
    body_excerpt,
    challenge_scheme,
    describe_body,
    host_port,
    redact,
    rpc_error_name,
)
from checks.probing.network import DEFAULT_NETWORK, ProbeNetwork, ProxyRoute
from checks.probing.sse import SseParser, SseTooLarge
from console.egress import EgressPolicy, EgressRefused, current

DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
MAX_SAME_HOST_REDIRECTS = 3
_ERROR_BODY_BYTES = 64 * 1024
USER_AGENT = "mcp-fleet-console-probe/0.1"
ACCEPT_BOTH = "application/json, text/event-stream"
_JSON = json.JSONEncoder(separators=(",", ":"))  # json.dumps with options builds one per call

Client = h1.ProbeClient | httpx.AsyncClient
"""What the probe functions accept: the lean client (sweeps) or any httpx.AsyncClient."""


class AnyResponse(Protocol):
    """The part of a response the probe reads (h1.Response and httpx.Response both have it)."""

    status_code: int
    reason_phrase: str
    url: httpx.URL

    @property
    def headers(self) -> Any: ...  # `.get(lowercase name)` and `[lowercase name]`

    @property
    def is_redirect(self) -> bool: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class AnyConnections(Protocol):
    """One probe's way to the network."""

    connected: bool
    connect_ms: float | None
    egress: EgressPolicy

    async def send(
        self, method: str, url: httpx.URL, headers: list[tuple[str, str]], body: bytes | None
    ) -> AnyResponse: ...

    async def aclose(self) -> None: ...


@functools.lru_cache(maxsize=8192)
def parse_url(url: str) -> httpx.URL:
    """httpx.URL(url), remembered: parsing costs ~70 µs and a worker probes the same URLs every
    interval (httpx.URL objects are immutable, so sharing them is safe)."""
    return httpx.URL(url)


def connections_for(client: Client, network: ProbeNetwork = DEFAULT_NETWORK) -> AnyConnections:
    """A fresh per-probe connection set on `client`, routed and secured as `network` says (an
    httpx client carries its own proxy and TLS settings; `network.proxy` says it has a proxy)."""
    if isinstance(client, h1.ProbeClient):
        return client.connections(network)
    return HttpxConnections(client, proxy=network.proxy)


@dataclass
class RpcReply:
    """A JSON-RPC result and where it came from."""

    result: dict[str, Any]
    headers: Any  # lowercase names: `.get("mcp-session-id")`
    url: httpx.URL  # after same-host redirects; later requests go here


class HttpChannel:
    """Sends a probe's requests through the shared client; every failure becomes a ProbeFailure."""

    def __init__(
        self,
        client: Client | None,
        clock: PhaseClock,
        *,
        auth: tuple[str, str] | None = None,
        auth_origin: str | httpx.URL | None = None,
        max_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        connections: AnyConnections | None = None,
        network: ProbeNetwork = DEFAULT_NETWORK,
    ) -> None:
        """`auth` (header, value) travels only to `auth_origin` (the service's URL: scheme, host
        and port); `connections`: share another channel's (same probe); by default the channel
        opens its own set on `client`, which `aclose()` closes."""
        self.clock = clock
        self.max_bytes = max_bytes
        self.base_headers = {"User-Agent": USER_AGENT}
        self.auth = auth
        self.auth_origin = origin_of(parse_url(str(auth_origin))) if auth and auth_origin else None
        assert not auth or self.auth_origin, "a credential needs the origin it belongs to"
        # The origin a request went to without the credential, to say why it was refused.
        self.auth_withheld_from = ""
        self._owns = connections is None
        if connections is None:
            assert client is not None, "a channel needs a client or shared connections"
            connections = connections_for(client, network)
        self.connections = connections
        # Where an unfinished exchange stands: "" (no response yet), "body" or "stream" (headers
        # arrived). Lets a time-out say "the body stalled" rather than just "no answer".
        self.waiting_in = ""

    @property
    def connected(self) -> bool:
        """Whether a TCP (and TLS) connection to the server was made."""
        return self.connections.connected

    @property
    def connect_ms(self) -> float | None:
        """TCP (+TLS) set-up time of the probe's first connection."""
        return self.connections.connect_ms

    async def aclose(self) -> None:
        """Close the connections this channel opened (not shared ones)."""
        if self._owns:
            await self.connections.aclose()

    # -- JSON-RPC ------------------------------------------------------------------------------

    async def rpc(
        self, url: httpx.URL, message: dict[str, Any], *, phase: str, headers: dict[str, str]
    ) -> RpcReply:
        """POST one JSON-RPC request and return its result (from a JSON body or an SSE stream)."""
        async with self.send("POST", url, phase=phase, headers=headers, body=message) as (
            resp,
            url,
        ):
            if resp.status_code >= 400:
                await self.raise_for_status(resp, phase)
            if resp.status_code == 202:
                raise ReplyFailure(
                    phase, "server answered 202 Accepted with no response to a request"
                )
            kind = _content_type(resp)
            if kind == "application/json":
                body = await self.read_capped(resp, phase)
                result = _result_from_json(body, message["id"], phase, kind)
            elif kind == "text/event-stream":
                result = await self._result_from_sse(resp, message["id"], phase)
            else:
                body = await self.read_capped(resp, phase, _ERROR_BODY_BYTES)
                raise ReplyFailure(
                    phase,
                    f"expected application/json or text/event-stream but got "
                    f"{kind or 'no content type'} ({describe_body(body, kind)})",
                    excerpt=body_excerpt(body, kind),
                )
            return RpcReply(result, resp.headers, url)

    async def notify(
        self, url: httpx.URL, message: dict[str, Any], *, phase: str, headers: dict[str, str]
    ) -> None:
        """POST a JSON-RPC notification; servers accept it with 202 (200/204 tolerated)."""
        async with self.send("POST", url, phase=phase, headers=headers, body=message) as (resp, _):
            if resp.status_code >= 400:
                await self.raise_for_status(resp, phase)

    # -- raw HTTP ------------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: httpx.URL,
        *,
        phase: str,
        headers: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> Sending:
        """Open a streamed response (same-host redirects followed); use as `async with`."""
        return Sending(self, method, url, phase, headers, body)

    async def read_capped(self, resp: AnyResponse, phase: str, cap: int | None = None) -> bytes:
        """Read the whole body, refusing more than `cap` bytes (default: the probe's cap)."""
        cap = self.max_bytes if cap is None else cap
        declared = resp.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            if cap < self.max_bytes:
                return b""  # an error page we only wanted to describe: skip it
            raise ProbeFailure(phase, _too_large(cap))
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in resp.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    if cap < self.max_bytes:
                        break
                    raise ProbeFailure(phase, _too_large(cap))
                chunks.append(chunk)
        except (h1.HttpError, httpx.HTTPError) as exc:
            raise _transport_failure(exc, phase, resp.url) from None
        return b"".join(chunks)

    async def sse_events(self, resp: AnyResponse, phase: str) -> AsyncIterator[Any]:
        """Yield the events of a streamed text/event-stream response, each capped in size."""
        parser = SseParser(self.max_bytes)
        try:
            async for chunk in resp.aiter_bytes():
                for event in parser.feed(chunk):
                    yield event
        except SseTooLarge:
            raise ProbeFailure(phase, _too_large(self.max_bytes)) from None
        except (h1.HttpError, httpx.HTTPError) as exc:
            raise _transport_failure(exc, phase, resp.url) from None

    # -- internals -----------------------------------------------------------------------------

    async def _result_from_sse(
        self, resp: AnyResponse, request_id: int, phase: str
    ) -> dict[str, Any]:
        async for event in self.sse_events(resp, phase):
            if event.event != "message" or not event.data:
                continue  # priming events carry only an id; other event types are not replies
            try:
                message = json.loads(event.data)
            except ValueError:
                raise ReplyFailure(
                    phase, "an SSE event's data is not valid JSON, so it is not a JSON-RPC message"
                ) from None
            result = match_response(message, request_id, phase)
            if result is not None:
                return result
        raise ReplyFailure(phase, "the SSE stream ended before the response arrived")

    def headers_for(self, url: httpx.URL, extra: dict[str, str]) -> list[tuple[str, str]]:
        """The request's headers: the credential only when `url` is on the service's origin."""
        headers = {**self.base_headers, **extra}
        if self.auth:
            if origin_of(url) == self.auth_origin:
                headers[self.auth[0]] = self.auth[1]
            else:
                self.auth_withheld_from = origin_of(url)
        return list(headers.items())

    def withheld_note(self) -> str:
        """Why a request went without the credential, when one did ("" otherwise)."""
        if not self.auth_withheld_from:
            return ""
        return (
            f"; the {self.auth[0] if self.auth else 'auth'} header was not sent to "
            f"{self.auth_withheld_from}, which is not the service's origin {self.auth_origin}"
        )

    def credentials_challenge(
        self, resp: AnyResponse, phase: str, rpc_code: int | None = None, excerpt: str = ""
    ) -> NeedsCredentials | None:
        """A 401 with WWW-Authenticate as "needs credentials" (the server is there), else None."""
        challenge = resp.headers.get("www-authenticate") or ""
        if resp.status_code != 401 or not challenge:
            return None
        status = f"HTTP {resp.status_code} {status_phrase(resp.status_code)}".rstrip()
        scheme = challenge_scheme(challenge)
        asks = f"{scheme} credentials" if scheme else "credentials"
        held = "the credentials sent were refused" if self.auth else "none were sent"
        return NeedsCredentials(
            phase,
            f"needs credentials: server answered {status} asking for {asks} "
            f"(WWW-Authenticate); {held}. Set an auth header or OAuth client credentials "
            f"in the check settings{self.withheld_note()}",
            resp.status_code,
            rpc_code,
            excerpt=f"WWW-Authenticate: {redact(challenge)[:300]}"
            + (f"; {excerpt}" if excerpt else ""),
        )

    async def raise_for_status(self, resp: AnyResponse, phase: str) -> None:
        body = await self.read_capped(resp, phase, _ERROR_BODY_BYTES)
        kind = _content_type(resp)
        status = f"HTTP {resp.status_code} {status_phrase(resp.status_code)}".rstrip()
        rpc_code = None
        detail, excerpt = describe_body(body, kind), body_excerpt(body, kind)
        if kind == "application/json":
            try:
                error = json.loads(body).get("error")
                rpc_code = int(error["code"])
                detail = f"JSON-RPC error {rpc_error_name(rpc_code)}"
                excerpt = f"JSON-RPC error {rpc_code}: {redact(str(error['message']))[:300]}"
            except (ValueError, AttributeError, TypeError, KeyError):
                pass
        challenge = self.credentials_challenge(resp, phase, rpc_code, excerpt)
        if challenge is not None:
            raise challenge
        raise HttpStatusFailure(
            phase,
            f"server answered {status} ({detail}){self.withheld_note()}",
            resp.status_code,
            rpc_code,
            excerpt=excerpt,
        )


class Sending:
    """Async context manager behind `HttpChannel.send`: yields (response, final URL)."""

    def __init__(
        self,
        channel: HttpChannel,
        method: str,
        url: httpx.URL,
        phase: str,
        headers: dict[str, str],
        body: dict[str, Any] | None,
    ) -> None:
        self.channel, self.method, self.url, self.phase = channel, method, url, phase
        self.headers = dict(headers)
        self.content = _JSON.encode(body).encode() if body is not None else None
        if body is not None:
            self.headers["Content-Type"] = "application/json"
        self.response: AnyResponse | None = None

    async def __aenter__(self) -> tuple[AnyResponse, httpx.URL]:
        channel, url = self.channel, self.url
        for _ in range(MAX_SAME_HOST_REDIRECTS + 1):
            headers = channel.headers_for(url, self.headers)  # per hop: the credential's origin
            try:
                resp = await channel.connections.send(self.method, url, headers, self.content)
            except (h1.HttpError, httpx.HTTPError) as exc:
                raise _transport_failure(exc, self.phase, url) from None
            if not (resp.is_redirect and resp.headers.get("location")):
                self.response = resp
                streaming = resp.headers.get("content-type", "").startswith("text/event-stream")
                channel.waiting_in = "stream" if streaming else "body"
                return resp, url
            target = url.join(resp.headers["location"])
            await resp.aclose()
            if problem := channel.connections.egress.url_problem(str(target)):
                raise ProbeFailure(
                    self.phase,
                    f"server redirected to {target}, which was not followed: "
                    f"egress refused: {problem}",
                )
            if not same_host(url, target):
                raise ProbeFailure(
                    self.phase,
                    f"server redirected to {target} on another host; "
                    "redirects to other hosts are not followed",
                )
            if self.method == "POST" and resp.status_code not in (307, 308):
                raise ProbeFailure(
                    self.phase,
                    f"server answered HTTP {resp.status_code} redirecting to {target}, "
                    "which would turn the POST into a GET",
                )
            url = target
        raise ProbeFailure(self.phase, f"more than {MAX_SAME_HOST_REDIRECTS} redirects")

    async def __aexit__(self, exc_type: object, *exc_info: object) -> None:
        response = self.response
        if exc_type is None:
            self.channel.waiting_in = ""
            if isinstance(response, h1.Response):
                # A short body nobody read (a 202's "Accepted"): read it so the connection stays
                # usable for the probe's next request. Still inside the caller's phase time-out.
                await response.drain(_ERROR_BODY_BYTES)
        if response is not None:
            await response.aclose()


class HttpxConnections:
    """`AnyConnections` on a caller's httpx.AsyncClient: its transport, TLS settings and pool.

    Requests go straight to the transport the client would pick, skipping `AsyncClient.send`'s
    auth flow, redirect loop, cookie jar and event hooks (redirects have their own policy here;
    cookies must not travel between servers). Only `_transport_for_url` is httpx-private.

    The egress policy by resolve-and-pin: the host is resolved and checked here, and the request
    goes to the checked address with the name kept in the Host header and as the TLS server
    name (httpcore's `sni_hostname` extension), so the transport never resolves it again. The
    caller's pool then keys connections by address: two names on one address may share one.

    `proxy`: the client's proxy (`network.proxy`), which resolves the target's name: the target
    is checked with `EgressPolicy.proxied_target_async` and the request keeps its name (CONNECT
    by name); the proxy's own name is resolved and checked here first (httpx resolves it once
    more when it connects: a narrower guarantee than the lean client's, which connects to the
    checked address).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        egress: EgressPolicy | None = None,
        *,
        proxy: ProxyRoute | None = None,
    ) -> None:
        self.client = client
        self.proxy = proxy
        self.egress = egress or current()
        self.connected = False
        self.connect_ms: float | None = None
        self._traced = False
        self._tls_expected = False
        self._connect_started = 0.0
        self._pinned: dict[tuple[str, int], str] = {}  # (host, port) -> checked address

    async def send(
        self, method: str, url: httpx.URL, headers: list[tuple[str, str]], body: bytes | None
    ) -> httpx.Response:
        """Send one request; the response body stays unread."""
        extensions: dict[str, Any] = {}
        if not self._traced:  # the first request is where the connection is made
            self._traced = True
            self._tls_expected = url.scheme == "https"
            extensions["trace"] = self._trace
        if self.proxy is not None:
            await self._check_proxied(url, self.proxy)
            pinned = url
        else:
            pinned = await self._pin(url)
            if url.scheme == "https":
                extensions["sni_hostname"] = url.host
        headers = [("Host", url.netloc.decode("ascii")), *headers]
        request = httpx.Request(
            method, pinned, content=body, headers=headers, extensions=extensions
        )
        response = await self.client._transport_for_url(url).handle_async_request(request)
        response.request = httpx.Request(method, url, headers=headers)
        self.connected = True
        return response

    async def _check_proxied(self, url: httpx.URL, proxy: ProxyRoute) -> None:
        port = url.port or (443 if url.scheme == "https" else 80)
        if (url.host, port) in self._pinned:
            return
        try:
            await self.egress.resolve_async(proxy.host, proxy.port)
        except EgressRefused as exc:
            raise h1.EgressError(f"{proxy.describe()}: {exc}") from None
        except OSError as exc:
            raise h1.ConnectError(f"could not resolve the proxy {proxy.where} ({exc})") from None
        try:
            await self.egress.proxied_target_async(url.host, port)
        except EgressRefused as exc:
            raise h1.EgressError(f"{exc} (through {proxy.describe()})") from None
        self._pinned[(url.host, port)] = url.host

    async def _pin(self, url: httpx.URL) -> httpx.URL:
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.host, port)
        address = self._pinned.get(key)
        if address is None:
            try:
                address = (await self.egress.resolve_async(url.host, port))[0]
            except EgressRefused as exc:
                raise h1.EgressError(str(exc)) from None
            except OSError as exc:
                raise h1.ConnectError(f"could not resolve {url.host} ({exc})") from None
            self._pinned[key] = address
        return url.copy_with(host=address)

    async def aclose(self) -> None:
        """The client's pool belongs to the caller."""

    async def _trace(self, name: str, info: dict[str, Any]) -> None:
        if name == "connection.connect_tcp.started":
            self._connect_started = time.perf_counter()
        elif name in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.connect_ms = (time.perf_counter() - self._connect_started) * 1000
            self.connected = name == "connection.start_tls.complete" or not self._tls_expected


def _content_type(resp: AnyResponse) -> str:
    return resp.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _too_large(cap: int) -> str:
    return f"response exceeds the {_size(cap)} size cap"


def _size(n: int) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):g} MiB"
    return f"{n / 1024:g} KiB" if n >= 1024 else f"{n} bytes"


# A quoted piece of what the server sent (a status line, a header line): target bytes.
_QUOTED = re.compile(r"""\s*:?\s*(?:bytearray\()?b?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")\)?""")


def _unquoted(text: str) -> str:
    """`text` without the bytes it quotes from the server (those go to the operators' excerpt)."""
    return _QUOTED.sub("", text).strip() or "unreadable response"


def status_phrase(code: int) -> str:
    """The standard reason phrase (the server's own phrase is text from the target)."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""


def origin_of(url: httpx.URL) -> str:
    """scheme://host:port, the port made explicit, so equal origins compare equal."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
    return f"{url.scheme}://{host_port(url.host, port)}"


def same_host(a: httpx.URL, b: httpx.URL) -> bool:
    """Same host and port, or the same host upgraded from http to https."""
    if a.host != b.host:
        return False
    return (a.scheme, a.port) == (b.scheme, b.port) or (a.scheme, b.scheme) == ("http", "https")


def _result_from_json(body: bytes, request_id: int, phase: str, kind: str) -> dict[str, Any]:
    try:
        message = json.loads(body)
    except ValueError:
        raise ReplyFailure(
            phase,
            f"the response is not valid JSON ({describe_body(body, kind)})",
            excerpt=body_excerpt(body, kind),
        ) from None
    result = match_response(message, request_id, phase)
    if result is None:
        raise ReplyFailure(phase, "the JSON body holds no response to the request")
    return result


def match_response(message: Any, request_id: int, phase: str) -> dict[str, Any] | None:
    """Return the result if `message` answers `request_id`; None for unrelated messages."""
    if isinstance(message, list):  # a batch: look for ours in it
        for item in message:
            result = match_response(item, request_id, phase)
            if result is not None:
                return result
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise ReplyFailure(phase, "malformed JSON-RPC: the reply is not a JSON-RPC 2.0 object")
    if "method" in message:
        return None  # a notification or server-to-client request, not our reply
    if message.get("id") != request_id:
        if "error" in message and message.get("id") is None:
            _raise_rpc_error(message["error"], phase)
        raise ReplyFailure(
            phase, f"malformed JSON-RPC: reply id {message.get('id')!r} does not match {request_id}"
        )
    if "error" in message:
        _raise_rpc_error(message["error"], phase)
    result = message.get("result")
    if not isinstance(result, dict):
        raise ReplyFailure(
            phase, "malformed JSON-RPC: the reply has neither a result object nor an error"
        )
    return result


def _raise_rpc_error(error: Any, phase: str) -> None:
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        raise ReplyFailure(phase, "malformed JSON-RPC: the error member has no integer code")
    raise RpcErrorFailure(phase, error["code"], str(error.get("message", "")), error.get("data"))


def _transport_failure(
    exc: h1.HttpError | httpx.HTTPError, phase: str, url: httpx.URL
) -> ProbeFailure:
    """Name a transport error in plain words; connection failures belong to the connect phase."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, h1.Unsupported):
        return ClientUnsupported("connect", text, exc.reason)
    if isinstance(exc, h1.ConnectError):
        return ProbeFailure("connect", text)  # h1 already names the address and the cause
    if isinstance(exc, h1.HttpError):
        where = host_port(url.host, url.port or (443 if url.scheme == "https" else 80))
        if isinstance(exc, h1.ProtocolError):
            return ProbeFailure(
                phase,
                f"{where} broke the HTTP protocol or closed the connection ({_unquoted(text)})",
                excerpt=redact(text) if text != _unquoted(text) else "",
            )
        return ProbeFailure(phase, f"network error talking to {where} ({text})")
    where = host_port(url.host, url.port or (443 if url.scheme == "https" else 80))
    if isinstance(exc, httpx.ProxyError):
        return ProbeFailure("connect", f"the proxy refused the way to {where} ({text})")
    if isinstance(exc, httpx.ConnectError):
        lowered = text.lower()
        if "refused" in lowered or "all connection attempts failed" in lowered:
            return ProbeFailure("connect", f"connection refused by {where}")
        if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
            return ProbeFailure("connect", f"TLS handshake with {where} failed ({text})")
        return ProbeFailure("connect", f"could not connect to {where} ({text})")
    if isinstance(exc, httpx.TimeoutException):
        return ProbeFailure(phase, f"the HTTP client timed out talking to {where}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return ProbeFailure(
            phase,
            f"{where} broke the HTTP protocol or closed the connection ({_unquoted(text)})",
            excerpt=redact(text) if text != _unquoted(text) else "",
        )
    return ProbeFailure(phase, f"network error talking to {where} ({text})")
