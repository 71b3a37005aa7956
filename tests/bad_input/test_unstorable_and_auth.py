"""Characters no backend can store are refused with 422 everywhere; the API's 401, docs and /healthz."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.celery import app as celery_app
from console.models import ApiToken
from fleet.models import Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_api(operator) -> Client:
    _, raw = ApiToken.issue(operator, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _service_body(**overrides) -> str:
    body = {"name": "notes", "url": "http://127.0.0.1:9/mcp", **overrides}
    return json.dumps(body)  # json.dumps writes "\x00" as \u0000 and "\ud800" as \ud800


@pytest.mark.parametrize(
    "bad, shown",
    [("a\x00b", "NUL character"), ("a\ud800b", "lone surrogate"), ("\udfff", "lone surrogate")],
)
def test_api_body_with_unstorable_text_is_422_naming_the_field(operator_api, bad, shown):
    response = operator_api.post(
        "/api/v1/services", _service_body(team=bad), content_type="application/json"
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "team"] and shown in detail[0]["msg"]
    assert not Service.objects.exists()


@pytest.mark.parametrize("field", ["name", "tags"])
def test_a_trailing_line_break_does_not_slip_past_a_name_rule(operator_api, field):
    # "$" in a pattern also matches before a final "\n": names and tags are checked to the end.
    value = ["ok\n"] if field == "tags" else "notes\n"
    response = operator_api.post(
        "/api/v1/services", _service_body(**{field: value}), content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]
    assert not Service.objects.exists()


def test_api_nested_json_key_and_list_item_are_checked(operator_api):
    body = _service_body(tags=["ok", "x\x00"])
    response = operator_api.post("/api/v1/services", body, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "tags", "1"]


def test_json_nested_past_the_limit_is_422_not_a_recursion_error(operator_api):
    body = "[" * 200_000 + "]" * 200_000
    response = operator_api.post("/api/v1/services", body, content_type="application/json")
    assert response.status_code == 422
    assert "nested" in response.json()["detail"][0]["msg"]


def test_query_string_with_nul_is_422(operator_api):
    response = operator_api.get("/api/v1/services", {"team": "a\x00"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "team"]


def test_path_with_nul_is_422(operator_api):
    ServiceFactory(name="notes")
    response = operator_api.delete("/api/v1/services/notes%00")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path"]
    assert Service.objects.filter(name="notes").exists()


def test_ui_form_with_nul_is_a_422_page_naming_the_field_and_nothing_changes(operator_client):
    response = operator_client.post(
        "/services/new/",
        {"name": "notes", "kind": "mcp_server", "url": "http://127.0.0.1:9/mcp", "team": "a\x00"},
    )
    assert response.status_code == 422
    assert "team: contains a NUL character" in response.content.decode()
    assert not Service.objects.exists()


def test_ui_token_name_with_nul_is_refused(viewer_client, viewer):
    response = viewer_client.post("/tokens/new/", {"name": "ci\x00"})
    assert response.status_code == 422
    assert not viewer.api_tokens.exists()


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/services", "/api/v1/services/notes", "/api/v1/budgets"])
def test_missing_or_wrong_bearer_token_is_401_on_every_method(method, path):
    for headers in (
        {},
        {"HTTP_AUTHORIZATION": "Bearer fc_wrong"},
        {"HTTP_AUTHORIZATION": "Basic x"},
    ):
        client = Client(enforce_csrf_checks=True, **headers)
        if method == "get":
            response = client.get(path)
        else:
            response = getattr(client, method)(path, data="{}", content_type="application/json")
        assert response.status_code == 401, (method, path, headers, response.content)
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_session_without_csrf_token_is_still_a_csrf_403(viewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    response = client.post("/api/v1/services", "{}", content_type="application/json")
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_anonymous_gets_no_api_schema_or_docs_by_default(path, viewer_client):
    assert Client().get(path).status_code == 401
    assert viewer_client.get(path).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/api/v1/docs"])
def test_deployer_may_publish_the_api_schema_and_docs(path, settings):
    settings.FLEET_API_DOCS_PUBLIC = True
    assert Client().get(path).status_code == 200


def test_healthz_names_the_failed_part_but_no_host_or_error_text(monkeypatch, admin_client_):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://broker-host.internal:1/0")
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "ok",
        "broker": "unavailable",
        "cache": "ok",
        "worker": "missing",
        "sweep": "ok",
    }
    assert b"broker-host" not in response.content
    admin_view = admin_client_.get("/healthz").json()
    assert admin_view["broker"] != "unavailable" and "Error" in admin_view["broker"]
