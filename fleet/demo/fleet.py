"""The demo fleet as a fleet file, pointed at the ports the demo servers listen on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import yaml

from fleet.demo.servers import DEMO_ORDER

ACCOUNT = "demo-local"
PATHS = {"streamable-http": "/mcp", "sse": "/sse"}  # where each transport listens


class DemoEntry(NamedTuple):
    """One demo service. `transport` is None for an agent backend (checked on /healthz)."""

    name: str
    transport: str | None
    environment: str
    team: str
    description: str
    more: dict | None = None  # fields only some entries have: owner, extra tags, depends_on, ...


SERVICES = (
    DemoEntry("notes", "streamable-http", "production", "platform",
              "Notes MCP server (Streamable HTTP, JSON responses).",
              {"owner": "alice@example.com"}),
    DemoEntry("search", "streamable-http", "production", "research",
              "Search MCP server (Streamable HTTP, SSE responses)."),
    DemoEntry("calendar", "sse", "staging", "productivity",
              "Calendar MCP server on the legacy HTTP+SSE transport."),
    DemoEntry("inventory", "streamable-http", "staging", "commerce",
              "Fails about a third of its requests, to show degraded and down states.",
              {"tags": ["flaky"]}),
    DemoEntry("assistant", None, "production", "platform",
              "The agent backend that calls the four MCP servers.",
              {"metrics_path": "/metrics",
               "depends_on": ["notes", "search", "calendar", "inventory"]}),
    DemoEntry("weather", "streamable-http", "production", "research",
              "Weather forecasts (Streamable HTTP, JSON responses)."),
    DemoEntry("docs", "streamable-http", "production", "productivity",
              "Searches the team handbook; loads its index at start."),
    DemoEntry("tickets", "streamable-http", "production", "commerce",
              "Support tickets (Streamable HTTP, SSE responses)."),
    DemoEntry("reports", None, "production", "commerce",
              "Weekly reports; its database is unreachable, so /healthz fails.",
              {"depends_on": ["tickets", "docs"]}),
)  # fmt: skip


def demo_fleet(ports: dict[str, int], names: Iterable[str] | None = None) -> str:
    """A fleet file registering the demo servers (all, or those named) under a plain-URL account."""
    keep = set(DEMO_ORDER if names is None else names)
    services = [
        _service(e, f"http://127.0.0.1:{ports[e.name]}") for e in SERVICES if e.name in keep
    ]
    accounts = [{"name": ACCOUNT, "provider": "url"}]
    return yaml.safe_dump({"accounts": accounts, "services": services}, sort_keys=False)


def _service(entry: DemoEntry, base: str) -> dict:
    """The fleet-file entry, its keys in the order the demo's fleet file has always had them."""
    more = entry.more or {}
    if entry.transport is None:
        kind, url, tags = "agent_backend", base, ["agent", "demo"]
        how = {"health_path": "/healthz", **_only(more, "metrics_path")}
    else:
        kind, url = "mcp_server", base + PATHS[entry.transport]
        tags = [entry.name, "demo", *more.get("tags", [])]
        how = {"transport": entry.transport}
    return {
        "name": entry.name,
        "kind": kind,
        "url": url,
        **how,
        "environment": entry.environment,
        "team": entry.team,
        "tags": tags,
        "account": ACCOUNT,
        **_only(more, "owner", "depends_on"),
        "description": entry.description,
    }


def _only(fields: dict, *names: str) -> dict:
    return {name: fields[name] for name in names if name in fields}
