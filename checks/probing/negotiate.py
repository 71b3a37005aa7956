"""Pick the protocol generation a server speaks, with as few round trips as a real client needs.

Order for `transport="streamable-http"` (checked against the mcp 2.3 SDK server and old-style ones):
1. `server/discover` at 2026-07-28. A modern server answers with `supportedVersions`: done,
   stateless, one round trip. Handshake-era servers answer 400 "Missing session ID" (session
   servers), 400 "Unsupported protocol version" or -32601 (stateless 2025 servers), or a discover
   result listing only handshake versions (go-sdk): any such answer means "fall back", as the SDK's
   `mode="auto"` does.
2. `initialize` at 2025-11-25; the server counters with the version it speaks (2024-11-05 onward).
3. If POST is refused with 404/405, the URL is a legacy HTTP+SSE endpoint: GET it as an event stream
   (the spec's backwards-compatibility rule).

A service registered with `transport="sse"` still gets step 1 first: a server that moved to
2026-07-28 at the same URL answers it, so the recorded version is the newest both sides share; an
SSE-only server refuses the POST (405 from the SDK's `sse_app`), and the probe opens the event
stream as before. `known="sse"` (a re-probe inside the same check) skips the question.
Network failures and time-outs never count as an era verdict; they fail the probe.
"""

from __future__ import annotations

import httpx

from checks.probing.clock import PhaseClock
from checks.probing.errors import (
    HttpStatusFailure,
    NeedsCredentials,
    ProbeFailure,
    ReplyFailure,
    RpcErrorFailure,
)
from checks.probing.legacy_sse import SseSession
from checks.probing.session import HANDSHAKE_VERSIONS, STATELESS_VERSION, McpSession, ServerIdentity
from checks.probing.streamable import HandshakeSession, StatelessSession
from checks.probing.wire import HttpChannel, parse_url

UNSUPPORTED_PROTOCOL_VERSION = -32022


async def open_session(
    channel: HttpChannel, url: str, transport: str, clock: PhaseClock, *, known: str = ""
) -> tuple[McpSession, ServerIdentity]:
    """Open a session in the newest generation the server speaks; `known` skips negotiation."""
    target = parse_url(url)
    if known == "sse":
        return await _open_sse(channel, target, clock)
    if transport == "sse":
        stateless = StatelessSession(channel, target)
        try:
            identity = await _discover(stateless, clock)
        except NeedsCredentials:
            raise
        except ProbeFailure:
            identity = None  # the registered transport decides: its own failure is the verdict
        if identity is not None:
            return stateless, identity
        return await _open_sse(channel, target, clock)
    if known != "streamable-http":
        stateless = StatelessSession(channel, target)
        identity = await _discover(stateless, clock)
        if identity is not None:
            return stateless, identity
        target = stateless.url
    session = HandshakeSession(channel, target, clock)
    try:
        return session, await _guarded_open(session)
    except HttpStatusFailure as failure:
        if failure.phase != "initialize" or failure.status not in (404, 405):
            raise
        try:
            return await _open_sse(channel, target, clock)
        except ProbeFailure as sse_failure:
            raise HttpStatusFailure(
                failure.phase,
                f"{failure.cause}; a legacy HTTP+SSE GET of the same URL failed too "
                f"({sse_failure.phase}: {sse_failure.cause})",
                failure.status,
                excerpt=failure.excerpt or sse_failure.excerpt,
            ) from None


async def _discover(session: StatelessSession, clock: PhaseClock) -> ServerIdentity | None:
    try:
        async with clock.phase("discover", "discover"):
            return await session.discover()
    except NeedsCredentials:
        raise  # every generation would be refused alike: say so instead of falling back
    except RpcErrorFailure as failure:
        supported = _supported_versions(failure)
        if (
            failure.code == UNSUPPORTED_PROTOCOL_VERSION
            and supported
            and not any(v in HANDSHAKE_VERSIONS or v == STATELESS_VERSION for v in supported)
        ):
            raise ReplyFailure(
                "discover",
                f"the server speaks only protocol versions {', '.join(supported)}, "
                "which this probe does not know",
            ) from None
        return None
    except ReplyFailure:
        return None  # the server answered, but not as a 2026-07-28 server would


async def _open_sse(
    channel: HttpChannel, url: httpx.URL, clock: PhaseClock
) -> tuple[McpSession, ServerIdentity]:
    session = SseSession(channel, url, clock)
    return session, await _guarded_open(session)


async def _guarded_open(session: HandshakeSession | SseSession) -> ServerIdentity:
    """Open the session; if that fails half-way, still end what was started."""
    try:
        return await session.open()
    except BaseException:
        await session.close()
        raise


def _supported_versions(failure: RpcErrorFailure) -> list[str]:
    data = failure.data
    supported = data.get("supported") if isinstance(data, dict) else None
    if not isinstance(supported, list):
        return []
    return [v for v in supported if isinstance(v, str)]
