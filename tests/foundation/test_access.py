"""Login everywhere but /healthz; viewers read, operators change, admins see the audit log."""

import pytest
from django.test import Client

from console.models import AuditLogEntry
from fleet.models import CloudAccount, Service
from tests.factories import CloudAccountFactory, ServiceFactory

pytestmark = pytest.mark.django_db

READ_PAGES = [
    "/",
    "/services/notes/",
    "/dependencies/",
    "/accounts/",
    "/fleet-file/",
    "/tokens/",
    "/fleet-file/fleet.yaml",
]
OPERATOR_PAGES = ["/services/new/", "/services/notes/edit/", "/accounts/new/"]


@pytest.fixture(autouse=True)
def notes():
    return ServiceFactory(name="notes")


@pytest.mark.parametrize("path", READ_PAGES + OPERATOR_PAGES + ["/audit-log/", "/metrics"])
def test_anonymous_is_sent_to_login(path):
    response = Client().get(path)
    if path == "/metrics":
        assert response.status_code == 401
    else:
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_healthz_is_public():
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert {body[part] for part in ("database", "broker", "cache")} == {"ok"}
    assert body["status"] in ("ok", "degraded")  # degraded: no worker has reported in this test


@pytest.mark.parametrize("path", READ_PAGES)
def test_viewer_reads_everything(viewer_client, path):
    assert viewer_client.get(path).status_code == 200


@pytest.mark.parametrize("path", OPERATOR_PAGES + ["/audit-log/"])
def test_viewer_gets_403_on_operator_and_admin_pages(viewer_client, path):
    response = viewer_client.get(path)
    assert response.status_code == 403
    assert b"Not allowed" in response.content


def test_viewer_cannot_post_changes(viewer_client):
    assert viewer_client.post("/services/notes/delete/").status_code == 403
    assert (
        viewer_client.post(
            "/services/new/", {"name": "x", "url": "https://x.example.com"}
        ).status_code
        == 403
    )
    assert (
        viewer_client.post("/fleet-file/", {"text": "services: []", "action": "import"}).status_code
        == 403
    )
    assert Service.objects.count() == 1


def test_user_without_a_role_is_treated_as_no_access_to_changes(roleless):
    client = Client()
    client.force_login(roleless)
    assert client.get("/services/new/").status_code == 403


@pytest.mark.parametrize("path", OPERATOR_PAGES)
def test_operator_reaches_operator_pages(operator_client, path):
    assert operator_client.get(path).status_code == 200


def test_operator_cannot_read_the_audit_log(operator_client):
    assert operator_client.get("/audit-log/").status_code == 403


def test_admin_browses_the_audit_log(admin_client_, operator_client):
    operator_client.post(
        "/services/notes/edit/",
        {
            "name": "notes",
            "kind": "mcp_server",
            "url": "https://notes.example.com/mcp",
            "transport": "streamable-http",
            "team": "search",
        },
    )
    html = admin_client_.get("/audit-log/?object_type=service").content.decode()
    assert "otto" in html and "notes" in html and "<code>team</code>" in html


def test_forms_require_csrf(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(
        "/services/new/",
        {
            "name": "x",
            "kind": "mcp_server",
            "url": "https://x.example.com",
            "transport": "streamable-http",
        },
    )
    assert response.status_code == 403
    assert not Service.objects.filter(name="x").exists()


def test_unknown_service_is_404(viewer_client):
    assert viewer_client.get("/services/ghost/").status_code == 404


def test_metrics_with_a_token(viewer):
    from console.models import ApiToken

    _, raw = ApiToken.issue(viewer, "prometheus")
    body = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/metrics").content.decode()
    assert 'fleet_services{kind="mcp_server",status="unknown"} 1.0' in body
    assert "fleet_console_http_requests_total" in body
    assert "fleet_console_jobs" in body


def test_account_delete_with_services_is_refused_with_a_message(operator_client, notes):
    account = CloudAccountFactory(name="prod-gcp")
    notes.account = account
    notes.save()
    response = operator_client.post("/accounts/prod-gcp/delete/", follow=True)
    assert "still has services: notes" in response.content.decode()
    assert CloudAccount.objects.filter(name="prod-gcp").exists()
    assert not AuditLogEntry.objects.filter(action="delete").exists()


def test_metrics_count_celery_task_runs(viewer, django_capture_on_commit_callbacks):
    from console import jobs
    from console.models import ApiToken
    from fleet.tasks import import_fleet_task

    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue("fleet import", import_fleet_task, args=("services: []\n",))
    _, raw = ApiToken.issue(viewer, "prometheus")
    body = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/metrics").content.decode()
    assert (
        'fleet_console_celery_tasks_total{state="SUCCESS",task="fleet.import_fleet_task"}' in body
    )
