"""The demo fleet: real MCP servers (official `mcp` SDK) and two agent backends, on loopback.

`python -m fleet.demo.servers --ports P1,...,P9` serves, in one process and in `DEMO_ORDER`:
notes (Streamable HTTP, JSON responses), search (Streamable HTTP, SSE responses), calendar (legacy
HTTP+SSE), inventory (Streamable HTTP that fails from time to time), an agent backend with /healthz,
weather, docs and tickets (Streamable HTTP), and a reports backend whose /healthz fails (its
database is unreachable). `--warm-up docs=N` makes docs answer 503 to its first N requests, the
way a server that loads an index at start does.
"""

from __future__ import annotations

import argparse
import asyncio
import random
from datetime import UTC, datetime, timedelta

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

DEMO_ORDER = (
    "notes", "search", "calendar", "inventory", "assistant", "weather", "docs", "tickets", "reports",
)  # fmt: skip


def notes_server() -> MCPServer:
    server = MCPServer(
        "notes",
        version="1.4.0",
        log_level="WARNING",
        instructions="Personal notes: add, list and search.",
    )
    notes: list[dict] = [{"id": 1, "title": "welcome", "body": "This fleet is live."}]

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
    def add_note(title: str, body: str) -> str:
        """Add a note with a title and body."""
        notes.append({"id": len(notes) + 1, "title": title, "body": body})
        return f"Saved note {len(notes)}: {title}"

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def list_notes() -> list[dict]:
        """List every note (id and title)."""
        return [{"id": n["id"], "title": n["title"]} for n in notes]

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def search_notes(query: str) -> list[dict]:
        """Find notes whose title or body contains the query."""
        q = query.lower()
        return [n for n in notes if q in n["title"].lower() or q in n["body"].lower()]

    return server


def search_server() -> MCPServer:
    server = MCPServer("search", version="0.9.2", log_level="WARNING")
    corpus = {
        "cloud run": "Serverless containers that scale to zero.",
        "fargate": "Containers on ECS without managing servers.",
        "container apps": "Azure's serverless container platform.",
        "kubernetes": "A container orchestrator.",
    }

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False))
    def web_search(query: str, limit: int = 3) -> list[dict]:
        """Search the demo corpus and return matching snippets."""
        q = query.lower()
        hits = [{"title": k, "snippet": v} for k, v in corpus.items() if q in k or q in v.lower()]
        return hits[: max(1, limit)]

    return server


def calendar_server() -> MCPServer:
    server = MCPServer("calendar", version="2.0.1", log_level="WARNING")
    events: list[dict] = []

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def list_events(days: int = 7) -> list[dict]:
        """Events in the next N days."""
        horizon = datetime.now(UTC) + timedelta(days=days)
        return [e for e in events if datetime.fromisoformat(e["start"]) <= horizon]

    @server.tool()
    def create_event(title: str, start: str) -> str:
        """Create an event; start is an ISO 8601 time."""
        events.append({"title": title, "start": datetime.fromisoformat(start).isoformat()})
        return f"Created {title}"

    @server.tool(annotations=ToolAnnotations(destructiveHint=True))
    def delete_event(title: str) -> str:
        """Delete every event with this title."""
        before = len(events)
        events[:] = [e for e in events if e["title"] != title]
        return f"Deleted {before - len(events)} event(s)"

    return server


def inventory_server() -> MCPServer:
    server = MCPServer("inventory", version="0.3.0", log_level="WARNING")
    stock = {"widget": 12, "gadget": 0}

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def check_stock(item: str) -> int:
        """How many of an item are in stock."""
        return stock.get(item, 0)

    return server


def weather_server() -> MCPServer:
    server = MCPServer("weather", version="1.4.2", log_level="WARNING")
    forecasts = {"paris": "light rain, 12 °C", "tokyo": "clear, 18 °C", "lima": "fog, 16 °C"}

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=True))
    def get_forecast(city: str) -> str:
        """Tomorrow's forecast for a city."""
        return forecasts.get(city.lower(), f"no forecast for {city}")

    return server


def docs_server() -> MCPServer:
    server = MCPServer(
        "docs", version="3.1.0", log_level="WARNING", instructions="Search the team handbook."
    )
    pages = {
        "on-call": "Who is on call, and how to hand over.",
        "deploys": "Deploy from main; redeploy from the console.",
    }

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def search_docs(query: str) -> list[dict]:
        """Handbook pages whose title or text contains the query."""
        q = query.lower()
        return [{"page": k, "text": v} for k, v in pages.items() if q in k or q in v.lower()]

    return server


