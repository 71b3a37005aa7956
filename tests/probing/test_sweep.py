"""probe_many: order kept, failures contained, a hanging server delays nobody else."""

from __future__ import annotations

import asyncio

from checks.probing import sweep
from checks.probing.mcp_probe import probe_mcp_server
from checks.probing.sweep import probe_many, probe_many_sync
from checks.probing.types import ProbeTarget
from tests.mcp_servers import misbehaving as bad
from tests.mcp_servers.legacy import LegacyStreamableServer
from tests.mcp_servers.sdk_servers import sse_app, streamable_app
from tests.mcp_servers.serving import served


def test_mixed_fleet_in_order_with_one_hanging_server():
    with (
        served(streamable_app(json_response=True)) as modern,
        served(sse_app()) as legacy_sse,
        served(LegacyStreamableServer("2025-03-26")) as old,
        served(bad.hang_after_headers_app()) as hanging,
    ):
        targets = [
            ProbeTarget("hang", f"{hanging}/mcp", timeout_s=1.0),
            *[ProbeTarget(f"modern-{i}", f"{modern}/mcp", timeout_s=1.0) for i in range(5)],
            ProbeTarget("sse", f"{legacy_sse}/sse", transport="sse", timeout_s=1.0),
            ProbeTarget("old", f"{old}/mcp", timeout_s=1.0),
        ]
        outcomes = probe_many_sync(targets, concurrency=4)

    assert [o.transport for o in outcomes] == [""] + ["stateless"] * 5 + ["sse", "streamable-http"]
    assert not outcomes[0].ok and "body stalled" in outcomes[0].error
    assert all(o.ok for o in outcomes[1:]), [o.error for o in outcomes[1:]]
    # Each healthy probe took its own few milliseconds, not the hanging server's second.
    assert all(o.latency_ms < 500 for o in outcomes[1:])


def test_a_crashing_probe_becomes_its_own_failed_outcome(monkeypatch):
    real = sweep.probe_target

    async def sometimes_crash(target, client):
        if target.name == "boom":
            raise RuntimeError("bug in probe")
        return await real(target, client)

    monkeypatch.setattr(sweep, "probe_target", sometimes_crash)
    with served(streamable_app(json_response=True)) as base:
        targets = [ProbeTarget("boom", f"{base}/mcp"), ProbeTarget("fine", f"{base}/mcp")]
        outcomes = asyncio.run(probe_many(targets))

    assert outcomes[0].error == "internal: the probe crashed (RuntimeError: bug in probe)"
    assert outcomes[1].ok


def test_a_probe_keeps_one_connection_alive_for_its_requests_and_closes_it_at_the_end():
    async def go(base, url):
        async with sweep.make_client() as client:
            stateless = await probe_mcp_server(ProbeTarget("s", f"{modern}/mcp"), client)
            after_stateless = (client.opened, client.open_now)
            old_style = await probe_mcp_server(ProbeTarget("o", url), client)
            return stateless, after_stateless, old_style, (client.opened, client.open_now)

    with (
        served(streamable_app(json_response=True)) as modern,
        served(LegacyStreamableServer("2025-06-18")) as old,
    ):
        stateless, after_stateless, old_style, after_old = asyncio.run(go(modern, f"{old}/mcp"))

    # discover + tools/list on one connection; the 2025 handshake's five requests on one more.
    assert stateless.ok and old_style.ok, (stateless.error, old_style.error)
    assert old_style.transport == "streamable-http"
    assert after_stateless == (1, 0)
    assert after_old == (2, 0)
    assert stateless.phases_ms["connect"] > 0


def test_legacy_sse_holds_a_second_connection_while_its_stream_is_open():
    async def go(url):
        async with sweep.make_client() as client:
            outcome = await probe_mcp_server(ProbeTarget("sse", url, transport="sse"), client)
            return outcome, client.opened, client.open_now

    with served(sse_app()) as base:
        outcome, opened, open_now = asyncio.run(go(f"{base}/sse"))

    assert outcome.ok, outcome.error
    assert (opened, open_now) == (2, 0)
