"""Reach: proxies, private CAs, mutual TLS and the httpx fallback, against real loopback servers.

The servers are real: the MCP SDK's Streamable HTTP server under uvicorn (plain, TLS with a
private CA, TLS requiring a client certificate), a recording forward proxy (tests/fakes/proxy.py)
and an HTTP/2-only MCP server (tests/fakes/h2_mcp.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks.probing.h1 import ProbeClient
from checks.probing.network import ProbeNetwork, ProxyRoute, TlsSettings, parse_proxy
from checks.probing.sweep import probe_target
from checks.probing.types import ProbeOutcome, ProbeTarget
from console.egress import EgressPolicy
from tests.fakes.h2_mcp import H2OnlyMcpServer
from tests.fakes.proxy import ForwardProxy
from tests.fakes.server import make_ssl_server_context
from tests.fakes.tls import PrivateCA
from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served


def probe(target: ProbeTarget, egress: EgressPolicy | None = None) -> ProbeOutcome:
    async def go() -> ProbeOutcome:
        async with ProbeClient(egress=egress) as client:
            return await probe_target(target, client)

    return asyncio.run(go())


def via(proxy: ForwardProxy, authorization: str = "") -> ProxyRoute:
    return parse_proxy(proxy.url, "the test", authorization)


@pytest.fixture(scope="module")
def ca() -> PrivateCA:
    return PrivateCA()


@pytest.fixture(scope="module")
def plain_server() -> Iterator[str]:
    with served(streamable_app(demo_server("plain", "1.0"), json_response=True)) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
def private_tls_server(ca, tmp_path_factory) -> Iterator[str]:
    """An MCP server whose certificate only the private CA vouches for."""
    folder = tmp_path_factory.mktemp("private-tls")
    cert, key = ca.issue("mcp.internal", ("127.0.0.1", "localhost"))
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    app = streamable_app(demo_server("private", "1.0"), json_response=True)
    with served(
        app, ssl_certfile=str(folder / "cert.pem"), ssl_keyfile=str(folder / "key.pem")
    ) as base:
        yield f"{base}/mcp"


@pytest.fixture(scope="module")
def mtls_server(ca, tmp_path_factory) -> Iterator[str]:
    """An MCP server that refuses clients without a certificate from the private CA."""
    folder: Path = tmp_path_factory.mktemp("mtls")
    cert, key = ca.issue("mtls.internal", ("127.0.0.1",))
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    (folder / "ca.pem").write_bytes(ca.cert_pem)
    app = streamable_app(demo_server("mtls", "1.0"), json_response=True)
    with served(
        app,
        ssl_certfile=str(folder / "cert.pem"),
        ssl_keyfile=str(folder / "key.pem"),
        ssl_ca_certs=str(folder / "ca.pem"),
    ) as base:
        yield f"{base}/mcp"


def trust(ca: PrivateCA, **extra: str) -> TlsSettings:
    return TlsSettings(ca_pem=ca.cert_pem.decode(), source="the test", **extra)


# -- private CA ------------------------------------------------------------------------------


def test_a_private_ca_server_fails_on_the_system_trust_and_passes_with_its_ca(
    ca, private_tls_server
):
    untrusted = probe(ProbeTarget("p", private_tls_server, timeout_s=3))
    trusted = probe(ProbeTarget("p", private_tls_server, network=ProbeNetwork(tls=trust(ca))))

    assert not untrusted.ok and untrusted.phase == "connect"
    assert "certificate verify failed" in untrusted.error
    assert untrusted.tls.trusted is False and untrusted.tls.days_to_expiry > 29
    assert trusted.ok, trusted.error
    assert trusted.client == "lean"
    # The expiry check uses the same trust: the chain verified against the CA bundle.
    assert trusted.tls.trusted is True and trusted.tls.error == ""
    assert "CN=Fleet Private CA" in trusted.tls.issuer


def test_skipping_verification_reaches_the_server_and_decides_nothing_about_trust(
    private_tls_server,
):
    network = ProbeNetwork(tls=TlsSettings(verify=False, source="the test"))
    outcome = probe(ProbeTarget("p", private_tls_server, network=network))

    assert outcome.ok, outcome.error
    assert outcome.tls.trusted is None and outcome.tls.days_to_expiry > 29


# -- mutual TLS ------------------------------------------------------------------------------


def test_an_mtls_server_refuses_a_probe_without_a_client_certificate(ca, mtls_server):
    outcome = probe(ProbeTarget("m", mtls_server, timeout_s=3, network=ProbeNetwork(tls=trust(ca))))

    assert not outcome.ok
    assert outcome.phase in ("connect", "discover"), outcome.error


def test_an_mtls_server_accepts_the_probe_with_the_right_client_certificate(ca, mtls_server):
    cert, key = ca.issue("fleet-probe", client=True)
    tls = trust(ca, client_cert_pem=cert.decode(), client_key_pem=key.decode())
    outcome = probe(ProbeTarget("m", mtls_server, network=ProbeNetwork(tls=tls)))

    assert outcome.ok, outcome.error
    assert sorted(t.name for t in outcome.tools) == ["add", "echo", "fail"]
    assert outcome.tls.trusted is True  # the TLS check presented the certificate too


def test_a_client_certificate_from_another_ca_is_refused(ca, mtls_server):
    stranger = PrivateCA("Someone Else's CA")
    cert, key = stranger.issue("intruder", client=True)
    tls = trust(ca, client_cert_pem=cert.decode(), client_key_pem=key.decode())
    outcome = probe(ProbeTarget("m", mtls_server, timeout_s=3, network=ProbeNetwork(tls=tls)))

    assert not outcome.ok


# -- proxies ---------------------------------------------------------------------------------


def test_an_http_target_goes_through_the_proxy_in_absolute_form(plain_server):
    with ForwardProxy() as proxy:
        outcome = probe(ProbeTarget("p", plain_server, network=ProbeNetwork(proxy=via(proxy))))

    assert outcome.ok, outcome.error
    assert proxy.requests, "nothing went through the proxy"
    assert all(r.target.startswith(plain_server.rsplit("/", 1)[0]) for r in proxy.requests)
    assert {r.method for r in proxy.requests} >= {"POST"}
    assert "CONNECT" not in {r.method for r in proxy.requests}


def test_an_https_target_with_a_private_ca_goes_through_a_connect_tunnel(ca, private_tls_server):
    authority = private_tls_server.split("//", 1)[1].split("/", 1)[0]
    with ForwardProxy() as proxy:
        network = ProbeNetwork(proxy=via(proxy), tls=trust(ca))
        outcome = probe(ProbeTarget("p", private_tls_server, network=network))

    assert outcome.ok, outcome.error
    assert proxy.requests and {r.method for r in proxy.requests} == {"CONNECT"}
    assert {r.target for r in proxy.requests} == {authority}
    assert outcome.tls.trusted is True  # the TLS check went through the tunnel as well


def test_proxy_credentials_are_sent_as_basic_and_a_refusal_is_named(plain_server):
    from checks.probing.network import basic_authorization

    with ForwardProxy(credentials="probe:s3cret") as proxy:
        good = ProbeNetwork(proxy=via(proxy, basic_authorization("probe:s3cret")))
        ok = probe(ProbeTarget("p", plain_server, network=good))
        refused = probe(ProbeTarget("p", plain_server, network=ProbeNetwork(proxy=via(proxy))))

    assert ok.ok, ok.error
    assert not refused.ok and refused.phase == "connect"
    assert "407" in refused.error and "Basic" in refused.error and "none were sent" in refused.error
    assert "s3cret" not in refused.error


def test_a_proxy_asking_for_a_scheme_the_probe_lacks_says_so(ca, private_tls_server):
    with ForwardProxy(credentials="x:y", challenge="Negotiate") as proxy:
        network = ProbeNetwork(proxy=via(proxy), tls=trust(ca))
        outcome = probe(ProbeTarget("p", private_tls_server, timeout_s=3, network=network))

    assert not outcome.ok
    assert "Negotiate" in outcome.error and "only Basic" in outcome.error


def test_a_proxy_cannot_reach_metadata_addresses_literal_or_by_local_name(plain_server):
    resolver = {"sneaky.example": ["169.254.169.254"]}
    egress = EgressPolicy(resolver=lambda host, port: resolver.get(host) or ["127.0.0.1"])
    with ForwardProxy() as proxy:
        network = ProbeNetwork(proxy=via(proxy))
        literal = probe(ProbeTarget("m", "http://169.254.169.254/mcp", network=network), egress)
        named = probe(ProbeTarget("m", "https://sneaky.example/mcp", network=network), egress)

    for outcome in (literal, named):
        assert not outcome.ok and "egress refused" in outcome.error, outcome.error
    assert proxy.requests == []  # nothing was even asked of the proxy


def test_a_name_only_the_proxy_can_resolve_is_left_to_the_proxy():
    def nxdomain(host: str, port: int) -> list[str]:
        if host == "127.0.0.1":
            return ["127.0.0.1"]
        raise OSError(f"{host} does not resolve here")

    with ForwardProxy() as proxy:
        network = ProbeNetwork(proxy=via(proxy))
        outcome = probe(
            ProbeTarget("i", "https://inside.corp.invalid/mcp", timeout_s=3, network=network),
            EgressPolicy(resolver=nxdomain),
        )

    # The probe and the TLS check each asked for a tunnel to the name, unresolved here.
    assert {r.target for r in proxy.requests} == {"inside.corp.invalid:443"}
    assert not outcome.ok and "502" in outcome.error  # the proxy could not reach it either


def test_a_proxy_on_a_metadata_address_is_refused_before_connecting(plain_server):
    network = ProbeNetwork(proxy=parse_proxy("http://169.254.169.254:3128", "the test"))
    outcome = probe(ProbeTarget("p", plain_server, network=network))

    assert not outcome.ok and "egress refused" in outcome.error
    assert "proxy" in outcome.error


# -- the httpx fallback ----------------------------------------------------------------------


def test_an_http2_only_server_is_probed_through_the_httpx_fallback(ca):
    cert, key = ca.issue("h2.internal", ("127.0.0.1",))
    with H2OnlyMcpServer(make_ssl_server_context(cert, key)) as server:
        network = ProbeNetwork(tls=trust(ca))
        outcome = probe(ProbeTarget("h2", server.url, network=network))

    assert outcome.ok, outcome.error
    assert outcome.client == "httpx"
    assert outcome.client_reason == "the server speaks only HTTP/2"
    assert server.http1_refused >= 1  # the lean client tried first, in HTTP/1.1
    assert ("POST", "/mcp", "tools/list") in server.requests
    assert outcome.server_name == "h2-only"


def test_a_cleartext_http2_only_server_is_probed_by_prior_knowledge():
    with H2OnlyMcpServer() as server:
        outcome = probe(ProbeTarget("h2c", server.url))

    assert outcome.ok, outcome.error
    assert outcome.client == "httpx"


def test_a_remembered_httpx_choice_skips_the_lean_attempt(ca):
    cert, key = ca.issue("h2.internal", ("127.0.0.1",))
    with H2OnlyMcpServer(make_ssl_server_context(cert, key)) as server:
        network = ProbeNetwork(
            tls=trust(ca), client="httpx", client_reason="the server speaks only HTTP/2"
        )
        outcome = probe(ProbeTarget("h2", server.url, network=network))

    assert outcome.ok, outcome.error
    assert outcome.client == "httpx" and server.http1_refused == 0


def test_an_http2_only_server_behind_a_proxy_falls_back_through_the_same_proxy(ca):
    cert, key = ca.issue("h2.internal", ("127.0.0.1",))
    with (
        H2OnlyMcpServer(make_ssl_server_context(cert, key)) as server,
        ForwardProxy() as proxy,
    ):
        network = ProbeNetwork(proxy=via(proxy), tls=trust(ca))
        outcome = probe(ProbeTarget("h2", server.url, network=network))

    assert outcome.ok, outcome.error
    assert outcome.client == "httpx"
    assert len(proxy.requests) >= 2 and {r.method for r in proxy.requests} == {"CONNECT"}


def test_an_https_proxy_is_used_through_httpx_verified_with_the_service_trust(ca, plain_server):
    cert, key = ca.issue("proxy.corp", ("127.0.0.1",))
    with ForwardProxy(ssl_context=make_ssl_server_context(cert, key)) as proxy:
        network = ProbeNetwork(proxy=via(proxy), tls=trust(ca))
        outcome = probe(ProbeTarget("p", plain_server, network=network))

    assert outcome.ok, outcome.error
    assert outcome.client == "httpx" and "https:// proxy" in outcome.client_reason
    assert proxy.requests and all(r.target.startswith("http://127.0.0.1:") for r in proxy.requests)
