"""Each protocol generation, spoken against real servers, is recognised and recorded."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from checks.probing.mcp_probe import probe_mcp_server
from checks.probing.types import ProbeTarget
from tests.mcp_servers.legacy import LegacyStreamableServer
from tests.mcp_servers.sdk_servers import RequestRecorder, demo_server, upgraded_sse_app
from tests.mcp_servers.serving import served
from tests.probing.conftest import run_probe


def test_modern_sdk_server_is_probed_statelessly_in_two_requests(sdk_json):
    url, recorder = sdk_json
    before = len(recorder.requests)

    outcome = run_probe(ProbeTarget("svc", url))

    assert outcome.ok, outcome.error
    assert outcome.transport == "stateless"
    assert outcome.protocol_version == "2026-07-28"
    assert (outcome.server_name, outcome.server_version) == ("demo-json", "1.2.3")
    assert "tools" in outcome.capabilities
    sent = recorder.requests[before:]
    assert [r["headers"]["mcp-method"] for r in sent] == ["server/discover", "tools/list"]
    assert all(r["headers"]["mcp-protocol-version"] == "2026-07-28" for r in sent)
    assert not any("mcp-session-id" in r["headers"] for r in sent)


def test_tools_are_recorded_with_schema_and_annotations(sdk_json):
    outcome = run_probe(ProbeTarget("svc", sdk_json[0]))

    tools = {t.name: t for t in outcome.tools}
    assert set(tools) == {"add", "echo", "fail"}
    assert tools["add"].description == "Add two integers."
    assert tools["add"].input_schema["properties"]["a"]["type"] == "integer"
    assert tools["add"].annotations == {"readOnlyHint": True}


def test_sdk_server_in_sse_response_mode(sdk_sse_mode):
    outcome = run_probe(ProbeTarget("svc", sdk_sse_mode))

    assert outcome.ok, outcome.error
    assert outcome.transport == "stateless"
    assert outcome.instructions == "Use add for sums."
    assert {"discover", "tools_list", "total"} <= outcome.phases_ms.keys()


def test_legacy_http_sse_transport(sdk_legacy_sse):
    url, recorder = sdk_legacy_sse

    outcome = run_probe(ProbeTarget("svc", url, transport="sse"))

    assert outcome.ok, outcome.error
    assert outcome.transport == "sse"
    assert outcome.protocol_version == "2025-11-25"  # what the SDK's SSE server negotiated
    assert outcome.server_name == "demo-legacy"
    assert {t.name for t in outcome.tools} == {"add", "echo", "fail"}
    assert {"connect", "initialize", "initialized", "tools_list"} <= outcome.phases_ms.keys()
    assert any(r["path"].startswith("/messages") for r in recorder.requests)


def test_a_legacy_sse_service_is_asked_server_discover_first(sdk_legacy_sse):
    """An SSE-only server refuses the POST; the probe then opens the event stream as before."""
    url, recorder = sdk_legacy_sse
    before = len(recorder.requests)

    outcome = run_probe(ProbeTarget("svc", url, transport="sse"))

    assert outcome.ok, outcome.error
    assert outcome.transport == "sse"
    sent = recorder.requests[before:]
    assert (sent[0]["method"], sent[0]["path"]) == ("POST", "/sse")
    assert sent[0]["headers"]["mcp-method"] == "server/discover"
    assert (sent[1]["method"], sent[1]["path"]) == ("GET", "/sse")


def test_a_service_registered_as_sse_that_now_speaks_2026_is_recorded_at_the_newest_version():
    """The recorded version is the newest both sides share, even when the registry still says SSE."""
    recorder = RequestRecorder(upgraded_sse_app(demo_server("upgraded", "3.0.0")))
    with served(recorder) as base:
        outcome = run_probe(ProbeTarget("svc", f"{base}/sse", transport="sse"))

    assert outcome.ok, outcome.error
    assert outcome.transport == "stateless"
    assert outcome.protocol_version == "2026-07-28"
    assert outcome.server_name == "upgraded"
    assert {t.name for t in outcome.tools} == {"add", "echo", "fail"}
    assert [r["method"] for r in recorder.requests] == ["POST", "POST"]  # discover, tools/list


def test_sse_server_configured_as_streamable_http_falls_back_to_sse(sdk_legacy_sse):
    outcome = run_probe(ProbeTarget("svc", sdk_legacy_sse[0], transport="streamable-http"))

    assert outcome.ok, outcome.error
    assert outcome.transport == "sse"


@pytest.mark.parametrize("version", ["2024-11-05", "2025-03-26", "2025-06-18"])
@pytest.mark.parametrize("sse_responses", [False, True])
def test_old_session_servers_get_the_initialize_handshake(version, sse_responses):
    server = LegacyStreamableServer(version, sse_responses=sse_responses)
    with served(server) as base:
        outcome = run_probe(ProbeTarget("old", f"{base}/mcp"))

    assert outcome.ok, outcome.error
    assert outcome.transport == "streamable-http"
    assert outcome.protocol_version == version
    assert (outcome.server_name, outcome.server_version) == ("legacy-server", "0.4.2")
    assert [t.name for t in outcome.tools] == ["lookup", "ping_db"]
    rpc = [r["rpc"] for r in server.requests if r["method"] == "POST"]
    assert rpc == ["server/discover", "initialize", "notifications/initialized", "tools/list"]
    later = [r for r in server.requests if r["rpc"] in ("notifications/initialized", "tools/list")]
    assert all(r["headers"]["mcp-protocol-version"] == version for r in later)
    assert server.deleted, "the session should be ended with DELETE"
    assert not server.sessions
    assert {
        "discover",
        "initialize",
        "initialized",
        "tools_list",
        "close",
    } <= outcome.phases_ms.keys()


@pytest.mark.parametrize("generation", ["stateless", "streamable-http", "sse"])
def test_a_callers_httpx_client_speaks_every_generation_too(generation, sdk_json, sdk_legacy_sse):
    """Callers may hand in their own httpx.AsyncClient instead of the sweep's lean client."""

    async def go(target: ProbeTarget):
        async with httpx.AsyncClient(timeout=None) as client:
            return await probe_mcp_server(target, client)

    with served(LegacyStreamableServer("2025-06-18")) as old:
        target = {
            "stateless": ProbeTarget("new", sdk_json[0]),
            "streamable-http": ProbeTarget("old", f"{old}/mcp"),
            "sse": ProbeTarget("sse", sdk_legacy_sse[0], transport="sse"),
        }[generation]
        outcome = asyncio.run(go(target))

    assert outcome.ok, outcome.error
    assert outcome.transport == generation
    assert outcome.tools
    assert outcome.phases_ms["connect"] > 0
