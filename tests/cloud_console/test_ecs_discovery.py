"""Importing discovered ECS services whose URL the cloud does not expose: the operator gives it in
the import form, the API or the fleet file (moto in server mode holds the services)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.models import ApiToken, AuditLogEntry
from fleet.fleetfile import import_fleet
from fleet.models import Service

pytestmark = pytest.mark.django_db

PAGE = "/accounts/test-aws/discover/"
API = "/api/v1/accounts/test-aws/discover"


def api(user) -> Client:
    _, raw = ApiToken.issue(user, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post_json(client: Client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_the_import_form_asks_for_a_url_the_cloud_does_not_expose(ecs, operator_client):
    page = operator_client.get(PAGE).content.decode()

    assert 'name="url:agent-backend"' in page
    assert "the cloud exposes no URL for it: give one" in page
    assert "registered as weather" in page


def test_an_operator_imports_an_ecs_service_with_the_url_they_give(ecs, operator_client):
    url = "https://agent.internal.example.com/agent"

    response = operator_client.post(
        PAGE, {"resources": ["agent-backend"], "url:agent-backend": url}
    )

    assert response.status_code == 302
    agent = Service.objects.get(resource="agent-backend")
    assert (agent.url, agent.kind, agent.account) == (url, "agent_backend", ecs.account)
    assert agent.cloud_snapshot.data["image"].endswith("/agent-backend:1.4.2")
    assert AuditLogEntry.objects.filter(action="import-discovered").exists()


def test_without_a_url_the_import_names_the_service_and_keeps_the_form(ecs, operator_client):
    missing = operator_client.post(PAGE, {"resources": ["agent-backend"]})
    bad = operator_client.post(
        PAGE, {"resources": ["agent-backend"], "url:agent-backend": "ftp://agent"}
    )

    assert missing.status_code == 422
    assert b"agent-backend has no URL the console can reach" in missing.content
    assert bad.status_code == 422
    assert b"agent-backend: url:" in bad.content and b'value="ftp://agent"' in bad.content
    assert not Service.objects.filter(resource="agent-backend").exists()


def test_the_api_takes_urls_per_resource(ecs, operator):
    client = api(operator)
    url = "http://10.0.1.17:8080/agent"

    stray = post_json(client, API, {"resources": ["agent-backend"], "urls": {"mcp-x": url}})
    response = post_json(
        client, API, {"resources": ["agent-backend"], "urls": {"agent-backend": url}}
    )

    assert stray.status_code == 422 and "mcp-x" in json.dumps(stray.json())
    assert response.status_code == 201 and response.json() == {"registered": ["agent-backend"]}
    assert Service.objects.get(resource="agent-backend").url == url


def test_the_fleet_file_registers_a_discovered_service_with_its_url(ecs):
    report = import_fleet(
        "services:\n"
        "  - name: agent\n"
        "    kind: agent_backend\n"
        "    account: test-aws\n"
        "    resource: agent-backend\n"
        "    url: https://agent.internal.example.com/agent\n",
        actor="test",
    )

    assert report.created == ["service agent"]
    agent = Service.objects.get(name="agent")
    assert (agent.account, agent.resource) == (ecs.account, "agent-backend")
