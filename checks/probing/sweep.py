"""Probe many services concurrently through one shared client; the entry point for workers.

The client is the lean HTTP/1.1 client of `h1`: each probe opens its own connections (kept alive
between its requests, closed when it ends), so probes never scan or contend for a shared pool.

Where the lean client cannot talk to a service (a server that speaks only HTTP/2, an https://
proxy), the probe goes the httpx way instead, with the same proxy, trust and client
certificate: decided from the settings, remembered from an earlier probe (`network.client`), or
found out now (the lean attempt raises `Unsupported`, and the same probe runs again on httpx).
The outcome says which client probed and why (`client`, `client_reason`); the worker remembers
it per service (README: "Which client probes a service").
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from checks.probing.h1 import ProbeClient
from checks.probing.http_probe import probe_http_health
from checks.probing.mcp_probe import probe_mcp_server
from checks.probing.tls_probe import probe_tls
from checks.probing.types import ProbeOutcome, ProbeTarget
from checks.probing.wire import Client

T = TypeVar("T")


def make_client(concurrency: int = 100) -> ProbeClient:
    """The one client a sweep shares (use as `async with`): its TLS settings, built once.

    `concurrency` is accepted for compatibility; connections are per probe, so the number of
    probes in flight (`probe_many`'s bound) is what limits them, at most two per probe.
    """
    del concurrency
    return ProbeClient()


async def probe_target(target: ProbeTarget, client: Client) -> ProbeOutcome:
    """Run the right checks for one service: MCP handshake and/or health, plus TLS for https."""
    tls_task = None
    if target.url.lower().startswith("https://"):
        if isinstance(client, ProbeClient):
            check = probe_tls(target.url, target.timeout_s, client=client, network=target.network)
        else:
            check = probe_tls(target.url, target.timeout_s)
        tls_task = asyncio.create_task(check)
    network = target.network
    reason = network.client_reason if network.client == "httpx" else network.httpx_reason()
    if isinstance(client, ProbeClient) and reason:
        outcome = await _checks(target, client.httpx_client(network, _prior(target, reason)))
        outcome.client, outcome.client_reason = "httpx", reason
    else:
        outcome = await _checks(target, client)
        if isinstance(client, ProbeClient) and outcome.lean_unsupported:
            reason = outcome.lean_unsupported
            fallback = client.httpx_client(network, _prior(target, reason))
            outcome = await _checks(target, fallback)
            outcome.client, outcome.client_reason = "httpx", reason
        elif not isinstance(client, ProbeClient):
            outcome.client = "httpx"
    if tls_task is not None:
        outcome.tls = await tls_task
    return outcome


async def _checks(target: ProbeTarget, client: Client) -> ProbeOutcome:
    if target.kind == "agent_backend":
        return await probe_http_health(target, client)
    outcome = await probe_mcp_server(target, client)
    if target.health_path:
        _merge_health(outcome, await probe_http_health(target, client))
    return outcome


def _prior(target: ProbeTarget, reason: str) -> bool:
    """HTTP/2 by prior knowledge: a cleartext server that speaks only HTTP/2 (no ALPN there)."""
    return "HTTP/2" in reason and target.url.lower().startswith("http://")


def _merge_health(outcome: ProbeOutcome, health: ProbeOutcome) -> None:
    outcome.http_status = health.http_status
    outcome.phases_ms["health"] = health.phases_ms.get("health", health.latency_ms or 0.0)
    if outcome.ok and not health.ok:
        outcome.ok, outcome.error, outcome.phase = False, health.error, health.phase
        outcome.needs_credentials = health.needs_credentials


async def probe_many(targets: Sequence[ProbeTarget], concurrency: int = 100) -> list[ProbeOutcome]:
    """Probe every target, at most `concurrency` at once; outcomes in the order of `targets`."""
    semaphore = asyncio.Semaphore(concurrency)
    async with make_client(concurrency) as client:

        async def one(target: ProbeTarget) -> ProbeOutcome:
            async with semaphore:
                try:
                    return await probe_target(target, client)
                except Exception as exc:  # a bug in one probe must not sink the sweep
                    return ProbeOutcome(
                        ok=False,
                        phase="internal",
                        error=f"internal: the probe crashed ({type(exc).__name__}: {exc})",
                    )

        return list(await asyncio.gather(*(one(t) for t in targets)))


def probe_many_sync(targets: Sequence[ProbeTarget], concurrency: int = 100) -> list[ProbeOutcome]:
    """`probe_many` for synchronous callers such as Celery tasks."""
    return run_async(probe_many(targets, concurrency))


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is installed (about 10% less CPU per probe).

    Called from a thread that already runs an event loop (an async view, a redeploy task in an
    async context), it runs the coroutine on a fresh loop in a helper thread instead of failing.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_here(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_here, coro).result()


def _run_here(coro: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
