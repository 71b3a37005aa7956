"""Save time: a URL the egress policy refuses is refused in the API (422), the form and the
fleet file, with a message naming the field, and nothing is saved."""

from __future__ import annotations

import ipaddress
import json

import pytest
from django.test import Client

from console.models import ApiToken
from console.notifications.models import AlertChannel
from fleet.fleetfile import FleetFileError, import_fleet
from fleet.models import CloudAccount, Service
from tests.egress.test_policy import REFUSED_URLS

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_api(operator) -> Client:
    _, raw = ApiToken.issue(operator, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client: Client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def _field_error(response, field: str) -> str:
    assert response.status_code == 422, response.content
    messages = [d["msg"] for d in response.json()["detail"] if d["loc"][-1] == field]
    assert messages, response.json()
    return messages[0]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_api_refuses_a_service_url_in_any_spelling(operator_api, url):
    response = post(operator_api, "/api/v1/services", {"name": "x", "url": url})
    assert "refused by the egress policy" in _field_error(response, "url")
    assert not Service.objects.exists()


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_api_refuses_a_webhook_or_slack_target_in_any_spelling(operator_api, url):
    body = {"name": "hook", "type": "webhook", "target": url}
    response = post(operator_api, "/api/v1/alerts/channels", body)
    assert "refused by the egress policy" in _field_error(response, "target")
    response = post(operator_api, "/api/v1/alerts/channels", {**body, "type": "slack"})
    assert "refused by the egress policy" in _field_error(response, "target")
    assert not AlertChannel.objects.exists()


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fd00:ec2::254]/"])
def test_api_refuses_an_account_endpoint_override(operator_api, url):
    body = {"name": "prod", "provider": "aws", "region": "us-east-1", "cluster": "c"}
    response = post(operator_api, "/api/v1/accounts", {**body, "endpoint": url})
    assert "refused by the egress policy" in _field_error(response, "endpoint")
    assert not CloudAccount.objects.exists()


def _service_form(url: str) -> dict:
    return {
        "name": "notes",
        "kind": "mcp_server",
        "url": url,
        "transport": "streamable-http",
        "environment": "production",
    }


def test_the_form_names_the_field_and_keeps_nothing(operator_client):
    response = operator_client.post("/services/new/", _service_form("http://0xa9fea9fe/mcp"))
    html = response.content.decode()
    assert response.status_code == 422
    assert "URL refused by the egress policy: 169.254.169.254 is a link-local/metadata" in html
    assert not Service.objects.exists()


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_the_form_refuses_every_spelling(operator_client, url):
    response = operator_client.post("/services/new/", _service_form(url))
    assert response.status_code == 422
    assert "URL refused by the egress policy" in response.content.decode()
    assert not Service.objects.exists()


def test_the_account_form_names_the_endpoint(operator_client):
    response = operator_client.post(
        "/accounts/new/",
        {"name": "prod", "provider": "kubernetes", "namespace": "mcp", "endpoint": "http://0/"},
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "URL refused by the egress policy: 0.0.0.0 is a link-local/metadata address" in html
    assert not CloudAccount.objects.exists()


def test_the_channel_form_names_the_target(operator_client):
    response = operator_client.post(
        "/alerts/channels/new/",
        {"name": "ops-hook", "type": "webhook", "target": "http://metadata.google.internal/"},
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "URL refused by the egress policy: metadata.google.internal is a cloud metadata" in html
    assert not AlertChannel.objects.exists()


def test_the_fleet_file_names_entry_and_field():
    text = "services:\n  - name: notes\n    url: http://[::ffff:169.254.169.254]/mcp\n"
    with pytest.raises(FleetFileError) as exc:
        import_fleet(text, actor="t")
    assert any(
        e.startswith("services[0] (notes): url: URL refused by the egress policy")
        for e in exc.value.errors
    ), exc.value.errors


def test_a_deny_listed_range_is_refused_when_saved(operator_api, settings):
    settings.FLEET_EGRESS_DENY = (ipaddress.ip_network("127.0.0.0/8"),)
    response = post(operator_api, "/api/v1/services", {"name": "x", "url": "http://127.0.0.1/"})
    assert "127.0.0.1 is in FLEET_EGRESS_DENY (127.0.0.0/8)" in _field_error(response, "url")
