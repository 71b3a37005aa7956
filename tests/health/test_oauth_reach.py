"""OAuth client credentials behind enterprise networks: the token request takes the probe's route
(the service's or account's proxy, else the worker's environment with NO_PROXY judged for the
token endpoint itself) and its TLS settings (CA bundle, client certificate), against real loopback
servers: the recording forward proxy (tests/fakes/proxy.py), a token endpoint with a private CA
that requires a client certificate, and an SDK server that wants the Bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import oauth, sweep_db
from checks.models import CheckConfig
from tests.factories import CloudAccountFactory, ServiceFactory
from tests.fakes.proxy import ForwardProxy
from tests.fakes.tls import PrivateCA
from tests.health.test_probe_auth import CLIENT_SECRET, TOKEN, BearerGate, TokenEndpoint
from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db
PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")
INSIDE = "auth.corp.invalid"  # RFC 6761: never resolves here; only the proxy knows it
OAUTH = {
    "oauth_client_id": "probe-client",
    "oauth_client_secret_ref": "env:FLEET_SECRET_PROBE_CLIENT",
}


@pytest.fixture(autouse=True)
def _clean(monkeypatch) -> Iterator[None]:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLEET_SECRET_PROBE_CLIENT", CLIENT_SECRET)
    oauth.forget_tokens()
    yield
    oauth.forget_tokens()


@pytest.fixture(scope="module")
def ca() -> PrivateCA:
    return PrivateCA()


@pytest.fixture(scope="module")
def gated() -> Iterator[tuple[str, BearerGate]]:
    gate = BearerGate(streamable_app(demo_server("locked", "1.0.0"), json_response=True))
    with served(gate) as base:
        yield f"{base}/mcp", gate


@pytest.fixture
def inside_endpoint() -> Iterator[tuple[str, TokenEndpoint]]:
    """A plain-HTTP token endpoint under a name only the proxy resolves."""
    endpoint = TokenEndpoint()
    with served(endpoint) as base:
        port = base.rsplit(":", 1)[1]
        yield f"http://{INSIDE}:{port}/oauth/token", endpoint


@pytest.fixture
def private_endpoint(ca, tmp_path) -> Iterator[tuple[int, TokenEndpoint]]:
    """A token endpoint whose certificate only the private CA vouches for, and which refuses
    clients without a certificate from that CA (mutual TLS). Yields its port."""
    cert, key = ca.issue("auth.internal", ("127.0.0.1", INSIDE))
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    endpoint = TokenEndpoint()
    with served(
        endpoint,
        ssl_certfile=str(tmp_path / "cert.pem"),
        ssl_keyfile=str(tmp_path / "key.pem"),
        ssl_ca_certs=str(tmp_path / "ca.pem"),
    ) as base:
        yield int(base.rsplit(":", 1)[1]), endpoint


@pytest.fixture
def tls_files(ca, secret_dir: Path) -> dict[str, str]:
    cert, key = ca.issue("fleet-probe", client=True)
    (secret_dir / "ca.pem").write_bytes(ca.cert_pem)
    (secret_dir / "probe.crt").write_bytes(cert)
    (secret_dir / "probe.key").write_bytes(key)
    return {
        "tls_ca_bundle_ref": f"file:{secret_dir / 'ca.pem'}",
        "tls_client_cert_ref": f"file:{secret_dir / 'probe.crt'}",
        "tls_client_key_ref": f"file:{secret_dir / 'probe.key'}",
    }


def token_requests(proxy: ForwardProxy) -> list[str]:
    return [t for t in proxy.targets() if INSIDE in t]


# -- the route ----------------------------------------------------------------------------------


def test_the_token_request_goes_through_the_services_proxy_with_its_credentials(
    gated, inside_endpoint, monkeypatch
):
    url, gate = gated
    token_url, endpoint = inside_endpoint
    monkeypatch.setenv("FLEET_SECRET_PROXY_LOGIN", "probe:pr0xy")
    with ForwardProxy(credentials="probe:pr0xy", hosts={INSIDE: "127.0.0.1"}) as proxy:
        service = ServiceFactory(name="locked", url=url)
        CheckConfig.objects.create(
            service=service,
            proxy_url=proxy.url,
            proxy_auth_ref="env:FLEET_SECRET_PROXY_LOGIN",
            oauth_token_url=token_url,
            **OAUTH,
        )
        result = sweep_db.check_now(service).result

    assert result.ok, result.error
    assert token_requests(proxy) == [f"POST {token_url}"]  # absolute form, via the proxy
    assert len(endpoint.requests) == 1 and f"Bearer {TOKEN}" in gate.seen


def test_without_the_proxy_the_inside_token_endpoint_cannot_be_reached(gated, inside_endpoint):
    url, _ = gated
    token_url, endpoint = inside_endpoint
    service = ServiceFactory(name="locked", url=url)
    CheckConfig.objects.create(service=service, oauth_token_url=token_url, **OAUTH)
    result = sweep_db.check_now(service).result
    assert not result.ok and result.phase == "auth"
    assert f"the token endpoint http://{INSIDE}" in result.error and "could not be reached" in (
        result.error
    )
    assert endpoint.requests == []


def test_the_accounts_proxy_carries_the_token_request(gated, inside_endpoint):
    url, _ = gated
    token_url, endpoint = inside_endpoint
    with ForwardProxy(hosts={INSIDE: "127.0.0.1"}) as proxy:
        account = CloudAccountFactory(name="corp", probe_proxy_url=proxy.url)
        service = ServiceFactory(name="locked", url=url, account=account)
        CheckConfig.objects.create(service=service, oauth_token_url=token_url, **OAUTH)
        result = sweep_db.check_now(service).result

    assert result.ok, result.error
    assert token_requests(proxy) == [f"POST {token_url}"] and len(endpoint.requests) == 1


def test_the_environment_proxy_and_no_proxy_are_judged_for_the_token_endpoint_itself(
    gated, inside_endpoint, monkeypatch
):
    """NO_PROXY sends the probe (loopback) direct, while the token endpoint's own name is not
    bypassed, so its request still goes through HTTP_PROXY."""
    url, _ = gated
    token_url, endpoint = inside_endpoint
    with ForwardProxy(hosts={INSIDE: "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.0/8,localhost")
        service = ServiceFactory(name="locked", url=url)
        CheckConfig.objects.create(service=service, oauth_token_url=token_url, **OAUTH)
        result = sweep_db.check_now(service).result

    assert result.ok, result.error
    assert proxy.targets() == [f"POST {token_url}"]  # the probe itself went direct


def test_direct_in_the_check_settings_keeps_the_token_request_off_the_environment_proxy(
    gated, monkeypatch
):
    url, _ = gated
    endpoint = TokenEndpoint()
    with served(endpoint) as base:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # would refuse the connection
        service = ServiceFactory(name="locked", url=url)
        CheckConfig.objects.create(
            service=service, proxy_url="direct", oauth_token_url=f"{base}/oauth/token", **OAUTH
        )
        result = sweep_db.check_now(service).result
    assert result.ok, result.error
    assert len(endpoint.requests) == 1


def test_the_egress_policy_still_judges_a_proxied_token_endpoint(gated, settings):
    """A name that resolves here to a metadata address is refused before the proxy is asked."""
    url, _ = gated
    settings.FLEET_EGRESS_RESOLVER = lambda host, port: (
        ["169.254.169.254"] if host == "sneaky.example" else ["127.0.0.1"]
    )
    with ForwardProxy() as proxy:
        service = ServiceFactory(name="locked", url=url)
        CheckConfig.objects.create(
            service=service,
            proxy_url=proxy.url,
            oauth_token_url="http://sneaky.example/oauth/token",
            **OAUTH,
        )
        result = sweep_db.check_now(service).result
    assert not result.ok and result.phase == "auth"
    assert "egress refused" in result.error and "169.254.169.254" in result.error
    assert proxy.requests == []


# -- TLS: the private CA and the client certificate --------------------------------------------


@pytest.mark.parametrize(
    ("dropped", "works"),
    [
        ((), True),
        (("tls_client_cert_ref", "tls_client_key_ref"), False),
        (("tls_ca_bundle_ref",), False),
    ],
    ids=["ca-and-client-cert", "no-client-cert", "no-ca-bundle"],
)
def test_the_token_request_trusts_the_services_ca_and_presents_its_client_certificate(
    gated, private_endpoint, tls_files, dropped, works
):
    url, _ = gated
    port, endpoint = private_endpoint
    service = ServiceFactory(name="locked", url=url)
    tls = {k: v for k, v in tls_files.items() if k not in dropped}
    CheckConfig.objects.create(
        service=service,
        oauth_token_url=f"https://127.0.0.1:{port}/oauth/token",
        timeout_seconds=3,
        **OAUTH,
        **tls,
    )
    result = sweep_db.check_now(service).result

    if works:
        assert result.ok, result.error
        assert len(endpoint.requests) == 1
    else:
        assert not result.ok and result.phase == "auth"
        assert "could not be reached" in result.error
        assert endpoint.requests == []


def test_an_https_token_endpoint_behind_the_proxy_is_tunnelled_and_verified_with_the_ca(
    gated, private_endpoint, tls_files
):
    url, _ = gated
    port, endpoint = private_endpoint
    with ForwardProxy(hosts={INSIDE: "127.0.0.1"}) as proxy:
        account = CloudAccountFactory(
            name="corp",
            probe_proxy_url=proxy.url,
            **{f"probe_{k}": v for k, v in tls_files.items()},
        )
        service = ServiceFactory(name="locked", url=url, account=account)
        CheckConfig.objects.create(
            service=service, oauth_token_url=f"https://{INSIDE}:{port}/oauth/token", **OAUTH
        )
        result = sweep_db.check_now(service).result

    assert result.ok, result.error
    assert token_requests(proxy) == [f"CONNECT {INSIDE}:{port}"]
    assert len(endpoint.requests) == 1
