"""Whatever a target answers, viewers never see its body: pages, API, incidents, alerts and job
logs name the status, content type and size; operators get a redacted excerpt."""

from __future__ import annotations

import json

import pytest

from checks.models import CheckConfig
from console.models import Job
from console.notifications.models import Alert, Delivery
from tests.factories import ServiceFactory
from tests.mcp_servers.misbehaving import status_app
from tests.mcp_servers.serving import served
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db

MARKER = "INTERNAL-ONLY-BODY-TEXT"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl"

HOSTILE_ANSWERS = {
    "html": (502, f"<html><title>{MARKER} Bearer {TOKEN}</title></html>", "text/html"),
    "json-rpc error": (
        500,
        json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "error": {"code": -32000, "message": f"{MARKER} api_key={TOKEN}"},
            }
        ),
        "application/json",
    ),
    "plain": (403, f"{MARKER} AKIAIOSFODNN7EXAMPLE {TOKEN}", "text/plain"),
}


@pytest.fixture(params=sorted(HOSTILE_ANSWERS))
def hostile(request):
    status, body, kind = HOSTILE_ANSWERS[request.param]
    with served(status_app(status, body.encode(), kind)) as base:
        yield f"{base}/mcp", status, kind


def test_viewers_see_status_type_and_size_operators_a_redacted_excerpt(
    hostile, viewer_client, operator_client, viewer_api, operator_api, receiver,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    url, status, kind = hostile
    service = ServiceFactory(name="notes", url=url)
    CheckConfig.objects.create(service=service, failure_threshold=1)
    ChannelFactory(target=receiver.url)
    # an operator checks the service now: the job runs, the service goes down, an alert goes out
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/services/{service.name}/check/")
    job = Job.objects.get()

    viewer_pages = [
        viewer_client.get(f"/services/{service.name}/").content.decode(),
        viewer_client.get("/incidents/").content.decode(),
        viewer_client.get("/alerts/").content.decode(),
        viewer_client.get(f"/jobs/{job.pk}/").content.decode(),
        viewer_client.get(f"/services/{service.name}/check/{job.pk}/").content.decode(),
        json.dumps(viewer_api.get(f"/api/v1/services/{service.name}/health").json()),
        json.dumps(viewer_api.get("/api/v1/incidents").json()),
        json.dumps(list(Alert.objects.values("title", "body"))),
        json.dumps(list(Delivery.objects.values("payload"))),
        json.dumps([r.json() for r in receiver.requests]),
    ]
    for page in viewer_pages:
        assert MARKER not in page and TOKEN not in page
    assert f"HTTP {status}" in viewer_pages[0]
    described = f"({kind}, " in viewer_pages[0] and "bytes)" in viewer_pages[0]
    assert described or "JSON-RPC error -32000 (server error)" in viewer_pages[0]
    assert (
        viewer_api.get(f"/api/v1/services/{service.name}/health").json()["latest"]["body_excerpt"]
        is None
    )

    operator_page = operator_client.get(f"/services/{service.name}/").content.decode()
    operator_json = operator_api.get(f"/api/v1/services/{service.name}/health").json()
    assert MARKER in operator_page and MARKER in operator_json["latest"]["body_excerpt"]
    assert TOKEN not in operator_page and TOKEN not in json.dumps(operator_json)
    assert "AKIAIOSFODNN7EXAMPLE" not in operator_page


@pytest.fixture
def banner_server():
    """Not an HTTP server: answers any connection with a banner (as Redis or SSH would)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(f"-ERR {MARKER} requirepass {TOKEN}\r\n\r\n".encode())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
    stop.set()
    thread.join(timeout=2)
    listener.close()


def test_a_non_http_banner_is_not_quoted_to_viewers(banner_server, viewer_client, operator_client):
    service = ServiceFactory(name="cache", url=banner_server)
    CheckConfig.objects.create(service=service, failure_threshold=1, timeout_seconds=2)
    from checks import sweep_db

    result = sweep_db.check_now(service).result
    assert not result.ok and "broke the HTTP protocol" in result.error
    assert MARKER not in result.error and MARKER in result.body_excerpt
    assert TOKEN not in result.body_excerpt
    assert MARKER not in viewer_client.get(f"/services/{service.name}/").content.decode()
    assert MARKER in operator_client.get(f"/services/{service.name}/").content.decode()


def test_errors_recorded_before_the_upgrade_lose_the_bodies_they_quoted(viewer_client):
    import importlib

    from django.apps import apps
    from django.utils import timezone

    from checks.models import Incident, ProbeResult

    migration = importlib.import_module("checks.migrations.0004_scrub_target_bodies")
    old = f"initialize: server answered HTTP 502 Bad Gateway (an HTML page ('{MARKER}'))"
    service = ServiceFactory(name="notes", last_error=old, status="down")
    ProbeResult.objects.create(
        service=service, ok=False, error=old, tool_call_detail=f"tool said {MARKER}"
    )
    Incident.objects.create(service=service, status="down", first_error=old)
    alert = Alert.objects.create(
        kind="down", severity="critical", title="notes is DOWN", body=f"notes is down.\n{old}",
        dedupe_key="x", service=service, details={"error": old}, opened_at=timezone.now(),
    )  # fmt: skip
    Delivery.objects.create(
        alert=alert, channel_name="hook", purpose="opened", status="failed",
        last_error=f"HTTP 500: {MARKER}", payload={"alert": {"body": alert.body}},
    )  # fmt: skip

    migration.scrub_all(apps, None)

    assert MARKER not in json.dumps(
        [
            list(ProbeResult.objects.values("error", "tool_call_detail")),
            list(Incident.objects.values("first_error")),
            list(Alert.objects.values("body", "details")),
            list(Delivery.objects.values("last_error", "payload")),
        ]
    )
    page = viewer_client.get("/services/notes/").content.decode()
    assert MARKER not in page and "HTTP 502 Bad Gateway (an HTML page)" in page


def test_a_webhook_to_a_non_http_server_does_not_quote_its_banner_to_viewers(
    banner_server, operator_client, viewer_client, viewer_api, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(name="hook", type="webhook", target=banner_server)
    # an operator sends a test alert to a "webhook" that is really Redis or SSH
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/alerts/channels/{channel.name}/test/")
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and "broke the HTTP protocol" in delivery.last_error

    seen = [
        viewer_client.get(f"/alerts/deliveries/{delivery.pk}/").content.decode(),
        viewer_client.get("/alerts/").content.decode(),
        json.dumps(viewer_api.get(f"/api/v1/alerts/deliveries/{delivery.pk}").json()),
        json.dumps(viewer_api.get("/api/v1/alerts").json()),
    ]
    for page in seen:
        assert MARKER not in page and TOKEN not in page
    assert "broke the HTTP protocol" in seen[0]
