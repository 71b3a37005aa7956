"""TLS certificate facts and HTTP health checks, against local servers."""

from __future__ import annotations

import asyncio
import json
import ssl

import httpx
import pytest

from checks.probing.h1 import ProbeClient
from checks.probing.http_probe import probe_http_health
from checks.probing.sweep import probe_target
from checks.probing.tls_probe import probe_tls
from checks.probing.types import ProbeTarget
from tests.mcp_servers import misbehaving as bad
from tests.mcp_servers.sdk_servers import streamable_app
from tests.mcp_servers.serving import served
from tests.mcp_servers.tls import make_self_signed


def health_app(status: int, body: dict | bytes, content_type: str = "application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return bad.status_app(status, raw, content_type)


def check(target: ProbeTarget, ssl_context: ssl.SSLContext | None = None):
    async def go():
        async with ProbeClient(ssl_context) as client:
            return await probe_target(target, client)

    return asyncio.run(go())


def test_tls_facts_for_a_self_signed_certificate(tmp_path):
    cert, key = make_self_signed(tmp_path, days=30)
    with served(health_app(200, {"status": "ok"}), ssl_certfile=cert, ssl_keyfile=key) as base:
        info = asyncio.run(probe_tls(base))

    assert info.error == ""
    assert 29.9 < info.days_to_expiry <= 30
    assert info.hostname_matches is True
    assert "CN=Fleet Test CA" in info.issuer
    assert info.not_after.endswith("+00:00")


def test_tls_hostname_mismatch(tmp_path):
    cert, key = make_self_signed(tmp_path, names=("api.example.test",), days=3)
    with served(health_app(200, {}), ssl_certfile=cert, ssl_keyfile=key) as base:
        info = asyncio.run(probe_tls(base))

    assert info.hostname_matches is False
    assert 2.9 < info.days_to_expiry <= 3


def test_tls_against_a_plain_http_port_is_an_error_not_a_crash():
    with served(health_app(200, {})) as base:
        info = asyncio.run(probe_tls(base.replace("http://", "https://"), timeout_s=2))

    assert info.error.startswith("could not open a TLS connection to 127.0.0.1:")
    assert info.days_to_expiry is None


def test_https_mcp_server_with_an_untrusted_cert_fails_to_connect_but_reports_the_cert(tmp_path):
    cert, key = make_self_signed(tmp_path)
    with served(streamable_app(json_response=True), ssl_certfile=cert, ssl_keyfile=key) as base:
        outcome = check(ProbeTarget("tls", f"{base}/mcp", timeout_s=2))

    assert not outcome.ok
    assert outcome.phase == "connect"
    assert "TLS handshake" in outcome.error and "certificate verify failed" in outcome.error
    assert outcome.tls is not None and outcome.tls.hostname_matches is True


def test_https_mcp_server_with_a_trusted_cert(tmp_path):
    cert, key = make_self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=cert)
    with served(streamable_app(json_response=True), ssl_certfile=cert, ssl_keyfile=key) as base:
        outcome = check(ProbeTarget("tls", f"{base}/mcp"), trust)

    assert outcome.ok, outcome.error
    assert outcome.transport == "stateless"
    assert outcome.tls.days_to_expiry > 29
    assert outcome.phases_ms["connect"] > 0


@pytest.mark.parametrize(
    ("status", "body", "field", "ok", "error"),
    [
        (200, {"status": "ok"}, "", True, ""),
        (200, {"status": "ok"}, "status", True, ""),
        (200, {"status": "ok"}, "status=ok", True, ""),
        (200, {"checks": {"db": True}}, "checks.db=true", True, ""),
        (
            200,
            {"status": "degraded"},
            "status=ok",
            False,
            "health: 'status' is not 'ok'",
        ),
        (200, {"state": "ok"}, "status", False, "health: the JSON body has no 'status' field"),
        (
            200,
            b"OK",
            "status",
            False,
            "health: the body is not JSON, so 'status' cannot be checked",
        ),
        (503, {"status": "down"}, "", False, "health: expected HTTP 200 from /healthz but got 503"),
    ],
)
def test_agent_backend_health(status, body, field, ok, error):
    with served(health_app(status, body)) as base:
        target = ProbeTarget(
            "agent", base, kind="agent_backend", health_path="/healthz", expected_json_field=field
        )
        outcome = check(target)

    assert outcome.ok is ok
    assert outcome.error.startswith(error)
    assert outcome.http_status == status
    assert outcome.transport == ""


def test_agent_backend_defaults_to_the_root_path_and_custom_status():
    with served(health_app(204, b"", "text/plain")) as base:
        target = ProbeTarget("agent", base, kind="agent_backend", expected_status=204)
        outcome = check(target)

    assert outcome.ok, outcome.error


def test_mcp_server_with_a_failing_health_path_is_not_ok():
    async def go(base):
        async with httpx.AsyncClient() as client:
            target = ProbeTarget("mcp", f"{base}/mcp", health_path="/healthz")
            return await probe_target(target, client)

    with served(streamable_app(json_response=True)) as base:
        outcome = asyncio.run(go(base))

    assert outcome.transport == "stateless" and outcome.tools
    assert not outcome.ok
    assert outcome.http_status == 404
    assert outcome.phase == "health"


def test_health_probe_alone_reports_connection_refused():
    with served(health_app(200, {})) as base:
        pass

    async def go():
        async with httpx.AsyncClient() as client:
            return await probe_http_health(ProbeTarget("gone", base, timeout_s=1), client)

    outcome = asyncio.run(go())
    assert outcome.error.startswith("connect: connection refused by 127.0.0.1:")
