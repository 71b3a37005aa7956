"""One shared client whose connections are nonetheless owned by each probe.

httpcore's pool scans every pooled connection on every request (several times, some scans nested),
so one big pool shared by 100+ concurrent probes costs O(connections²) CPU: about 28 ms per probe
in a 1,000-endpoint sweep. Probes never reuse each other's connections anyway (each talks to its
own server), so the shared client routes each probe's requests to a two-connection pool of its own
(legacy SSE needs two), closed as soon as the probe ends: the server is not left holding idle
keep-alive sockets either. Outside `own_connections` the client's ordinary pool is used.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

import httpx

CONNECTIONS_PER_PROBE = 2
_current: ContextVar[httpx.AsyncHTTPTransport | None] = ContextVar("probe_transport", default=None)


class PerProbeTransport(httpx.AsyncBaseTransport):
    """Sends through the running probe's own pool when there is one, else through `fallback`."""

    def __init__(self, ssl_context: ssl.SSLContext, fallback: httpx.AsyncHTTPTransport) -> None:
        self.ssl_context = ssl_context
        self.fallback = fallback

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Route the request to the current probe's pool."""
        transport = _current.get() or self.fallback
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the fallback pool (probe pools close with their probe)."""
        await self.fallback.aclose()


def make_shared_client(concurrency: int) -> httpx.AsyncClient:
    """The sweep's client: one TLS configuration, connections capped at two per probe in flight."""
    context = ssl.create_default_context()  # built once: creating one costs ~30 ms of CPU
    limit = max(CONNECTIONS_PER_PROBE * concurrency, CONNECTIONS_PER_PROBE)
    fallback = httpx.AsyncHTTPTransport(
        verify=context, limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    )
    # Timeouts are enforced per phase by the probes; redirects by their own same-host policy.
    return httpx.AsyncClient(
        transport=PerProbeTransport(context, fallback), timeout=None, follow_redirects=False
    )


@asynccontextmanager
async def own_connections(client: httpx.AsyncClient) -> AsyncIterator[None]:
    """Within this block, requests through `client` use a fresh pool that is closed at the end."""
    shared = client._transport  # httpx keeps the transport it was given here
    if not isinstance(shared, PerProbeTransport):
        yield
        return
    limits = httpx.Limits(
        max_connections=CONNECTIONS_PER_PROBE, max_keepalive_connections=CONNECTIONS_PER_PROBE
    )
    transport = httpx.AsyncHTTPTransport(verify=shared.ssl_context, limits=limits)
    token = _current.set(transport)
    try:
        yield
    finally:
        _current.reset(token)
        await transport.aclose()
