"""Sweep 1,000 real SDK MCP endpoints on loopback and report wall time and prober CPU per handshake.

Run: `.venv/bin/python -m bench.probe_sweep [--servers 1000] [--concurrency 100]`.

The servers run in separate processes (so their CPU is not counted as the console's): each is one
uvicorn + `MCPServer` app reachable under many paths (`/s/<n>/mcp`), i.e. many endpoints. A
middleware delays every response by 50 ms to stand in for a real network. An "old" flavour answers
`server/discover` the way pre-2026 servers do (400 Missing session ID), which drives the prober
through the 2025 handshake: initialize, initialized, tools/list and DELETE against the SDK server.

Measured 2026-11-30 (2 shared cores, load ~15), console CPU ms per probe, three runs each, before →
after proxies / per-service TLS / the httpx fallback (issue #12 "Reach"): 2026-07-28 +50 ms
0.49, 0.50, 0.49 → 0.65, 0.53, 0.59; 2025 sessions 1.19, 1.29, 1.41 → 1.38, 1.28, 1.37; 2026-07-28
no delay 0.66, 0.61, 0.61 → 0.54, 0.62, 0.54. The added work per probe measures ~1.5 µs in isolation
(route and TLS checks) plus ~8 µs per service to build its route in `checks.targets`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

DELAY_S = 0.05
NAIVE_SAMPLE = 50


# -- server side (runs in child processes) ---------------------------------------------------------


def _server_app(flavour: str, delay_s: float):  # noqa: ANN202 - ASGI app
    """One SDK server behind path routing, optional delay and optional old-server behaviour."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    server = MCPServer("bench", version="1.0.0")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Repeat the text."""
        return text

    security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
    inner = server.streamable_http_app(json_response=True, transport_security=security)
    refusal = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request: Missing session ID"}}'

    async def app(scope, receive, send):  # noqa: ANN001, ANN202
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        if delay_s:
            await asyncio.sleep(delay_s)
        # /s/<n>/mcp -> /mcp: many endpoints, one server object.
        scope = dict(scope, path="/mcp", raw_path=b"/mcp")
        headers = dict(scope["headers"])
        if flavour == "old" and headers.get(b"mcp-protocol-version") == b"2026-07-28":
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": refusal})
            return
        await inner(scope, receive, send)

    return app


def _serve(flavour: str, delay_s: float, ports: multiprocessing.Queue) -> None:
    import socket

    import uvicorn

    logging.disable(logging.WARNING)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    ports.put(sock.getsockname()[1])
    config = uvicorn.Config(
        _server_app(flavour, delay_s), log_level="error", backlog=4096, timeout_keep_alive=30
    )
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class ServerGroup:
    processes: list[multiprocessing.Process]
    ports: list[int]

    def cpu_s(self) -> float:
        """CPU seconds the server processes have used so far (Linux /proc)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for process in self.processes:
            with open(f"/proc/{process.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        return total

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join(5)


def start_servers(flavour: str, delay_s: float, count: int) -> ServerGroup:
    """Start `count` server processes; endpoints are spread across them."""
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = ctx.Queue()
    processes = [
        ctx.Process(target=_serve, args=(flavour, delay_s, queue), daemon=True)
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    ports = [queue.get(timeout=60) for _ in processes]
    _wait_ready(ports)
    return ServerGroup(processes, ports)


def _wait_ready(ports: Sequence[int]) -> None:
    import httpx

    deadline = time.monotonic() + 60
    for port in ports:
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/s/0/mcp", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


# -- console side ----------------------------------------------------------------------------------


def endpoints(group: ServerGroup, servers: int) -> list[str]:
    """`servers` distinct endpoint URLs spread over the server processes."""
    ports = group.ports
    return [f"http://127.0.0.1:{ports[i % len(ports)]}/s/{i}/mcp" for i in range(servers)]


@dataclass
class SweepResult:
    label: str
    servers: int
    ok: int
    wall_s: float
    cpu_ms_per_probe: float
    transport: str
    server_cpu_ms_per_probe: float = 0.0


def run_sweep(label: str, urls: list[str], concurrency: int, group: ServerGroup) -> SweepResult:
    """One probe_many over `urls`; CPU is this process's CPU time (the servers run elsewhere)."""
    from checks.probing.sweep import probe_many, run_async
    from checks.probing.types import ProbeTarget

    targets = [ProbeTarget(f"mcp-{i}", url, timeout_s=10) for i, url in enumerate(urls)]
    server0 = group.cpu_s()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcomes = run_async(probe_many(targets, concurrency=concurrency))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    server_cpu = group.cpu_s() - server0
    transports = sorted({o.transport for o in outcomes if o.ok})
    failures = [o.error for o in outcomes if not o.ok][:3]
    if failures:
        print(f"  {label}: first failures: {failures}")
    return SweepResult(
        label,
        len(urls),
        sum(o.ok for o in outcomes),
        wall,
        cpu / len(urls) * 1000,
        ",".join(transports),
        server_cpu / len(urls) * 1000,
    )


def run_naive(urls: list[str], total: int) -> tuple[float, float]:
    """The SDK `Client`, one server after another: time a sample, extrapolate to `total`."""
    from mcp.client import Client

    async def sequential() -> None:
        for url in urls:
            async with Client(url) as client:
                await client.list_tools()

    cpu0, wall0 = time.process_time(), time.perf_counter()
    asyncio.run(sequential())
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return wall / len(urls) * total, cpu / len(urls) * 1000


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options, run the sweeps, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=1000, help="endpoints per sweep")
    parser.add_argument("--concurrency", type=int, default=100, help="probes in flight")
    parser.add_argument("--processes", type=int, default=2, help="server processes per flavour")
    parser.add_argument("--skip-naive", action="store_true", help="skip the SDK Client baseline")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)

    results: list[SweepResult] = []
    naive: tuple[float, float] | None = None
    for flavour, delay, label in [
        ("modern", DELAY_S, "2026-07-28 servers, +50 ms per response"),
        ("old", DELAY_S, "2025 session servers, +50 ms per response"),
        ("modern", 0.0, "2026-07-28 servers, no added delay"),
    ]:
        group = start_servers(flavour, delay, args.processes)
        try:
            urls = endpoints(group, args.servers)
            run_sweep("warm-up", urls[:20], args.concurrency, group)  # imports, first connections
            results.append(run_sweep(label, urls, args.concurrency, group))
            if flavour == "modern" and delay and not args.skip_naive:
                naive = run_naive(urls[:NAIVE_SAMPLE], args.servers)
        finally:
            group.stop()

    print()
    print(
        f"Probe sweep of {args.servers} MCP endpoints, concurrency {args.concurrency}, one worker process"
    )
    head = f"{'sweep':44} {'ok':>5} {'spoke':>16} {'wall s':>7} {'CPU ms/probe':>13}"
    print(f"{head} {'server CPU ms/probe':>20}")
    for r in results:
        print(
            f"{r.label:44} {r.ok:>5} {r.transport:>16} {r.wall_s:>7.2f} "
            f"{r.cpu_ms_per_probe:>13.2f} {r.server_cpu_ms_per_probe:>20.2f}"
        )
    if naive is not None:
        wall, cpu = naive
        label = "naive SDK Client, sequential (extrapolated)"
        print(f"{label:44} {'':>5} {'':>16} {wall:>7.1f} {cpu:>13.2f}")
        print(f"speed-up of probe_many over the naive loop: {wall / results[0].wall_s:.0f}x")
    print("targets: 1,000 endpoints under 5 s wall, under 2 ms console CPU per handshake")
    print(
        f"event loop: {_loop_name()}; the server processes share this machine's {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
