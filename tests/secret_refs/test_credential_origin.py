"""A credential goes only to the origin it belongs to: the probe's to the service's scheme, host and
port (redirects, the legacy SSE endpoint event and the health path included), a webhook's secret
header to the channel's target. Header names and health paths are checked when saved."""

from __future__ import annotations

import asyncio
import json
import ssl

import pytest
import yaml

from checks import sweep_db
from checks.models import CheckConfig
from checks.probing.h1 import ProbeClient
from checks.probing.sweep import probe_target
from checks.probing.types import ProbeTarget
from console.notifications import dispatch
from console.notifications.models import Delivery
from fleet.fleetfile import FleetFileError, import_fleet
from fleet.models import Service
from tests.factories import ServiceFactory
from tests.mcp_servers.misbehaving import redirect_app, status_app
from tests.mcp_servers.sdk_servers import (
    RequestRecorder,
    demo_server,
    require_header,
    streamable_app,
)
from tests.mcp_servers.serving import served
from tests.mcp_servers.tls import make_self_signed
from tests.notifications.conftest import Receiver, _handler, event
from tests.notifications.factories import ChannelFactory

TOKEN = "Bearer origin-bound-token"


def probe(target: ProbeTarget, trust: ssl.SSLContext | None = None):
    async def go():
        async with ProbeClient(trust) as client:
            return await probe_target(target, client)

    return asyncio.run(go())


@pytest.fixture
def other_origin(tmp_path):
    """An HTTPS MCP server on another port of the same host, trusted, recording what it gets."""
    cert, key = make_self_signed(tmp_path)
    app = require_header(
        streamable_app(demo_server("elsewhere"), json_response=True), "authorization", TOKEN
    )
    recorder = RequestRecorder(app)
    with served(recorder, ssl_certfile=cert, ssl_keyfile=key) as base:
        recorder.base = base
        yield recorder, ssl.create_default_context(cafile=cert)


def authed(url: str, **kwargs) -> ProbeTarget:
    return ProbeTarget("svc", url, auth_header="Authorization", auth_value=TOKEN, **kwargs)


def test_a_redirect_to_another_origin_does_not_carry_the_credential(other_origin):
    # given a service on http://127.0.0.1:A that redirects to https://127.0.0.1:B (same host)
    elsewhere, trust = other_origin
    with served(redirect_app(f"{elsewhere.base}/mcp")) as base:
        outcome = probe(authed(f"{base}/mcp"), trust)
    # then the other origin was asked without the credential, and the probe says why
    assert elsewhere.requests, "the redirect was followed"
    assert all("authorization" not in r["headers"] for r in elsewhere.requests)
    assert not outcome.ok
    assert f"Authorization header was not sent to {elsewhere.base}" in outcome.error
    assert "not the service's origin http://127.0.0.1:" in outcome.error


def endpoint_app(endpoint: str):
    """A legacy SSE server whose `endpoint` event names `endpoint` (another origin)."""

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = f"event: endpoint\ndata: {endpoint}\n\n".encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
        while (await receive())["type"] != "http.disconnect":
            pass

    return app


def test_the_sse_endpoint_event_cannot_lead_the_credential_elsewhere(other_origin):
    elsewhere, trust = other_origin
    with served(endpoint_app(f"{elsewhere.base}/messages/?session_id=1")) as base:
        outcome = probe(authed(f"{base}/sse", transport="sse", timeout_s=3), trust)
    assert elsewhere.requests, "the endpoint was used"
    assert all("authorization" not in r["headers"] for r in elsewhere.requests)
    assert not outcome.ok and "header was not sent to" in outcome.error


@pytest.mark.django_db
def test_a_stored_health_path_naming_another_host_is_refused_by_the_probe(other_origin):
    elsewhere, _ = other_origin
    host_port = elsewhere.base.removeprefix("https://")
    with served(status_app(200, b'{"status": "ok"}', "application/json")) as base:
        service = ServiceFactory(kind="agent_backend", url=f"{base}/agent")
        CheckConfig.objects.create(
            service=service, auth_header="Authorization", auth_secret_ref="env:FLEET_SECRET_T"
        )
        # written straight to the database, past the save-time rule
        Service.objects.filter(pk=service.pk).update(health_path=f"//{host_port}/steal")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("FLEET_SECRET_T", TOKEN)
            result = sweep_db.check_now(Service.objects.get(pk=service.pk)).result
    assert not result.ok and "health path refused" in result.error
    assert elsewhere.requests == []


