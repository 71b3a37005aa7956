"""Releases, canaries and rollbacks through the console on Cloud Run and Container Apps, against
the strict fakes, with a real MCP server (or a broken one) answering the health probes."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from console.models import ApiToken, AuditLogEntry
from fleet.operations import releases
from fleet.operations.models import Redeploy
from tests.cloud_console.conftest import AZURE_SUB

pytestmark = pytest.mark.django_db

GCP_NAME = "projects/demo-project/locations/us-central1/services/mcp-weather"
GCP_NEW = "us-docker.pkg.dev/demo-project/mcp/weather:1.5.0"
AZ_NEW = "mcpregistry.azurecr.io/mcp-weather:1.5.0"


def release_now(service, actor, capture, image: str, **kw) -> Redeploy:
    with capture(execute=True):
        redeploy, _ = releases.request_release(service, actor, image, **kw)
    redeploy.refresh_from_db()
    return redeploy


def test_cloud_run_canary_is_watched_then_promoted(
    cloudrun, operator, django_capture_on_commit_callbacks
):
    fake = cloudrun.fake
    old = fake.revision_of(GCP_NAME)

    redeploy = release_now(
        cloudrun.service,
        operator,
        django_capture_on_commit_callbacks,
        GCP_NEW,
        canary_percent=10,
        canary_watch_s=1,
    )

    assert redeploy.status == "succeeded", redeploy.error
    new = redeploy.revision_after
    assert new.startswith("mcp-weather-fc") and new != old
    assert fake.serving(GCP_NAME) == {new: 100}
    assert redeploy.image_after == GCP_NEW
    steps = list(
        AuditLogEntry.objects.filter(
            action__in=["canary-start", "canary-promote", "canary-rollback"]
        )
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert steps == ["canary-start", "canary-promote"]
    # The promotion follows the latest revision, so a redeploy afterwards really serves.
    assert fake.services[GCP_NAME]["traffic"][0]["type"] == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"


def test_cloud_run_unhealthy_canary_puts_the_traffic_back(
    cloudrun, operator, broken_url, django_capture_on_commit_callbacks
):
    fake = cloudrun.fake
    old = fake.revision_of(GCP_NAME)
    cloudrun.service.url = broken_url
    cloudrun.service.save()
    fake.tag_uri = lambda service_uri, tag: broken_url.rsplit("/mcp", 1)[0]

    redeploy = release_now(
        cloudrun.service,
        operator,
        django_capture_on_commit_callbacks,
        GCP_NEW,
        canary_percent=20,
        canary_watch_s=1,
    )

    assert redeploy.status == "failed"
    assert "Canary rolled back automatically" in redeploy.error
    assert fake.serving(GCP_NAME) == {old: 100}


def test_cloud_run_canary_probes_the_new_revision_through_its_tag_url(
    cloudrun, operator, broken_url, django_capture_on_commit_callbacks
):
    """The service URL carries the split (90 % old revision): the canary's probes must reach the
    new revision alone, through the URL its revision tag gives it, or a broken 10 % canary is
    promoted on the old revision's health."""
    fake = cloudrun.fake
    old = fake.revision_of(GCP_NAME)
    tag_origin = broken_url.rsplit("/mcp", 1)[0]
    fake.tag_uri = lambda service_uri, tag: tag_origin if tag.startswith("canary-") else service_uri

    redeploy = release_now(
        cloudrun.service,
        operator,
        django_capture_on_commit_callbacks,
        GCP_NEW,
        canary_percent=10,
        canary_watch_s=1,
    )

    assert redeploy.status == "failed", redeploy.error
    assert "Canary rolled back automatically" in redeploy.error
    assert f"Canary probe 1 of {tag_origin}/mcp" in redeploy.log
    assert fake.serving(GCP_NAME) == {old: 100}
    # The console's own canary tag does not outlive the canary.
    assert not [
        t for t in fake.services[GCP_NAME]["traffic"] if t.get("tag", "").startswith("canary-")
    ]


def test_cloud_run_canary_behind_internal_ingress_probes_the_service_url_and_says_so(
    cloudrun, operator, django_capture_on_commit_callbacks
):
    """A tag URL is a run.app URL: behind internal ingress the console cannot reach it, so the
    probes go through the service URL and the log says they see the split."""
    fake = cloudrun.fake
    fake.services[GCP_NAME]["ingress"] = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"

    redeploy = release_now(
        cloudrun.service,
        operator,
        django_capture_on_commit_callbacks,
        GCP_NEW,
        canary_percent=10,
        canary_watch_s=1,
    )

    assert redeploy.status == "succeeded", redeploy.error
    assert "through the service URL" in redeploy.log
    assert f"Canary probe 1 of {cloudrun.service.url}" in redeploy.log


