"""tools/list pagination, the synthetic tools/call, and credentials (sent, and not needed?)."""

from __future__ import annotations

import pytest

from checks.probing.types import ProbeTarget
from tests.mcp_servers.legacy import LegacyStreamableServer
from tests.mcp_servers.sdk_servers import (
    RequestRecorder,
    demo_server,
    paginated_app,
    require_header,
    sse_app,
    streamable_app,
)
from tests.mcp_servers.serving import served
from tests.probing.conftest import run_probe


def test_pagination_on_a_modern_sdk_server():
    with served(paginated_app(tool_count=7, page_size=3)) as base:
        outcome = run_probe(ProbeTarget("paged", f"{base}/mcp"))

    assert outcome.ok, outcome.error
    assert outcome.transport == "stateless"
    assert [t.name for t in outcome.tools] == [f"tool_{i:02d}" for i in range(7)]


def test_pagination_on_an_old_session_server():
    tools = [{"name": f"t{i}", "description": "", "inputSchema": {}} for i in range(5)]
    server = LegacyStreamableServer("2025-06-18", tools=tools, page_size=2)
    with served(server) as base:
        outcome = run_probe(ProbeTarget("paged", f"{base}/mcp"))

    assert outcome.ok, outcome.error
    assert [t.name for t in outcome.tools] == ["t0", "t1", "t2", "t3", "t4"]
    assert [r["rpc"] for r in server.requests].count("tools/list") == 3


def call(tool, arguments=None, expect=""):
    return {
        "tool_call_name": tool,
        "tool_call_arguments": arguments or {},
        "tool_call_expect": expect,
    }


@pytest.fixture(scope="module", params=["stateless", "sse"])
def any_sdk_server(request):
    if request.param == "stateless":
        with served(streamable_app(json_response=True)) as base:
            yield ProbeTarget("s", f"{base}/mcp").url, "streamable-http"
    else:
        with served(sse_app()) as base:
            yield f"{base}/sse", "sse"


def test_synthetic_call_passes(any_sdk_server):
    url, transport = any_sdk_server

    outcome = run_probe(
        ProbeTarget("s", url, transport=transport, **call("add", {"a": 2, "b": 40}, "42"))
    )

    assert outcome.ok, outcome.error
    assert outcome.tool_call_ok is True
    assert outcome.tool_call_detail == "result received (2 characters of text)"
    assert outcome.body_excerpt == "tools/call result: 42"
    assert "tool_call" in outcome.phases_ms


def test_synthetic_call_with_is_error_fails_the_probe(any_sdk_server):
    url, transport = any_sdk_server

    outcome = run_probe(
        ProbeTarget("s", url, transport=transport, **call("fail", {"reason": "db down"}))
    )

    assert not outcome.ok
    assert outcome.tool_call_ok is False
    assert outcome.phase == "tools/call"
    assert "returned an error" in outcome.error and "db down" not in outcome.error
    assert "db down" in outcome.body_excerpt
    assert outcome.tools, "the tool list is still recorded"


def test_synthetic_call_with_unexpected_text_fails(any_sdk_server):
    url, transport = any_sdk_server

    outcome = run_probe(
        ProbeTarget("s", url, transport=transport, **call("echo", {"text": "hi"}, "pong"))
    )

    assert not outcome.ok
    assert outcome.error == (
        "tools/call: expected 'pong' in the result, which does not contain it "
        "(8 characters of text)"
    )
    assert outcome.body_excerpt == "tools/call result: echo: hi"


def test_synthetic_call_of_an_unlisted_tool_fails():
    with served(streamable_app(json_response=True)) as base:
        outcome = run_probe(ProbeTarget("s", f"{base}/mcp", **call("nope")))

    assert not outcome.ok
    assert outcome.error == "tools/call: tool 'nope' is not in tools/list"


def test_synthetic_call_on_an_old_session_server():
    server = LegacyStreamableServer("2025-03-26")
    with served(server) as base:
        outcome = run_probe(
            ProbeTarget("s", f"{base}/mcp", **call("lookup", {"id": "7"}, "lookup ok"))
        )

    assert outcome.ok, outcome.error
    assert outcome.body_excerpt == 'tools/call result: lookup ok: {"id": "7"}'
    assert server.deleted


def test_stateless_tool_call_mirrors_the_name_header():
    recorder = RequestRecorder(streamable_app(json_response=True))
    with served(recorder) as base:
        run_probe(ProbeTarget("s", f"{base}/mcp", **call("add", {"a": 1, "b": 1})))

    calls = [
        r["headers"] for r in recorder.requests if r["headers"].get("mcp-method") == "tools/call"
    ]
    assert calls and calls[0]["mcp-name"] == "add"


def test_auth_header_is_sent_and_a_protected_server_does_not_list_tools_without_it():
    recorder = RequestRecorder(streamable_app(demo_server("locked"), json_response=True))
    guarded = require_header(recorder, "Authorization", "Bearer s3cret")
    with served(guarded) as base:
        target = ProbeTarget(
            "locked", f"{base}/mcp", auth_header="Authorization", auth_value="Bearer s3cret"
        )
        outcome = run_probe(target)

    assert outcome.ok, outcome.error
    assert outcome.server_name == "locked"
    assert outcome.unauthenticated_tools_list is False
    assert all(r["headers"]["authorization"] == "Bearer s3cret" for r in recorder.requests)


def test_server_that_ignores_credentials_is_reported_as_open():
    with served(streamable_app(json_response=True)) as base:
        target = ProbeTarget("open", f"{base}/mcp", auth_header="X-Api-Key", auth_value="k")
        outcome = run_probe(target)

    assert outcome.ok, outcome.error
    assert outcome.unauthenticated_tools_list is True


def test_open_old_session_server_is_reported_as_open_and_both_sessions_are_closed():
    server = LegacyStreamableServer("2025-06-18")
    with served(server) as base:
        target = ProbeTarget("open", f"{base}/mcp", auth_header="X-Api-Key", auth_value="k")
        outcome = run_probe(target)

    assert outcome.unauthenticated_tools_list is True
    assert len(server.deleted) == 2 and not server.sessions
    # The check without credentials goes straight to initialize: the era is already known.
    assert [r["rpc"] for r in server.requests].count("server/discover") == 1


def test_wrong_credentials_fail_with_401():
    guarded = require_header(streamable_app(json_response=True), "Authorization", "Bearer right")
    with served(guarded) as base:
        target = ProbeTarget(
            "locked", f"{base}/mcp", auth_header="Authorization", auth_value="Bearer wrong"
        )
        outcome = run_probe(target)

    assert not outcome.ok and outcome.needs_credentials
    # A 401 challenge refuses every protocol generation alike: no fallback to initialize.
    assert outcome.phase == "discover"
    assert "HTTP 401 Unauthorized" in outcome.error and "needs credentials" in outcome.error
    assert "the credentials sent were refused" in outcome.error
    assert outcome.unauthenticated_tools_list is None


def test_no_auth_configured_means_no_unauthenticated_check():
    with served(streamable_app(json_response=True)) as base:
        outcome = run_probe(ProbeTarget("plain", f"{base}/mcp"))

    assert outcome.unauthenticated_tools_list is None