BAD_HEALTH_PATHS = [
    ("//evil.example.com/x", "names another host"),
    ("http://evil.example.com/x", "must start with '/'"),
    ("/\\evil.example.com/x", "backslashes"),
    ("/healthz\r\nHost: evil", "control characters"),
    ("/health\tz", "control characters"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "why"), BAD_HEALTH_PATHS)
def test_health_path_must_be_a_path_in_api_form_and_fleet_file(
    operator_api, operator_client, path, why
):
    api = operator_api.post(
        "/api/v1/services",
        json.dumps({"name": "notes", "url": "https://notes.example.com/mcp", "health_path": path}),
        content_type="application/json",
    )
    assert api.status_code == 422
    assert why in {d["loc"][-1]: d["msg"] for d in api.json()["detail"]}["health_path"]
    form = operator_client.post(
        "/services/new/",
        {
            "name": "notes",
            "kind": "mcp_server",
            "url": "https://notes.example.com/mcp",
            "transport": "streamable-http",
            "health_path": path,
            "environment": "production",
        },
    )
    assert form.status_code == 422 and why in form.content.decode().replace("&#x27;", "'")
    doc = yaml.safe_dump(
        {"services": [{"name": "notes", "url": "https://n.example.com/mcp", "health_path": path}]}
    )
    with pytest.raises(FleetFileError) as exc:
        import_fleet(doc, actor="cli")
    assert any(
        e.startswith("services[0] (notes): health_path:") and why in e for e in exc.value.errors
    )
    assert not Service.objects.exists()


BAD_HEADER_NAMES = [
    ("X-Key\r\nX-Injected: 1", "is not a valid HTTP header name"),
    ("Bad Header", "is not a valid HTTP header name"),
    ("X-Key:", "is not a valid HTTP header name"),
    ("X-Key\n", "is not a valid HTTP header name"),  # a trailing line break only
    ("X-Key\r\n ", "is not a valid HTTP header name"),  # obs-fold
    ("X-K\u00e9y", "is not a valid HTTP header name"),
    ("Host", "set by the console itself"),
    ("Content-Length", "set by the console itself"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "why"), BAD_HEADER_NAMES)
def test_header_names_are_checked_when_saved(operator_api, name, why):
    service = ServiceFactory()
    checks = operator_api.patch(
        f"/api/v1/services/{service.name}/checks/settings",
        json.dumps({"auth_header": name, "auth_secret_ref": "env:FLEET_SECRET_T"}),
        content_type="application/json",
    )
    assert checks.status_code == 422
    assert why in {d["loc"][-1]: d["msg"] for d in checks.json()["detail"]}["auth_header"]
    channel = operator_api.post(
        "/api/v1/alerts/channels",
        json.dumps(
            {
                "name": "hook",
                "type": "webhook",
                "target": "https://hooks.example.com/x",
                "secret_header": name,
                "secret_ref": "env:FLEET_SECRET_T",
            }
        ),
        content_type="application/json",
    )
    assert channel.status_code == 422
    assert why in {d["loc"][-1]: d["msg"] for d in channel.json()["detail"]}["secret_header"]


@pytest.fixture
def second_receiver():
    from http.server import ThreadingHTTPServer
    from threading import Thread

    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rec))
    rec.url = f"http://127.0.0.1:{server.server_address[1]}"
    Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_a_webhook_secret_never_follows_a_redirect_to_another_origin(
    receiver, second_receiver, monkeypatch, django_capture_on_commit_callbacks
):
    # regression guard: the webhook transport does not follow redirects at all
    monkeypatch.setenv("FLEET_SECRET_HOOK", "hook-secret-value")
    receiver.statuses = [307, 307, 307]
    receiver.extra_headers = {"Location": f"{second_receiver.url}/stolen"}
    ChannelFactory(target=receiver.url, secret_header="X-Token", secret_ref="env:FLEET_SECRET_HOOK")
    with django_capture_on_commit_callbacks(execute=True):
        dispatch.notify(event(ServiceFactory(name="notes")))
    assert receiver.requests and receiver.requests[0].headers["x-token"] == "hook-secret-value"
    assert second_receiver.requests == []
    assert Delivery.objects.get().status != "sent"
