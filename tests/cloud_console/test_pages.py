"""The cloud pages as a person uses them: confirm, progress, scaling form, discovery, permissions."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.models import AuditLogEntry, Job
from fleet.models import CloudAccount, Service
from fleet.operations import services as cs
from fleet.operations.models import Redeploy, ServiceScaling
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def test_confirm_step_names_service_platform_and_revision(kubernetes, operator_client):
    cs.sync_observed(kubernetes.service)

    page = operator_client.get("/services/weather/redeploy/").content.decode()

    assert "Redeploy weather" in page
    assert "Kubernetes" in page and "test-kubernetes" in page
    assert "Current revision" in page and "<code>1</code>" in page
    assert 'name="reason"' in page and "csrfmiddlewaretoken" in page


def test_confirm_step_reads_a_never_synced_service_to_name_its_revision(
    kubernetes, operator_client
):
    page = operator_client.get("/services/weather/redeploy/").content.decode()

    assert "Current revision" in page and "<code>1</code>" in page
    assert "not read from the cloud yet" not in page
    assert kubernetes.service.cloud_snapshot.data["revision"] == "1"


def test_confirm_step_says_why_the_revision_could_not_be_read(kubernetes, operator_client):
    kubernetes.fake.fail_next(403, method="GET", path_contains="/deployments/mcp-weather")

    page = operator_client.get("/services/weather/redeploy/").content.decode()

    assert "could not read it: Permission denied" in page and "deployments.apps get" in page
    assert 'name="reason"' in page  # the redeploy itself may still be allowed


def test_redeploy_from_the_page_shows_live_progress_then_stops_polling(
    kubernetes, operator_client, htmx_headers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/services/weather/redeploy/", {"reason": "new secret"})
    redeploy = Redeploy.objects.get()
    assert response.status_code == 302 and response.url == f"/redeploys/{redeploy.pk}/"

    page = operator_client.get(response.url)
    fragment = operator_client.get(response.url, **htmx_headers)

    assert b"Restarting deployment mcp/mcp-weather" in page.content
    assert b"new secret" in page.content
    assert fragment.status_code == 286  # finished: htmx stops polling
    assert b"<html" not in fragment.content and b"succeeded" in fragment.content
    assert "HX-Request" in fragment["Vary"]


def test_a_running_redeploy_keeps_polling(kubernetes, operator, operator_client, htmx_headers):
    redeploy, _ = cs.request_redeploy(kubernetes.service, operator)  # not committed: stays queued

    fragment = operator_client.get(f"/redeploys/{redeploy.pk}/", **htmx_headers)

    assert fragment.status_code == 200
    assert b'hx-trigger="every 1s"' in fragment.content
    assert b"Waiting for a worker" in fragment.content


def test_second_click_shows_the_running_redeploy(kubernetes, operator, admin_client_):
    running, _ = cs.request_redeploy(kubernetes.service, operator, reason="first")

    page = admin_client_.get("/services/weather/redeploy/").content.decode()
    response = admin_client_.post("/services/weather/redeploy/", {"reason": "second"})

    assert f"#{running.pk}" in page and "already in flight" in page
    assert response.url == f"/redeploys/{running.pk}/"
    assert Redeploy.objects.count() == 1


def test_too_long_reason_is_a_field_error(kubernetes, operator_client):
    response = operator_client.post("/services/weather/redeploy/", {"reason": "x" * 501})

    assert response.status_code == 422
    assert b"Keep the reason under 500 characters" in response.content
    assert not Redeploy.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/services/weather/redeploy/"),
        ("post", "/services/weather/redeploy/"),
        ("get", "/services/weather/scaling/"),
        ("post", "/services/weather/scaling/"),
        ("post", "/services/weather/scaling/apply/"),
        ("post", "/services/weather/cloud/refresh/"),
        ("post", "/redeploys/batch/"),
        ("post", "/accounts/test-kubernetes/discover/"),
    ],
)
def test_viewers_cannot_change_anything(kubernetes, viewer_client, method, path):
    response = getattr(viewer_client, method)(path, {"reason": "x", "services": ["weather"]})

    assert response.status_code == 403
    assert not Redeploy.objects.exists() and not Job.objects.exists()
    assert not AuditLogEntry.objects.exists()


def test_viewers_can_look(kubernetes, viewer_client, operator):
    redeploy, _ = cs.request_redeploy(kubernetes.service, operator)

    assert viewer_client.get("/redeploys/").status_code == 200
    assert viewer_client.get(f"/redeploys/{redeploy.pk}/").status_code == 200
    page = viewer_client.get("/services/weather/").content.decode()
    assert "Cloud: Kubernetes" in page
    assert "Set desired scaling" not in page and 'href="/services/weather/redeploy/"' not in page


def test_service_page_shows_snapshot_drift_and_history(kubernetes, operator, operator_client):
    cs.sync_observed(kubernetes.service)
    cs.set_desired_scaling(kubernetes.service, operator, {"max_instances": 9})

    page = operator_client.get("/services/weather/").content.decode()

    assert "ghcr.io/example/mcp-weather:1.4.2" in page
    assert "Read from account <b>test-kubernetes</b>" in page
    assert kubernetes.fake.endpoint in page
    assert '<tr class="drift">' in page and ">drift<" in page
    assert "Apply" in page and "Set desired scaling" in page
    assert "desired settings changed" in page and "otto" in page


def test_secret_env_refs_are_marked(cloudrun, operator_client):
    cs.sync_observed(cloudrun.service)

    page = operator_client.get("/services/weather/").content.decode()

    assert '<code class="env secret">WEATHER_API_KEY</code> <span class="tag"' in page
    assert '<code class="env">LOG_LEVEL</code>' in page


def test_scaling_form_puts_errors_on_their_fields(kubernetes, operator_client):
    response = operator_client.post(
        "/services/weather/scaling/",
        {"min_instances": "5", "max_instances": "2", "concurrency": "10", "cpu": "lots"},
    )

    page = response.content.decode()
    assert response.status_code == 422
    assert "Min instances (5) must not exceed max instances (2)." in page
    assert "no per-pod request concurrency" in page
    assert "&#x27;lots&#x27; is not a Kubernetes quantity" in page
    assert ServiceScaling.objects.filter(desired_max_instances=2).count() == 0


def test_scaling_form_saves_and_apply_runs_a_job(
    kubernetes, operator_client, django_capture_on_commit_callbacks
):
    cs.sync_observed(kubernetes.service)
    response = operator_client.post("/services/weather/scaling/", {"max_instances": "7"})
    assert response.status_code == 302

    with django_capture_on_commit_callbacks(execute=True):
        applied = operator_client.post("/services/weather/scaling/apply/")

    job = Job.objects.get(name="apply scaling to weather")
    assert applied.url == f"/jobs/{job.pk}/?from=%2Fservices%2Fweather%2F"
    assert job.status == "succeeded"
    assert ServiceScaling.objects.get().observed_max_instances == 7


def test_apply_without_desired_settings_says_so(kubernetes, operator_client):
    response = operator_client.post("/services/weather/scaling/apply/", follow=True)

    assert b"Set desired scaling first" in response.content
    assert not Job.objects.exists()


def test_dashboard_redeploy_button_for_operators_only_and_no_extra_queries(
    kubernetes, operator_client, viewer_client
):
    plain = ServiceFactory(name="plain")
    page = operator_client.get("/").content.decode()
    assert 'href="/services/weather/redeploy/"' in page
    assert 'href="/services/plain/redeploy/"' not in page
    assert "/redeploy/" not in viewer_client.get("/").content.decode()

    with CaptureQueriesContext(connection) as few:
        operator_client.get("/")
    for n in range(5):
        Service.objects.create(
            name=f"more-{n}", url=plain.url, account=kubernetes.account, resource=f"d-{n}"
        )
    with CaptureQueriesContext(connection) as many:
        operator_client.get("/")
    assert len(many) == len(few)


def test_redeploys_page_lists_running_and_recent_and_offers_a_batch(
    kubernetes, operator, operator_client
):
    cs.request_redeploy(kubernetes.service, operator, reason="in flight now")

    page = operator_client.get("/redeploys/").content.decode()

    assert "in flight now" in page
    assert 'name="services" value="weather"' in page and 'name="concurrency"' in page
    assert 'href="/accounts/test-kubernetes/discover/"' in page


def test_batch_form_errors_are_shown(kubernetes, operator_client):
    response = operator_client.post(
        "/redeploys/batch/", {"services": ["weather"], "concurrency": "0"}, follow=True
    )

    assert b"Concurrency must be a whole number from 1 to 50 (got 0)." in response.content


def test_discovery_marks_registered_and_registers_the_chosen(kubernetes, operator_client):
    page = operator_client.get("/accounts/test-kubernetes/discover/?label=mcp-server").content
    page = page.decode()

    assert "registered as weather" in page
    assert 'value="mcp-files"' in page and 'value="mcp-weather"' not in page
    assert "agent-backend" not in page  # filtered out by the label

    response = operator_client.post(
        "/accounts/test-kubernetes/discover/", {"label": "mcp-server", "resources": ["mcp-files"]}
    )

    assert response.status_code == 302
    files = Service.objects.get(name="mcp-files")
    assert files.account == kubernetes.account and files.resource == "mcp-files"
    assert files.url == "http://mcp-files.mcp.svc.cluster.local/mcp"
    assert files.cloud_snapshot.data["image"] == "ghcr.io/example/mcp-weather:1.4.2"
    assert AuditLogEntry.objects.filter(action="import-discovered").exists()
    assert AuditLogEntry.objects.filter(action="create", object_repr="mcp-files").exists()


def test_discovery_refuses_a_service_without_a_url(kubernetes, operator_client):
    response = operator_client.post(
        "/accounts/test-kubernetes/discover/", {"resources": ["agent-backend"]}
    )

    assert response.status_code == 422
    assert b"agent-backend has no URL the console can reach" in response.content
    assert not Service.objects.filter(resource="agent-backend").exists()


def test_discovery_shows_a_denied_list_plainly(kubernetes, viewer_client):
    kubernetes.fake.fail_next(403, path_contains="/deployments")

    response = viewer_client.get("/accounts/test-kubernetes/discover/")

    assert response.status_code == 502
    assert b"deployments.apps list" in response.content
    assert b"namespace mcp" in response.content


def test_discovery_of_a_plain_url_account_is_refused(db, viewer_client):
    CloudAccount.objects.create(name="local", provider="url")

    response = viewer_client.get("/accounts/local/discover/")

    assert response.status_code == 422 and b"plain-URL account" in response.content


def test_discovery_names_a_bad_label_filter_without_asking_the_cloud(kubernetes, viewer_client):
    response = viewer_client.get("/accounts/test-kubernetes/discover/", {"label": "=true"})

    assert response.status_code == 422
    assert b"&#x27;=true&#x27; has no label key" in response.content
    assert not [r for r in kubernetes.fake.requests if "/deployments" in r.path]


def test_discovery_keeps_the_label_filter_after_registering(kubernetes, operator_client):
    response = operator_client.post(
        "/accounts/test-kubernetes/discover/",
        {"label": "mcp-server=true", "resources": ["mcp-files"]},
        follow=True,
    )

    assert response.redirect_chain[-1][0].endswith("?label=mcp-server%3Dtrue")
    assert b"registered as mcp-files" in response.content
    assert b"Registered 1 service(s): mcp-files." in response.content


def test_batch_form_names_a_non_number_and_an_unknown_service(kubernetes, operator_client):
    words = operator_client.post(
        "/redeploys/batch/", {"services": ["weather"], "concurrency": "two"}, follow=True
    )
    ghost = operator_client.post(
        "/redeploys/batch/", {"services": ["weather", "ghost"], "concurrency": "1"}, follow=True
    )

    assert b"Concurrency: &#x27;two&#x27; is not a whole number." in words.content
    assert b"Services: no service named ghost." in ghost.content
    assert not Redeploy.objects.exists()


def test_dashboard_flags_scaling_drift(kubernetes, operator, viewer_client):
    cs.sync_observed(kubernetes.service)
    assert "scaling drift" not in viewer_client.get("/").content.decode()

    cs.set_desired_scaling(kubernetes.service, operator, {"max_instances": 9})

    page = viewer_client.get("/").content.decode()
    assert "scaling drift" in page and 'href="/services/weather/#service-cloud"' in page
