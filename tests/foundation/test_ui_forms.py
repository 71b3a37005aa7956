"""The registry form with htmx inline validation, the fleet-file page and the job it starts."""

import pytest

from console.celery import app as celery_app
from console.models import AuditLogEntry, Job
from fleet.models import Service
from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db

VALID = {
    "name": "notes",
    "kind": "mcp_server",
    "url": "https://notes.example.com/mcp",
    "transport": "streamable-http",
    "environment": "production",
    "tags": "notes, demo",
}


def test_inline_validation_shows_the_field_error_and_saves_nothing(operator_client, htmx_headers):
    response = operator_client.post(
        "/services/new/", {**VALID, "url": "ftp://notes", "_validate": "1"}, **htmx_headers
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="service-form"')
    assert "URL scheme must be http or https (got ftp)." in html
    assert not Service.objects.exists()


def test_inline_validation_of_a_valid_form_saves_nothing(operator_client, htmx_headers):
    response = operator_client.post("/services/new/", {**VALID, "_validate": "1"}, **htmx_headers)
    assert response.status_code == 200 and 'class="error"' not in response.content.decode()
    assert not Service.objects.exists()


def test_submit_registers_and_redirects_to_the_service(operator_client, operator):
    response = operator_client.post("/services/new/", VALID)
    assert response.status_code == 302 and response["Location"] == "/services/notes/"
    service = Service.objects.get(name="notes")
    assert service.tags == ["notes", "demo"]
    assert AuditLogEntry.objects.get(action="create", object_type="service").actor == operator


def test_invalid_submit_keeps_the_input_and_names_the_field(operator_client):
    CloudAccountFactory(name="edge", provider="kubernetes", project="", region="", namespace="mcp")
    response = operator_client.post(
        "/services/new/", {**VALID, "account": "edge", "resource": "Bad_Name"}
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "is not a Kubernetes Deployment name" in html
    assert 'value="https://notes.example.com/mcp"' in html
    assert not Service.objects.exists()


def test_edit_form_is_prefilled(operator_client):
    ServiceFactory(name="notes", team="platform", tags=["a", "b"])
    html = operator_client.get("/services/notes/edit/").content.decode()
    assert 'value="platform"' in html and 'value="a, b"' in html


def test_delete_removes_and_logs(operator_client):
    ServiceFactory(name="notes")
    response = operator_client.post("/services/notes/delete/")
    assert response.status_code == 302
    assert not Service.objects.exists()
    assert AuditLogEntry.objects.get(action="delete").before["name"] == "notes"


def test_account_form_errors_name_the_field(operator_client):
    response = operator_client.post(
        "/accounts/new/", {"name": "prod", "provider": "aws", "region": "mars"}
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "is not an AWS region such as us-east-1" in html and "Required for aws accounts." in html


FILE = "services:\n  - name: notes\n    url: https://notes.example.com/mcp\n"


def test_fleet_file_preview_changes_nothing(operator_client):
    response = operator_client.post("/fleet-file/", {"text": FILE, "action": "preview"})
    html = response.content.decode()
    assert "Preview: 1 created" in html and "+ service notes" in html
    assert not Service.objects.exists()


def test_fleet_file_preview_lists_errors(operator_client):
    response = operator_client.post(
        "/fleet-file/", {"text": FILE.replace("https", "gopher"), "action": "preview"}
    )
    assert response.status_code == 422
    assert (
        "services[0] (notes): url: URL scheme must be http or https (got gopher)."
        in response.content.decode()
    )


def test_fleet_file_import_runs_as_a_job(
    operator_client, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/fleet-file/", {"text": FILE, "action": "import"})
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/?from=%2Ffleet-file%2F"
    # Tasks run eagerly in tests, once the transaction commits.
    job.refresh_from_db()
    assert job.status == "succeeded" and "+ service notes" in job.log
    assert job.requested_by == operator
    assert Service.objects.filter(name="notes").exists()


def test_job_page_stops_polling_when_finished(operator_client, htmx_headers):
    job = Job.objects.create(name="fleet import", status="succeeded", log="done\n")
    response = operator_client.get(f"/jobs/{job.pk}/", **htmx_headers)
    assert response.status_code == 286
    assert "done" in response.content.decode()
    running = Job.objects.create(name="fleet import", status="running")
    response = operator_client.get(f"/jobs/{running.pk}/", **htmx_headers)
    assert response.status_code == 200 and 'hx-trigger="every 1s"' in response.content.decode()


def test_empty_import_is_refused_with_the_field(operator_client):
    response = operator_client.post("/fleet-file/", {"text": "  ", "action": "import"})
    assert response.status_code == 422
    assert "file: choose a YAML file or paste its contents." in response.content.decode()


def test_healthz_reports_an_unreachable_broker(client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and body["database"] == "ok" and body["broker"] != "ok"
