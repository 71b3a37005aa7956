"""What every MCP session looks like to the probe, whichever protocol generation it speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

LATEST_HANDSHAKE_VERSION = "2025-11-25"  # newest version reachable through `initialize`
STATELESS_VERSION = "2026-07-28"  # per-request envelope, no session
HANDSHAKE_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
CLIENT_INFO = {"name": "mcp-fleet-console-probe", "version": "0.1.0"}


@dataclass
class ServerIdentity:
    """What the server said about itself while the session was opened."""

    protocol_version: str
    name: str = ""
    version: str = ""
    capabilities: dict[str, Any] = field(default_factory=dict)
    instructions: str = ""


class McpSession(Protocol):
    """An open MCP session: send requests, then close it."""

    transport: str  # "sse" | "streamable-http" | "stateless"

    async def request(
        self, method: str, params: dict[str, Any], *, phase: str, schema: dict | None = None
    ) -> dict[str, Any]:
        """Send one request and return its result; `schema` is the called tool's input schema."""
        ...

    async def close(self) -> None:
        """End the session politely (best effort)."""
        ...


def identity_from(result: dict[str, Any], protocol_version: str, info: Any) -> ServerIdentity:
    """Build a ServerIdentity from an initialize/discover result and its serverInfo object."""
    info = info if isinstance(info, dict) else {}
    capabilities = result.get("capabilities")
    instructions = result.get("instructions")
    return ServerIdentity(
        protocol_version=protocol_version,
        name=str(info.get("name") or ""),
        version=str(info.get("version") or ""),
        capabilities=capabilities if isinstance(capabilities, dict) else {},
        instructions=instructions if isinstance(instructions, str) else "",
    )
