"""Check one MCP server like a real client would: handshake, list tools, optionally call one.

Raw JSON-RPC over the lean HTTP/1.1 client of `h1` (or a caller's httpx.AsyncClient); the SDK
client costs far more CPU per handshake. Every failure ends
as `ok=False` with an `error` sentence naming the phase and cause; nothing waits past the deadline.
"""

from __future__ import annotations

from typing import Any

import httpx

from checks.probing.clock import PhaseClock, PhaseTimeout
from checks.probing.errors import (
    NeedsCredentials,
    ProbeFailure,
    ReplyFailure,
    host_port,
    redact,
)
from checks.probing.negotiate import open_session
from checks.probing.session import McpSession
from checks.probing.types import ProbeOutcome, ProbeTarget, ToolInfo
from checks.probing.wire import DEFAULT_MAX_RESPONSE_BYTES, Client, HttpChannel

MAX_TOOL_PAGES = 100
_DETAIL_CHARS = 200


async def probe_mcp_server(
    target: ProbeTarget,
    client: Client,
    *,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    deadline_s: float | None = None,
) -> ProbeOutcome:
    """Handshake with the server at `target.url`, list its tools, run the synthetic call if set.

    `client` is an `h1.ProbeClient` (see `sweep.make_client`) or any httpx.AsyncClient. The probe
    opens its own connections and closes them before it returns. `deadline_s` bounds the whole
    probe (default: three phase timeouts).
    """
    clock = PhaseClock(target.timeout_s, deadline_s)
    outcome = ProbeOutcome(ok=False, phases_ms=clock.phases_ms)
    auth = (target.auth_header, target.auth_value) if target.auth_header else None
    channel = HttpChannel(
        client,
        clock,
        auth=auth,
        auth_origin=target.url,
        max_bytes=max_response_bytes,
        network=target.network,
    )
    try:
        session, identity = await open_session(channel, target.url, target.transport, clock)
        outcome.transport = session.transport
        outcome.protocol_version = identity.protocol_version
        outcome.server_name, outcome.server_version = identity.name, identity.version
        outcome.capabilities, outcome.instructions = identity.capabilities, identity.instructions
        try:
            outcome.tools = await list_tools(session, clock)
            if target.tool_call_name:
                await _synthetic_call(session, clock, target, outcome)
        finally:
            await session.close()
        if auth:
            outcome.unauthenticated_tools_list = await _lists_without_credentials(
                target, channel, session.transport, clock, max_response_bytes
            )
        _settle(outcome)
    except ProbeFailure as failure:
        failure = explain_timeout(failure, channel, target.url)
        outcome.ok, outcome.error, outcome.phase = False, str(failure), failure.phase
        outcome.needs_credentials = isinstance(failure, NeedsCredentials)
        outcome.body_excerpt = failure.excerpt or outcome.body_excerpt
        outcome.lean_unsupported = getattr(failure, "reason", "")
    finally:
        await channel.aclose()
    if channel.connect_ms is not None:
        clock.phases_ms.setdefault("connect", channel.connect_ms)
    outcome.latency_ms = clock.phases_ms["total"] = clock.elapsed_ms()
    return outcome


async def list_tools(session: McpSession, clock: PhaseClock) -> list[ToolInfo]:
    """Every tool the server lists, following `nextCursor` pages (each page its own timeout)."""
    tools: list[ToolInfo] = []
    cursor: Any = None
    seen: set[str] = set()
    for _ in range(MAX_TOOL_PAGES):
        params = {"cursor": cursor} if cursor is not None else {}
        async with clock.phase("tools/list", "tools_list"):
            result = await session.request("tools/list", params, phase="tools/list")
        page = result.get("tools")
        if not isinstance(page, list):
            raise ReplyFailure("tools/list", "the result has no tools array")
        tools.extend(_tool_info(entry) for entry in page)
        cursor = result.get("nextCursor")
        if cursor is None or cursor == "":
            return tools
        if not isinstance(cursor, str) or cursor in seen:
            raise ReplyFailure("tools/list", f"the server sent the nextCursor {cursor!r} twice")
        seen.add(cursor)
    raise ReplyFailure("tools/list", f"the tool list goes on for more than {MAX_TOOL_PAGES} pages")


