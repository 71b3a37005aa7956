"""Every way a server can misbehave ends as ok=False with a clear error, within its timeout."""

from __future__ import annotations

import asyncio

import pytest

from checks.probing.types import ProbeTarget
from tests.mcp_servers import misbehaving as bad
from tests.mcp_servers.legacy import LegacyStreamableServer
from tests.mcp_servers.sdk_servers import delayed
from tests.mcp_servers.serving import served
from tests.probing.conftest import run_probe

TIMEOUT = 0.5


def probe(app, path="/mcp", **kwargs):
    with served(app) as base:
        return run_probe(ProbeTarget("bad", f"{base}{path}", timeout_s=TIMEOUT, **kwargs))


def assert_failed(outcome, phase, *words):
    assert not outcome.ok
    assert outcome.phase == phase, outcome.error
    assert outcome.error.startswith(f"{phase}: ")
    for word in words:
        assert word in outcome.error, outcome.error
    assert outcome.latency_ms is not None and outcome.latency_ms < 3 * TIMEOUT * 1000 + 500


def test_connection_refused():
    with served(bad.garbage_app()) as base:
        dead = base  # the port is free again once the server has stopped
    outcome = run_probe(ProbeTarget("down", f"{dead}/mcp", timeout_s=TIMEOUT))

    assert_failed(outcome, "connect", "connection refused")


def test_server_that_never_answers_times_out_in_the_first_phase():
    outcome = probe(bad.slow_app(delay_s=5))

    assert_failed(outcome, "discover", "no answer within the 0.5 s phase timeout")


def test_headers_then_hang():
    outcome = probe(bad.hang_after_headers_app())

    assert_failed(
        outcome, "discover", "no answer within", "the headers arrived, then the body stalled"
    )


def test_overall_deadline_caps_a_probe_whose_every_phase_is_just_in_time():
    app = delayed(LegacyStreamableServer(), 0.3, asyncio.sleep)  # each phase under its 0.5 s
    with served(app) as base:
        outcome = run_probe(ProbeTarget("slow", f"{base}/mcp", timeout_s=TIMEOUT), deadline_s=1.0)

    assert not outcome.ok
    assert outcome.phase in ("initialized", "tools/list"), outcome.error
    assert "the probe's overall deadline of 1 s ran out" in outcome.error
    assert outcome.latency_ms < 1500


def test_garbage_body():
    outcome = probe(bad.garbage_app())

    assert_failed(outcome, "initialize", "not valid JSON", "application/json, 17 bytes")
    assert outcome.body_excerpt == "this is {not json"  # the body itself: for operators only


def test_json_that_is_not_json_rpc():
    outcome = probe(bad.malformed_rpc_app())

    assert_failed(outcome, "initialize", "malformed JSON-RPC")


def test_http_500():
    outcome = probe(bad.status_app(500))

    assert_failed(outcome, "initialize", "HTTP 500 Internal Server Error", "Internal Server Error")


def test_html_error_page_is_summarised_by_its_title():
    outcome = probe(bad.html_error_app())

    assert_failed(outcome, "initialize", "HTTP 502", "text/html")
    assert outcome.body_excerpt == "HTML page titled '502 Bad Gateway'"
    assert "<html" not in outcome.error


def test_401_names_the_status():
    outcome = probe(bad.status_app(401, b'{"error":"unauthorized"}', "application/json"))

    assert_failed(outcome, "initialize", "HTTP 401 Unauthorized")


def test_wrong_content_type():
    outcome = probe(bad.wrong_content_type_app())

    assert_failed(
        outcome, "initialize", "expected application/json or text/event-stream", "text/plain"
    )


def test_oversized_body_is_cut_off_at_the_cap():
    outcome = probe(bad.oversized_app(size=2 << 20))

    assert_failed(outcome, "discover", "exceeds the 1 MiB size cap")


def test_size_cap_is_configurable():
    with served(bad.oversized_app(size=64 * 1024)) as base:
        target = ProbeTarget("big", f"{base}/mcp", timeout_s=TIMEOUT)
        outcome = run_probe(target, max_response_bytes=16 * 1024)

    assert_failed(outcome, "discover", "exceeds the 16 KiB size cap")


def test_redirect_to_another_host_is_not_followed():
    outcome = probe(bad.redirect_app("http://localhost:9/mcp"))

    assert_failed(
        outcome, "discover", "redirected to http://localhost:9/mcp on another host", "not followed"
    )


def test_sse_stream_without_endpoint_event():
    outcome = probe(bad.silent_event_stream_app(), path="/sse", transport="sse")

    assert_failed(outcome, "connect", "the event stream opened but sent no endpoint event")


def test_sse_url_that_is_not_an_event_stream():
    outcome = probe(
        bad.status_app(200, b"<html>hi</html>", "text/html"), path="/sse", transport="sse"
    )

    assert_failed(outcome, "connect", "expected an event stream but got text/html")


def test_streamed_reply_that_never_comes():
    outcome = probe(bad.silent_event_stream_app())

    assert_failed(outcome, "discover", "no answer within", "the event stream opened, no reply came")


@pytest.mark.parametrize("status", [404, 405])
def test_missing_endpoint_reports_both_attempts(status):
    outcome = probe(bad.status_app(status, b"nope"))

    assert_failed(
        outcome, "initialize", f"HTTP {status}", "legacy HTTP+SSE GET of the same URL failed too"
    )


def test_service_down_then_back():
    switch = bad.Switchable(LegacyStreamableServer())
    with served(switch) as base:
        target = ProbeTarget("flaky", f"{base}/mcp", timeout_s=TIMEOUT)
        switch.down = True
        down = run_probe(target)
        switch.down = False
        back = run_probe(target)

    assert_failed(down, "initialize", "HTTP 503 Service Unavailable")
    assert back.ok, back.error
