"""The registry's metrics path: checked like the health path wherever it is saved (form, API,
fleet file), then scraped once during an audit's evidence gathering. A Prometheus text
exposition answer decides the metrics rule from the service itself, through the probe client
(egress policy, credential only to the service's own origin)."""

from __future__ import annotations

import ipaddress
import json

import pytest
import yaml
from django.test import Client
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from checks.models import CheckConfig
from console.models import ApiToken
from fleet.fleetfile import FleetFileError, import_fleet
from fleet.models import Service
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db
TOKEN = "metrics-reader-token"


def _exposition() -> bytes:
    registry = CollectorRegistry()
    calls = Counter("mcp_tool_calls", "Tool calls", ["tool"], registry=registry)
    calls.labels("add_note").inc(3)
    return generate_latest(registry)


async def metrics_app(scope, receive, send) -> None:
    """/metrics: Prometheus text; /private: the same behind a bearer token; else an HTML page."""
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    status, body, kind = 200, b"<html><body>dashboard</body></html>", b"text/html"
    if scope["path"] in ("/metrics", "/private"):
        status, body, kind = 200, _exposition(), CONTENT_TYPE_LATEST.encode()
        if (
            scope["path"] == "/private"
            and headers.get(b"authorization") != f"Bearer {TOKEN}".encode()
        ):
            status, body, kind = 401, b"", b"text/plain"
    extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), *extra]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server():
    with served(metrics_app) as base:
        yield base


BAD_PATHS = [
    ("//evil.example.com/metrics", "names another host"),
    ("metrics", "must start with '/'"),
    ("/metrics\r\nHost: evil", "control characters"),
]


@pytest.mark.parametrize(("path", "why"), BAD_PATHS)
def test_metrics_path_must_be_a_path_in_api_form_and_fleet_file(
    operator, operator_client, path, why
):
    _, raw = ApiToken.issue(operator, "ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        "/api/v1/services",
        json.dumps({"name": "notes", "url": "https://notes.example.com/mcp", "metrics_path": path}),
        content_type="application/json",
    )
    assert api.status_code == 422
    assert why in {d["loc"][-1]: d["msg"] for d in api.json()["detail"]}["metrics_path"]
    form = operator_client.post(
        "/services/new/",
        {"name": "notes", "kind": "mcp_server", "url": "https://notes.example.com/mcp",
         "transport": "streamable-http", "metrics_path": path, "environment": "production"},
    )  # fmt: skip
    assert form.status_code == 422
    assert "Metrics path" in form.content.decode() and why in form.content.decode().replace(
        "&#x27;", "'"
    )
    doc = yaml.safe_dump(
        {"services": [{"name": "notes", "url": "https://n.example.com/mcp", "metrics_path": path}]}
    )
    with pytest.raises(FleetFileError) as exc:
        import_fleet(doc, actor="cli")
    assert any(e.startswith("services[0] (notes): metrics_path:") for e in exc.value.errors)
    assert not Service.objects.exists()


def test_a_metrics_path_is_saved_and_exported(operator):
    _, raw = ApiToken.issue(operator, "ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    created = api.post(
        "/api/v1/services",
        json.dumps(
            {"name": "notes", "url": "https://n.example.com/mcp", "metrics_path": "/metrics"}
        ),
        content_type="application/json",
    )
    assert created.status_code in (200, 201), created.content
    assert api.get("/api/v1/services/notes").json()["metrics_path"] == "/metrics"
    from fleet.fleetfile import export_fleet

    assert "metrics_path: /metrics" in export_fleet()


def _service(name: str, base: str, path: str) -> Service:
    return Service.objects.create(name=name, url=f"{base}/mcp", metrics_path=path,
                                  environment="production")  # fmt: skip


def test_the_audit_scrapes_the_metrics_path(server, run_audit, monkeypatch):
    _service("scraped", server, "/metrics")
    _service("html", server, "/dashboard")
    _service("private", server, "/private")
    locked = _service("locked", server, "/private")
    monkeypatch.setenv("FLEET_SECRET_METRICS", f"Bearer {TOKEN}")
    CheckConfig.objects.create(service=locked, auth_header="Authorization",
                               auth_secret_ref="env:FLEET_SECRET_METRICS")  # fmt: skip
    Service.objects.create(name="unset", url=f"{server}/mcp")

    run = run_audit()
    results = {r.service_name: r for r in run.results.filter(rule_id="observability.metrics")}

    scraped = results["scraped"]
    assert scraped.status == "pass" and scraped.basis == "evidence"
    assert "Prometheus text exposition" in str(scraped.evidence)
    assert f"console scrape of {server}/metrics" in str(scraped.evidence)
    html = results["html"]
    assert html.status == "fail" and "text/html" in str(html.evidence)
    # A 401 says nothing about whether metrics are there: open, with the reason.
    assert results["private"].status in ("needs_attestation", "no_evidence")
    assert "answered HTTP 401" in str(results["private"].evidence)
    assert results["locked"].status == "pass"  # the check settings' credential, to its origin
    assert results["unset"].status in ("needs_attestation", "no_evidence")


def test_the_scrape_obeys_the_egress_policy(server, run_audit, settings):
    settings.FLEET_EGRESS_DENY = (ipaddress.ip_network("127.0.0.0/8"),)
    _service("scraped", server, "/metrics")

    result = run_audit().results.get(rule_id="observability.metrics", service_name="scraped")

    assert result.status in ("needs_attestation", "no_evidence")
    assert "egress refused: 127.0.0.1 is in FLEET_EGRESS_DENY" in str(result.evidence)
