"""The release, revisions/rollback and rolling-release pages, against the Kubernetes fake."""

from __future__ import annotations

import pytest

from fleet.models import Service
from fleet.operations import services as cs
from fleet.operations.models import Redeploy

pytestmark = pytest.mark.django_db

NEW = "ghcr.io/example/mcp-weather:1.5.0"
OLD = "ghcr.io/example/mcp-weather:1.4.2"


def test_release_form_shows_the_image_now_and_why_there_is_no_canary(kubernetes, operator_client):
    cs.sync_observed(kubernetes.service)

    page = operator_client.get("/services/weather/release/").content.decode()

    assert OLD in page
    assert "No canary here: a plain Kubernetes Deployment" in page
    assert "rolling update" in page
    assert 'name="container"' in page  # Kubernetes names the container


def test_release_form_errors_sit_on_their_field(kubernetes, operator_client):
    response = operator_client.post(
        "/services/weather/release/", {"image": "ghcr.io/example/mcp-weather"}
    )

    assert response.status_code == 422
    page = response.content.decode()
    assert "names no tag or digest" in page and 'aria-invalid="true"' in page
    assert not Redeploy.objects.exists()


def test_release_from_the_page_shows_before_and_after(
    kubernetes, operator_client, django_capture_on_commit_callbacks
):
    cs.sync_observed(kubernetes.service)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            "/services/weather/release/", {"image": NEW, "reason": "ship"}
        )

    redeploy = Redeploy.objects.get()
    assert response.status_code == 302 and response.url == redeploy.get_absolute_url()
    page = operator_client.get(redeploy.get_absolute_url()).content.decode()
    assert "Release of" in page and OLD in page and NEW in page
    service_page = operator_client.get("/services/weather/").content.decode()
    assert "Release…" in service_page and NEW in service_page


def test_viewers_read_revisions_but_cannot_release_or_roll_back(kubernetes, viewer_client):
    assert viewer_client.get("/services/weather/release/").status_code == 403
    assert viewer_client.post("/services/weather/rollback/").status_code == 403
    page = viewer_client.get("/services/weather/revisions/")
    assert page.status_code == 200 and "Roll back" not in page.content.decode()


def test_one_click_rollback_from_the_revisions_page(
    kubernetes, operator, operator_client, django_capture_on_commit_callbacks
):
    from fleet.operations import releases

    with django_capture_on_commit_callbacks(execute=True):
        releases.request_release(kubernetes.service, operator, NEW)

    page = operator_client.get("/services/weather/revisions/").content.decode()
    assert "Roll back to this" in page and OLD in page and NEW in page
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/services/weather/rollback/", {"revision": "1"})

    rollback = Redeploy.objects.get(action="rollback")
    assert response.url == rollback.get_absolute_url()
    assert rollback.status == "succeeded" and rollback.image_after == OLD


def test_revisions_page_says_when_the_cloud_cannot_be_read(kubernetes, operator_client):
    kubernetes.fake.fail_next(403, count=10, path_contains="/replicasets")

    response = operator_client.get("/services/weather/revisions/")

    assert response.status_code == 502
    assert "replicasets.apps list" in response.content.decode()


def test_rolling_release_page_dry_runs_then_starts(
    kubernetes, operator_client, django_capture_on_commit_callbacks
):
    Service.objects.create(
        name="files",
        url=kubernetes.service.url,
        account=kubernetes.account,
        resource="mcp-files",
        team="tools",
    )
    for service in Service.objects.all():
        cs.sync_observed(service)
    form = {"team": "tools", "image_tag": "2.0.0", "concurrency": "1"}

    dry = operator_client.post("/releases/batch/", form).content.decode()
    assert "Dry run: what each service will get" in dry
    assert dry.count("ghcr.io/example/mcp-weather:2.0.0") == 2
    assert not Redeploy.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        started = operator_client.post("/releases/batch/", {**form, "start": "1"})

    assert started.status_code == 302
    assert set(Redeploy.objects.values_list("status", flat=True)) == {"succeeded"}
    detail = operator_client.get(started.url).content.decode()
    assert "Rolling release" in detail


def test_rolling_release_errors_name_the_field(kubernetes, operator_client):
    response = operator_client.post("/releases/batch/", {"team": "tools", "image": "bad image"})

    assert response.status_code == 422
    assert "is not an image reference" in response.content.decode()


# -- Kubernetes requests apart from limits, in the console's scaling ------------------------------
def test_kubernetes_scaling_has_requests_apart_from_limits(
    kubernetes, operator, operator_client, django_capture_on_commit_callbacks
):
    import json

    from console.models import ApiToken

    cs.sync_observed(kubernetes.service)
    _, raw = ApiToken.issue(operator, "ci")
    client = operator_client.__class__(HTTP_AUTHORIZATION=f"Bearer {raw}")
    put = client.put(
        "/api/v1/services/weather/scaling",
        data=json.dumps({"cpu_request": "100m"}),
        content_type="application/json",
    )
    assert put.status_code == 200
    assert put.json()["drift"] == {"cpu_request": {"observed": "500m", "desired": "100m"}}
    page = operator_client.get("/services/weather/").content.decode()
    assert "CPU request" in page and "CPU limit" in page

    with django_capture_on_commit_callbacks(execute=True):
        client.post("/api/v1/services/weather/scaling/apply")

    patch = kubernetes.fake.requests_to("PATCH", "/deployments/mcp-weather")[-1]
    resources = patch.body["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {"requests": {"cpu": "100m"}}
    assert client.get("/api/v1/services/weather/scaling").json()["observed"]["cpu"] == "500m"


def test_requests_are_refused_where_the_platform_has_none(cloudrun, operator):
    import json

    from django.test import Client

    from console.models import ApiToken

    _, raw = ApiToken.issue(operator, "ci")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").put(
        "/api/v1/services/weather/scaling",
        data=json.dumps({"cpu_request": "100m"}),
        content_type="application/json",
    )

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "cpu_request"]
    assert "Cloud Run has no separate cpu request" in error["msg"]