def test_cloud_run_release_that_cannot_start_shows_revision_conditions(
    cloudrun, operator, operator_client, django_capture_on_commit_callbacks
):
    fake = cloudrun.fake
    old = fake.revision_of(GCP_NAME)
    fake.fail_next_operation("Container failed to start and listen on PORT=8080.")

    redeploy = release_now(cloudrun.service, operator, django_capture_on_commit_callbacks, GCP_NEW)

    assert redeploy.status == "failed"
    assert any("ContainerHealthy: failed" in line for line in redeploy.diagnostics)
    page = operator_client.get(redeploy.get_absolute_url()).content.decode()
    assert "HEALTH_CHECK_CONTAINER_ERROR" in page
    assert fake.serving(GCP_NAME) == {old: 100}


def test_cloud_run_rollback_to_the_previous_revision(
    cloudrun, operator, django_capture_on_commit_callbacks
):
    fake = cloudrun.fake
    old = fake.revision_of(GCP_NAME)
    release_now(cloudrun.service, operator, django_capture_on_commit_callbacks, GCP_NEW)

    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = releases.request_rollback(cloudrun.service, operator)
    redeploy.refresh_from_db()

    assert redeploy.status == "succeeded", redeploy.error
    assert redeploy.revision_after == old
    assert fake.serving(GCP_NAME) == {old: 100}


@pytest.fixture
def azure_multiple(container_apps):
    """A second app, in multiple-revision mode, registered as service 'multi'."""
    app_id = container_apps.fake.add_app("mcp-multi", mode="Multiple")
    service = type(container_apps.service).objects.create(
        name="multi",
        url=container_apps.service.url,
        account=container_apps.account,
        resource="mcp-multi",
        team="tools",
    )
    return container_apps.fake, app_id, service


def test_container_apps_canary_in_multiple_revision_mode(
    azure_multiple, operator, django_capture_on_commit_callbacks
):
    fake, app_id, service = azure_multiple

    redeploy = release_now(
        service, operator, django_capture_on_commit_callbacks, AZ_NEW, canary_percent=10,
        canary_watch_s=1,
    )  # fmt: skip

    assert redeploy.status == "succeeded", redeploy.error
    assert fake.weights(app_id) == {redeploy.revision_after: 100}
    assert redeploy.image_after == AZ_NEW


def test_container_apps_canary_is_refused_in_single_revision_mode(container_apps, operator):
    _, raw = ApiToken.issue(operator, "ci")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = client.post(
        "/api/v1/services/weather/releases",
        data=json.dumps({"image": AZ_NEW, "canary_percent": 10}),
        content_type="application/json",
    )

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "canary_percent"]
    assert "single-revision mode" in error["msg"] and "rolling update" in error["msg"]
    assert container_apps.fake.requests_to("PATCH") == []


def test_container_apps_release_replaces_the_revision(
    container_apps, operator, django_capture_on_commit_callbacks
):
    app_id = f"/subscriptions/{AZURE_SUB}/resourceGroups/mcp-rg/providers/Microsoft.App/containerApps/mcp-weather"

    redeploy = release_now(
        container_apps.service, operator, django_capture_on_commit_callbacks, AZ_NEW
    )

    assert redeploy.status == "succeeded", redeploy.error
    assert container_apps.fake.weights(app_id) == {redeploy.revision_after: 100}
    assert redeploy.image_before.endswith("mcp-weather:1.4.2") and redeploy.image_after == AZ_NEW


def test_a_canary_request_names_the_field_when_the_cloud_cannot_tell(container_apps, operator):
    container_apps.fake.fail_next(403, method="GET")

    with pytest.raises(ValidationError) as caught:
        releases.request_release(container_apps.service, operator, AZ_NEW, canary_percent=10)

    assert "canary_percent" in caught.value.message_dict


def test_container_apps_release_that_never_starts_shows_why_on_the_page(
    container_apps, operator, operator_client, django_capture_on_commit_callbacks
):
    container_apps.fake.fail_next_revision(
        "Degraded", "Container 'server' was terminated with exit code '1' (CrashLoopBackOff)"
    )

    redeploy = release_now(
        container_apps.service, operator, django_capture_on_commit_callbacks, AZ_NEW
    )

    assert redeploy.status == "failed"
    assert "did not start" in redeploy.error
    assert any("CrashLoopBackOff" in line for line in redeploy.diagnostics)
    page = operator_client.get(redeploy.get_absolute_url()).content.decode()
    assert "CrashLoopBackOff" in page


def test_container_apps_redeploy_that_comes_back_degraded_fails_with_the_reason(
    container_apps, operator, django_capture_on_commit_callbacks
):
    from fleet.operations import services as cs

    container_apps.fake.fail_next_restart("Degraded", "Liveness probe failed: HTTP 500")

    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = cs.request_redeploy(container_apps.service, operator, reason="stuck")
    redeploy.refresh_from_db()

    assert redeploy.status == "failed"
    assert "Liveness probe failed" in redeploy.error
