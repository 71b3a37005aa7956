"""Plain data for probes: what to check and what was found. Free of Django."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from checks.probing.network import DEFAULT_NETWORK, ProbeNetwork

Transport = Literal["streamable-http", "sse"]


@dataclass(frozen=True)
class ProbeTarget:
    """Everything a probe needs to know about one service."""

    name: str
    url: str
    kind: Literal["mcp_server", "agent_backend"] = "mcp_server"
    transport: Transport = "streamable-http"
    health_path: str = ""  # "" = no HTTP health probe unless kind == agent_backend (then "/")
    expected_status: int = 200
    expected_json_field: str = ""  # "status" or "status=ok": a dotted path that must exist / equal
    auth_header: str = ""  # header name, e.g. "Authorization"
    auth_value: str = ""  # resolved secret value (never stored in plain text in the database)
    tool_call_name: str = ""  # optional synthetic tools/call
    tool_call_arguments: dict = field(default_factory=dict)
    tool_call_expect: str = ""  # substring expected in the tool's text result
    timeout_s: float = 10.0  # per phase
    network: ProbeNetwork = DEFAULT_NETWORK  # proxy, TLS trust, client certificate, client


@dataclass
class ToolInfo:
    name: str
    description: str = ""
    input_schema: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)


@dataclass
class TlsInfo:
    days_to_expiry: float | None = None
    not_after: str = ""  # ISO 8601
    hostname_matches: bool | None = None
    issuer: str = ""
    error: str = ""
    trusted: bool | None = None  # the chain verified against the service's trust (CA bundle)
    trust_error: str = ""


@dataclass
class ProbeOutcome:
    """The result of one check of one service."""

    ok: bool
    error: str = ""  # a plain sentence naming the phase and the cause when not ok (no body bytes)
    body_excerpt: str = ""  # what the target said, redacted: for operators only
    phase: str = ""  # the phase that failed: connect | initialize | initialized | tools/list | ...
    latency_ms: float | None = None  # total
    # keys: connect, discover, initialize, initialized, tools_list, tool_call, close, health, total
    phases_ms: dict[str, float] = field(default_factory=dict)
    transport: str = ""  # what was actually spoken: "sse" | "streamable-http" | "stateless"
    protocol_version: str = ""
    server_name: str = ""
    server_version: str = ""
    capabilities: dict = field(default_factory=dict)
    instructions: str = ""
    tools: list[ToolInfo] = field(default_factory=list)
    http_status: int | None = None  # of the health probe, when one ran
    tls: TlsInfo | None = None
    tool_call_ok: bool | None = None
    tool_call_detail: str = ""
    unauthenticated_tools_list: bool | None = None  # answered tools/list without credentials
    needs_credentials: bool = False  # 401 with WWW-Authenticate: there, but asks for credentials
    client: str = "lean"  # what probed it: "lean" (h1) or "httpx" (the fallback)
    client_reason: str = ""  # why httpx, when it was
    lean_unsupported: str = ""  # the lean client met something it does not do (e.g. HTTP/2 only)
