"""The demo fleet as a fleet file, pointed at the ports the demo servers listen on."""

from __future__ import annotations

from collections.abc import Iterable

import yaml

from fleet.demo.servers import DEMO_ORDER


def demo_fleet(ports: dict[str, int], names: Iterable[str] | None = None) -> str:
    """A fleet file registering the demo servers (all, or those named) under a plain-URL account."""
    base = {name: f"http://127.0.0.1:{ports[name]}" for name in DEMO_ORDER}
    services = [
        {
            "name": "notes",
            "kind": "mcp_server",
            "url": base["notes"] + "/mcp",
            "transport": "streamable-http",
            "environment": "production",
            "team": "platform",
            "tags": ["notes", "demo"],
            "account": "demo-local",
            "owner": "alice@example.com",
            "description": "Notes MCP server (Streamable HTTP, JSON responses).",
        },
        {
            "name": "search",
            "kind": "mcp_server",
            "url": base["search"] + "/mcp",
            "transport": "streamable-http",
            "environment": "production",
            "team": "research",
            "tags": ["search", "demo"],
            "account": "demo-local",
            "description": "Search MCP server (Streamable HTTP, SSE responses).",
        },
        {
            "name": "calendar",
            "kind": "mcp_server",
            "url": base["calendar"] + "/sse",
            "transport": "sse",
            "environment": "staging",
            "team": "productivity",
            "tags": ["calendar", "demo"],
            "account": "demo-local",
            "description": "Calendar MCP server on the legacy HTTP+SSE transport.",
        },
        {
            "name": "inventory",
            "kind": "mcp_server",
            "url": base["inventory"] + "/mcp",
            "transport": "streamable-http",
            "environment": "staging",
            "team": "commerce",
            "tags": ["inventory", "demo", "flaky"],
            "account": "demo-local",
            "description": "Fails about a third of its requests, to show degraded and down states.",
        },
        {
            "name": "assistant",
            "kind": "agent_backend",
            "url": base["assistant"],
            "health_path": "/healthz",
            "metrics_path": "/metrics",
            "environment": "production",
            "team": "platform",
            "tags": ["agent", "demo"],
            "account": "demo-local",
            "depends_on": ["notes", "search", "calendar", "inventory"],
            "description": "The agent backend that calls the four MCP servers.",
        },
        {
            "name": "weather",
            "kind": "mcp_server",
            "url": base["weather"] + "/mcp",
            "transport": "streamable-http",
            "environment": "production",
            "team": "research",
            "tags": ["weather", "demo"],
            "account": "demo-local",
            "description": "Weather forecasts (Streamable HTTP, JSON responses).",
        },
        {
            "name": "docs",
            "kind": "mcp_server",
            "url": base["docs"] + "/mcp",
            "transport": "streamable-http",
            "environment": "production",
            "team": "productivity",
            "tags": ["docs", "demo"],
            "account": "demo-local",
            "description": "Searches the team handbook; loads its index at start.",
        },
        {
            "name": "tickets",
            "kind": "mcp_server",
            "url": base["tickets"] + "/mcp",
            "transport": "streamable-http",
            "environment": "production",
            "team": "commerce",
            "tags": ["tickets", "demo"],
            "account": "demo-local",
            "description": "Support tickets (Streamable HTTP, SSE responses).",
        },
        {
            "name": "reports",
            "kind": "agent_backend",
            "url": base["reports"],
            "health_path": "/healthz",
            "environment": "production",
            "team": "commerce",
            "tags": ["agent", "demo"],
            "account": "demo-local",
            "depends_on": ["tickets", "docs"],
            "description": "Weekly reports; its database is unreachable, so /healthz fails.",
        },
    ]
    if names is not None:
        keep = set(names)
        services = [s for s in services if s["name"] in keep]
    accounts = [{"name": "demo-local", "provider": "url"}]
    return yaml.safe_dump({"accounts": accounts, "services": services}, sort_keys=False)
