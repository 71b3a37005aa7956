"""Probe authentication: a 401 challenge is "needs credentials", not down; OAuth 2.0 client
credentials against a real token endpoint on loopback, set over the API, token cached."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from checks import oauth, sweep_db
from checks.models import CheckConfig, Incident
from tests.factories import ServiceFactory
from tests.mcp_servers.sdk_servers import demo_server, streamable_app
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db
API = "/api/v1"
TOKEN = "tok-6f1c2b"
CLIENT_SECRET = "s3cret-client-value"


async def _answer(send: Send, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class BearerGate:
    """A real SDK server that answers 401 + WWW-Authenticate (MCP authorization spec, RFC 6750
    §3) unless the request carries `Authorization: Bearer TOKEN`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        self.seen.append(auth)
        if auth != f"Bearer {TOKEN}":
            await _read(receive)
            challenge = (
                b'Bearer resource_metadata="http://127.0.0.1/.well-known/oauth-protected-resource"'
            )
            await _answer(send, 401, b"", [(b"www-authenticate", challenge)])
            return
        await self.app(scope, receive, send)


class TokenEndpoint:
    """RFC 6749 §4.4 client credentials grant, client_secret_basic (§2.3.1); errors per §5.2."""

    def __init__(self) -> None:
        self.requests: list[dict] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        form = {k: v[0] for k, v in parse_qs((await _read(receive)).decode()).items()}
        basic = dict(scope["headers"]).get(b"authorization", b"").decode()
        self.requests.append(form)
        expected = base64.b64encode(f"probe-client:{CLIENT_SECRET}".encode()).decode()
        json_type = [(b"content-type", b"application/json")]
        if basic != f"Basic {expected}":
            await _answer(send, 401, json.dumps({"error": "invalid_client"}).encode(), json_type)
            return
        if form.get("grant_type") != "client_credentials":
            body = json.dumps({"error": "unsupported_grant_type"}).encode()
            await _answer(send, 400, body, json_type)
            return
        body = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}
        await _answer(send, 200, json.dumps(body).encode(), json_type)


@pytest.fixture(scope="module")
def gated() -> Iterator[tuple[str, BearerGate]]:
    gate = BearerGate(streamable_app(demo_server("locked", "1.0.0"), json_response=True))
    with served(gate) as base:
        yield f"{base}/mcp", gate


@pytest.fixture
def token_endpoint() -> Iterator[tuple[str, TokenEndpoint]]:
    oauth.forget_tokens()
    endpoint = TokenEndpoint()
    with served(endpoint) as base:
        yield f"{base}/oauth/token", endpoint
    oauth.forget_tokens()


def test_a_401_challenge_is_needs_credentials_never_down(gated):
    url, _ = gated
    service = ServiceFactory(name="locked", url=url)
    for _ in range(4):  # more than the failure threshold (3)
        result = sweep_db.check_now(service).result
    service.refresh_from_db()
    assert service.status == "needs_auth" and service.get_status_display() == "Needs credentials"
    assert not result.ok and "needs credentials" in result.error
    assert "asking for Bearer credentials" in result.error
    assert "resource_metadata" not in result.error  # target bytes only for operators
    assert "oauth-protected-resource" in result.body_excerpt
    assert not Incident.objects.exists()


def test_an_agent_backend_whose_health_endpoint_asks_for_credentials_is_not_down(gated):
    url, _ = gated
    backend = ServiceFactory(
        name="agent", kind="agent_backend", url=url.removesuffix("/mcp"), health_path="/healthz"
    )
    for _ in range(4):  # more than the failure threshold (3)
        result = sweep_db.check_now(backend).result
    backend.refresh_from_db()
    assert backend.get_status_display() == "Needs credentials"
    assert "needs credentials" in result.error and "asking for Bearer credentials" in result.error
    assert not Incident.objects.exists()


def test_an_mcp_server_whose_health_path_asks_for_credentials_says_so():
    """The handshake is open; only the extra health path answers 401 + WWW-Authenticate."""
    open_mcp = streamable_app(demo_server("half-locked", "1.0.0"), json_response=True)
    gate = BearerGate(open_mcp)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        gated_path = scope["type"] == "http" and scope["path"] == "/healthz"
        await (gate if gated_path else open_mcp)(scope, receive, send)

    with served(app) as base:
        service = ServiceFactory(name="half-locked", url=f"{base}/mcp", health_path="/healthz")
        result = sweep_db.check_now(service).result
    service.refresh_from_db()
    assert service.get_status_display() == "Needs credentials", result.error
    assert "needs credentials" in result.error


def test_oauth_client_credentials_set_over_the_api_probe_with_a_cached_token(
    operator_client, gated, token_endpoint, monkeypatch
):
    url, gate = gated
    token_url, endpoint = token_endpoint
    monkeypatch.setenv("FLEET_SECRET_PROBE_CLIENT", CLIENT_SECRET)
    service = ServiceFactory(name="locked", url=url)
    response = operator_client.patch(
        f"{API}/services/locked/checks/settings",
        {
            "oauth_token_url": token_url,
            "oauth_client_id": "probe-client",
            "oauth_client_secret_ref": "env:FLEET_SECRET_PROBE_CLIENT",
            "oauth_scope": "mcp:read",
        },
        "application/json",
    )
    assert response.status_code == 200 and response.json()["oauth_client_id"] == "probe-client"
    assert CLIENT_SECRET not in response.content.decode()
    first = sweep_db.check_now(service).result
    second = sweep_db.check_now(service).result
    service.refresh_from_db()
    assert first.ok and second.ok and service.status == "up"
    assert first.server_name == "locked"
    # one token request for both checks, asking for this server as the resource (RFC 8707)
    assert len(endpoint.requests) == 1
    assert endpoint.requests[0] == {
        "grant_type": "client_credentials",
        "scope": "mcp:read",
        "resource": url,
    }
    assert f"Bearer {TOKEN}" in gate.seen