def _tool_info(entry: Any) -> ToolInfo:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
        raise ReplyFailure("tools/list", "a tool in the list has no name")
    description, schema, annotations = (
        entry.get("description"),
        entry.get("inputSchema"),
        entry.get("annotations"),
    )
    return ToolInfo(
        name=entry["name"],
        description=description if isinstance(description, str) else "",
        input_schema=schema if isinstance(schema, dict) else {},
        annotations=annotations if isinstance(annotations, dict) else {},
    )


async def _synthetic_call(
    session: McpSession, clock: PhaseClock, target: ProbeTarget, outcome: ProbeOutcome
) -> None:
    """Call the configured tool; record pass/fail in the outcome instead of raising."""
    name = target.tool_call_name
    tool = next((t for t in outcome.tools if t.name == name), None)
    if tool is None:
        outcome.tool_call_ok, outcome.tool_call_detail = (
            False,
            f"tool {name!r} is not in tools/list",
        )
        return
    params = {"name": name, "arguments": dict(target.tool_call_arguments)}
    try:
        async with clock.phase("tools/call", "tool_call"):
            result = await session.request(
                "tools/call", params, phase="tools/call", schema=tool.input_schema
            )
    except ProbeFailure as failure:
        outcome.tool_call_ok, outcome.tool_call_detail = False, failure.cause
        outcome.body_excerpt = failure.excerpt
        return
    # The result is the target's text: viewers get its size, operators a redacted excerpt.
    text = _text_content(result)
    shown = redact(text)
    shown = shown if len(shown) <= _DETAIL_CHARS else shown[:_DETAIL_CHARS] + "…"
    size = f"{len(text):,} characters of text"
    if text:
        outcome.body_excerpt = f"tools/call result: {shown}"
    if result.get("isError") is True:
        outcome.tool_call_ok = False
        outcome.tool_call_detail = f"tool {name!r} returned an error ({size})"
    elif target.tool_call_expect and target.tool_call_expect not in text:
        outcome.tool_call_ok = False
        outcome.tool_call_detail = (
            f"expected {target.tool_call_expect!r} in the result, which does not contain it "
            f"({size})"
        )
    else:
        outcome.tool_call_ok, outcome.tool_call_detail = True, f"result received ({size})"


def _text_content(result: dict[str, Any]) -> str:
    content = result.get("content")
    if not isinstance(content, list):
        return ""
    parts = [c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"]
    return "\n".join(p for p in parts if isinstance(p, str))


async def _lists_without_credentials(
    target: ProbeTarget,
    authed: HttpChannel,
    transport: str,
    clock: PhaseClock,
    max_bytes: int,
) -> bool | None:
    """Does tools/list answer with no credentials at all? None when that could not be decided."""
    if clock.remaining() <= 0:
        return None
    sub_clock = PhaseClock(target.timeout_s, clock.remaining())
    # Same connections (credentials travel per request, not per connection), no auth header.
    channel = HttpChannel(None, sub_clock, max_bytes=max_bytes, connections=authed.connections)
    try:
        session, _ = await open_session(
            channel, target.url, target.transport, sub_clock, known=transport
        )
        try:
            await session.request("tools/list", {}, phase="tools/list")
        finally:
            await session.close()
    except ReplyFailure:
        return False  # refused (401/403, an error page, a JSON-RPC error): not exposed
    except ProbeFailure:
        return None
    return True


def _settle(outcome: ProbeOutcome) -> None:
    if outcome.tool_call_ok is False:
        outcome.ok, outcome.phase = False, "tools/call"
        outcome.error = f"tools/call: {outcome.tool_call_detail}"
    else:
        outcome.ok = True


def explain_timeout(failure: ProbeFailure, channel: HttpChannel, url: str) -> ProbeFailure:
    """Say where a time-out struck: before any connection, or after the response headers."""
    if not isinstance(failure, PhaseTimeout):
        return failure
    if not channel.connected and failure.phase != "connect":
        where = httpx.URL(url)
        port = where.port or (443 if where.scheme == "https" else 80)
        cause = f"could not connect to {host_port(where.host, port)}: {failure.cause}"
        return PhaseTimeout("connect", cause)
    if channel.waiting_in == "body":
        cause = f"{failure.cause}: the headers arrived, then the body stalled"
        return PhaseTimeout(failure.phase, cause)
    if channel.waiting_in == "stream":
        cause = f"{failure.cause}: the event stream opened, no reply came"
        return PhaseTimeout(failure.phase, cause)
    return failure