def tickets_server() -> MCPServer:
    server = MCPServer("tickets", version="0.8.0", log_level="WARNING")
    tickets: list[dict] = []

    @server.tool()
    def open_ticket(title: str) -> str:
        """Open a support ticket."""
        tickets.append({"id": len(tickets) + 1, "title": title, "state": "open"})
        return f"Opened ticket {len(tickets)}"

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    def list_tickets() -> list[dict]:
        """Every ticket with its state."""
        return list(tickets)

    return server


class Flaky:
    """ASGI wrapper that fails a share of requests with 503, like a struggling deployment."""

    def __init__(self, app, failure_rate: float = 0.3):
        self.app, self.failure_rate = app, failure_rate

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and random.random() < self.failure_rate:
            await PlainTextResponse("upstream overloaded", status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class WarmUp:
    """ASGI wrapper that answers 503 to the first `requests` requests (an index still loading)."""

    def __init__(self, app, requests: int):
        self.app, self.remaining = app, requests

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.remaining > 0:
            self.remaining -= 1
            await PlainTextResponse("loading the search index", status_code=503)(
                scope, receive, send
            )
            return
        await self.app(scope, receive, send)


def reports_backend() -> Starlette:
    """An agent backend that is up but cannot reach its database: /healthz says so with 503."""

    async def healthz(request):
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)

    async def home(request):
        return PlainTextResponse("demo reports backend")

    return Starlette(routes=[Route("/healthz", healthz), Route("/", home)])


def assistant_backend() -> Starlette:
    """The agent backend: /healthz, and /metrics in the Prometheus text format (audits scrape
    it as the service's registered metrics path)."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

    registry = CollectorRegistry()
    served = Counter("assistant_requests", "Requests the demo assistant served", ["path"],
                     registry=registry)  # fmt: skip

    async def healthz(request):
        served.labels("/healthz").inc()
        return JSONResponse({"status": "ok", "uses": ["notes", "search", "calendar", "inventory"]})

    async def home(request):
        served.labels("/").inc()
        return PlainTextResponse("demo agent backend")

    async def metrics(request):
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/metrics", metrics), Route("/", home)]
    )


def build_apps(warm_up: dict[str, int] | None = None) -> dict[str, object]:
    apps = {
        "notes": notes_server().streamable_http_app(json_response=True),
        "search": search_server().streamable_http_app(),
        "calendar": calendar_server().sse_app(),
        "inventory": Flaky(inventory_server().streamable_http_app(json_response=True)),
        "assistant": assistant_backend(),
        "weather": weather_server().streamable_http_app(json_response=True),
        "docs": docs_server().streamable_http_app(json_response=True),
        "tickets": tickets_server().streamable_http_app(),
        "reports": reports_backend(),
    }
    for name, count in (warm_up or {}).items():
        apps[name] = WarmUp(apps[name], count)
    return apps


_PLAIN = ("assistant", "reports")  # Starlette apps without a lifespan


async def serve(ports: list[int], warm_up: dict[str, int] | None = None) -> None:
    apps = build_apps(warm_up)
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                apps[name],
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="off" if name in _PLAIN else "on",
            )
        )
        for name, port in zip(DEMO_ORDER, ports, strict=True)
    ]
    await asyncio.gather(*(s.serve() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--ports",
        required=True,
        help=f"{len(DEMO_ORDER)} comma-separated ports, in this order: " + ", ".join(DEMO_ORDER),
    )
    parser.add_argument(
        "--warm-up",
        action="append",
        default=[],
        metavar="NAME=N",
        help="answer 503 to NAME's first N requests (repeatable)",
    )
    args = parser.parse_args()
    ports = [int(p) for p in args.ports.split(",")]
    if len(ports) != len(DEMO_ORDER):
        parser.error(f"--ports: expected {len(DEMO_ORDER)} ports, got {len(ports)}")
    warm_up = {}
    for item in args.warm_up:
        name, _, count = item.partition("=")
        if name not in DEMO_ORDER or not count.isdigit():
            parser.error(f"--warm-up: {item!r} is not NAME=N with NAME one of the demo servers")
        warm_up[name] = int(count)
    asyncio.run(serve(ports, warm_up))


if __name__ == "__main__":
    main()