def test_a_refused_client_secret_names_the_token_endpoint_and_oauth_error(
    gated, token_endpoint, monkeypatch
):
    url, _ = gated
    token_url, _ = token_endpoint
    monkeypatch.setenv("FLEET_SECRET_PROBE_CLIENT", "wrong")
    service = ServiceFactory(name="locked", url=url)
    CheckConfig.objects.create(
        service=service,
        oauth_token_url=token_url,
        oauth_client_id="probe-client",
        oauth_client_secret_ref="env:FLEET_SECRET_PROBE_CLIENT",
    )
    result = sweep_db.check_now(service).result
    assert not result.ok and result.phase == "auth"
    assert "no OAuth access token" in result.error
    assert "answered HTTP 401, error invalid_client" in result.error
    assert "wrong" not in result.error


def test_oauth_settings_errors_name_the_field(operator_client):
    ServiceFactory(name="locked")
    path = f"{API}/services/locked/checks/settings"
    half = operator_client.patch(
        path, {"oauth_token_url": "https://auth.example.com/token"}, "application/json"
    )
    assert half.status_code == 422
    detail = {tuple(d["loc"]): d["msg"] for d in half.json()["detail"]}
    assert "together" in detail[("body", "oauth_client_id")]
    metadata = operator_client.patch(
        path,
        {
            "oauth_token_url": "http://169.254.169.254/token",
            "oauth_client_id": "c",
            "oauth_client_secret_ref": "env:FLEET_SECRET_X",
        },
        "application/json",
    )
    assert metadata.status_code == 422
    detail = {tuple(d["loc"]): d["msg"] for d in metadata.json()["detail"]}
    assert "oauth_token_url" in {loc[-1] for loc in detail}


LOCKED_FLEET = """
services:
  - name: locked
    url: {url}
    checks:
      oauth_token_url: {token_url}
      oauth_client_id: probe-client
      oauth_client_secret_ref: env:FLEET_SECRET_PROBE_CLIENT
  - name: keyed
    url: https://keyed.example.com/mcp
    checks:
      auth_header: X-Api-Key
      auth_secret_ref: env:FLEET_SECRET_KEYED
"""


def test_probe_auth_from_the_fleet_file_round_trips_and_probes(gated, token_endpoint, monkeypatch):
    from fleet.fleetfile import export_fleet, import_fleet

    url, _ = gated
    token_url, _ = token_endpoint
    monkeypatch.setenv("FLEET_SECRET_PROBE_CLIENT", CLIENT_SECRET)
    import_fleet(LOCKED_FLEET.format(url=url, token_url=token_url), actor="otto")
    keyed = CheckConfig.objects.get(service__name="keyed")
    assert (keyed.auth_header, keyed.auth_secret_ref) == ("X-Api-Key", "env:FLEET_SECRET_KEYED")
    exported = export_fleet()
    assert "oauth_client_secret_ref: env:FLEET_SECRET_PROBE_CLIENT" in exported
    assert CLIENT_SECRET not in exported
    locked = CheckConfig.objects.get(service__name="locked").service
    assert sweep_db.check_now(locked).result.ok


def test_a_fleet_file_with_a_bad_check_setting_names_entry_and_field():
    from fleet.fleetfile import FleetFileError, import_fleet
    from fleet.models import Service

    text = """
services:
  - name: keyed
    url: https://keyed.example.com/mcp
    checks:
      auth_header: X-Api-Key
      auth_secret_ref: plain-secret
"""
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="otto")
    assert any(
        e.startswith("services[0] (keyed): checks.auth_secret_ref: must be env:NAME")
        for e in exc.value.errors
    ), exc.value.errors
    assert not Service.objects.filter(name="keyed").exists()


class HostileTokenEndpoint:
    """A token endpoint that puts its own text where the console reads fields (RFC 6749 §5.1-5.2)."""

    def __init__(self, status: int, body: dict) -> None:
        self.status, self.body = status, body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await _read(receive)
        json_type = [(b"content-type", b"application/json")]
        await _answer(send, self.status, json.dumps(self.body).encode(), json_type)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (200, {"access_token": "t", "token_type": "INTERNAL secret"}, "not a Bearer token"),
        (400, {"error": "internal_only_body_text"}, "answered HTTP 400"),
        (400, {"error": ["internal_only_body_text"]}, "answered HTTP 400"),
    ],
)
def test_a_token_endpoint_cannot_put_its_own_text_in_the_error_viewers_read(
    gated, status, body, said, monkeypatch, viewer_client
):
    oauth.forget_tokens()
    monkeypatch.setenv("FLEET_SECRET_PROBE_CLIENT", CLIENT_SECRET)
    url, _ = gated
    with served(HostileTokenEndpoint(status, body)) as base:
        service = ServiceFactory(name="locked", url=url)
        CheckConfig.objects.create(
            service=service,
            oauth_token_url=f"{base}/oauth/token",
            oauth_client_id="probe-client",
            oauth_client_secret_ref="env:FLEET_SECRET_PROBE_CLIENT",
        )
        result = sweep_db.check_now(service).result
    oauth.forget_tokens()
    assert not result.ok and said in result.error
    page = viewer_client.get("/services/locked/").content.decode()
    for text in ("INTERNAL", "internal_only_body_text"):
        assert text not in result.error and text not in page
