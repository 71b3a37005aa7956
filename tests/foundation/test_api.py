"""The JSON API: token auth, the same rules as the UI, errors that name the field."""

import json

import pytest
from django.test import Client

from console.models import ApiToken, AuditLogEntry
from fleet.models import Service
from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_api(operator) -> Client:
    _, raw = ApiToken.issue(operator, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def viewer_api(viewer) -> Client:
    _, raw = ApiToken.issue(viewer, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def test_openapi_schema_is_served(viewer_client):
    response = viewer_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/api/v1/services" in paths and "/api/v1/accounts" in paths


def test_api_needs_a_token():
    response = Client().get("/api/v1/services")
    assert response.status_code == 401


def test_a_wrong_token_is_refused():
    response = Client(HTTP_AUTHORIZATION="Bearer fc_nope").get("/api/v1/services")
    assert response.status_code == 401


def test_operator_registers_a_service_and_it_is_audit_logged(operator_api, operator):
    CloudAccountFactory(name="prod-gcp")
    response = post(
        operator_api,
        "/api/v1/services",
        {
            "name": "notes",
            "url": "https://notes.example.com/mcp",
            "account": "prod-gcp",
            "resource": "notes-mcp-server",
            "tags": ["notes"],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (
        body["provider"] == "gcp"
        and body["region"] == "us-central1"
        and body["status"] == "unknown"
    )
    entry = AuditLogEntry.objects.get(object_type="service", action="create")
    assert entry.actor == operator and entry.source == "api"
    assert entry.after["resource"] == "notes-mcp-server"


def test_viewer_cannot_change_anything(viewer_api):
    ServiceFactory(name="notes")
    assert (
        post(
            viewer_api, "/api/v1/services", {"name": "x", "url": "https://x.example.com"}
        ).status_code
        == 403
    )
    assert viewer_api.delete("/api/v1/services/notes").status_code == 403
    assert viewer_api.get("/api/v1/services/notes").status_code == 200
    assert Service.objects.filter(name="notes").exists()


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "x", "url": "ftp://x"}, "url", "http or https"),
        ({"name": "x", "url": "https://x.example.com", "account": "ghost"}, "account", "ghost"),
        (
            {"name": "x", "url": "https://x.example.com", "health_path": "healthz"},
            "health_path",
            "start with '/'",
        ),
        ({"name": "Bad Name", "url": "https://x.example.com"}, "name", "not a valid name"),
    ],
)
def test_bad_input_names_the_field(operator_api, body, field, words):
    response = post(operator_api, "/api/v1/services", body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(d["loc"][-1] == field and words in d["msg"] for d in detail), detail
    assert not Service.objects.exists()


def test_schema_errors_name_the_field(operator_api):
    response = post(
        operator_api, "/api/v1/services", {"name": "x", "url": "https://x", "kind": "robot"}
    )
    assert response.status_code == 422
    assert any("kind" in d["loc"] for d in response.json()["detail"])


def test_duplicate_name_is_a_clear_error(operator_api):
    ServiceFactory(name="notes")
    response = post(
        operator_api, "/api/v1/services", {"name": "notes", "url": "https://n.example.com"}
    )
    assert response.status_code == 422
    assert "already exists" in response.json()["detail"][0]["msg"]


def test_patch_changes_only_the_given_fields(operator_api):
    ServiceFactory(name="notes", team="platform", environment="production")
    response = operator_api.patch(
        "/api/v1/services/notes",
        data=json.dumps({"team": "search"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    service = Service.objects.get(name="notes")
    assert service.team == "search" and service.environment == "production"


def test_dependency_cycle_via_api_is_refused(operator_api):
    post(
        operator_api,
        "/api/v1/services",
        {"name": "a", "kind": "agent_backend", "url": "https://a.example.com"},
    )
    post(
        operator_api,
        "/api/v1/services",
        {"name": "b", "kind": "agent_backend", "url": "https://b.example.com", "depends_on": ["a"]},
    )
    response = operator_api.patch(
        "/api/v1/services/a",
        data=json.dumps({"depends_on": ["b"]}),
        content_type="application/json",
    )
    assert response.status_code == 422
    assert "cycle" in response.json()["detail"][0]["msg"]


def test_list_filters_like_the_dashboard(viewer_api):
    ServiceFactory(name="notes", team="platform")
    ServiceFactory(name="search", team="research")
    response = viewer_api.get("/api/v1/services?team=research")
    assert [s["name"] for s in response.json()["items"]] == ["search"]


def test_dependents_lists_the_blast_radius(viewer_api):
    notes = ServiceFactory(name="notes")
    router = ServiceFactory(name="router", kind="agent_backend")
    sub = ServiceFactory(name="sub-agent", kind="agent_backend")
    sub.dependencies.add(notes)
    router.dependencies.add(sub)
    assert viewer_api.get("/api/v1/services/notes/dependents").json() == ["router", "sub-agent"]


def test_unknown_service_is_404(viewer_api):
    response = viewer_api.get("/api/v1/services/ghost")
    assert response.status_code == 404


def test_account_with_services_cannot_be_deleted(operator_api):
    account = CloudAccountFactory(name="prod-gcp")
    ServiceFactory(name="notes", account=account)
    response = operator_api.delete("/api/v1/accounts/prod-gcp")
    assert response.status_code == 422
    assert "notes" in response.json()["detail"][0]["msg"]


def test_session_auth_requires_csrf(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = post(client, "/api/v1/services", {"name": "x", "url": "https://x.example.com"})
    assert response.status_code in (401, 403)
    assert not Service.objects.exists()


def test_token_page_issues_a_working_token_once_and_revokes_it(viewer_client, viewer):
    page = viewer_client.post("/tokens/new/", {"name": "ci"}).content.decode()
    raw = page.split('<code class="token">')[1].split("</code>")[0]
    token = ApiToken.objects.get(user=viewer)
    assert raw.startswith(token.prefix) and token.token_hash != raw
    assert "fc_" not in viewer_client.get("/tokens/").content.decode().replace(token.prefix, "")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert api.get("/api/v1/services").status_code == 200
    assert AuditLogEntry.objects.filter(object_type="apitoken", action="create").count() == 1

    viewer_client.post(f"/tokens/{token.pk}/delete/")
    assert api.get("/api/v1/services").status_code == 401
    assert AuditLogEntry.objects.filter(object_type="apitoken", action="delete").count() == 1


def test_a_token_needs_a_name(viewer_client):
    response = viewer_client.post("/tokens/new/", {"name": "  "}, follow=True)
    assert "name: give the token a name" in response.content.decode()
    assert not ApiToken.objects.exists()
