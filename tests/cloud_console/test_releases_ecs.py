"""ECS releases through the console (service functions, tasks, API): a new task definition revision,
rollback to the previous one, no canary, and a failed rollout with ECS's reasons on the record.
moto in server mode behind the strict ECS proxy; a real MCP server answers the post-deploy probe."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from console.models import ApiToken, AuditLogEntry
from fleet.operations import releases
from fleet.operations import services as cs

pytestmark = pytest.mark.django_db

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
OLD = f"{REGISTRY}/mcp-weather:1.4.2"
NEW = f"{REGISTRY}/mcp-weather:1.5.0"


def api(user) -> Client:
    _, raw = ApiToken.issue(user, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_release_then_rollback_through_the_api(ecs, operator, django_capture_on_commit_callbacks):
    cs.sync_observed(ecs.service)
    client = api(operator)

    with django_capture_on_commit_callbacks(execute=True):
        released = client.post(
            "/api/v1/services/weather/releases",
            data=json.dumps({"image": NEW, "reason": "ship 1.5"}),
            content_type="application/json",
        )
    body = client.get(f"/api/v1/releases/{released.json()['id']}").json()

    assert body["status"] == "succeeded", body["log"]
    assert (body["image_before"], body["image_after"]) == (OLD, NEW)
    assert (body["revision_before"], body["revision_after"]) == ("mcp-weather:1", "mcp-weather:2")
    assert "2 of 2 tasks running" in body["log"]

    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = releases.request_rollback(ecs.service, operator, reason="bad build")
    redeploy.refresh_from_db()

    assert redeploy.status == "succeeded", redeploy.log
    assert (redeploy.revision_before, redeploy.revision_after) == ("mcp-weather:2", "mcp-weather:1")
    assert (redeploy.image_before, redeploy.image_after) == (NEW, OLD)
    assert "The previous revision is mcp-weather:1" in redeploy.log
    assert AuditLogEntry.objects.filter(action="rollback").exists()


def test_an_ecs_canary_is_refused_with_the_reason(ecs, operator):
    with pytest.raises(ValidationError) as caught:
        releases.request_release(ecs.service, operator, NEW, canary_percent=10)

    assert "ECS rolling update replaces tasks" in str(caught.value)


def test_a_failed_ecs_release_keeps_the_circuit_breaker_reason_and_stopped_tasks(
    ecs, operator, django_capture_on_commit_callbacks
):
    ecs.fake.plan(
        "mcp-weather",
        fail_new_tasks=True,
        stop_code="TaskFailedToStart",
        stopped_reason="CannotPullContainerError: ref not found",
        exit_code=None,
    )

    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = releases.request_release(ecs.service, operator, NEW)
    redeploy.refresh_from_db()

    assert redeploy.status == "failed"
    assert "ECS deployment circuit breaker: tasks failed to start." in redeploy.error
    assert redeploy.diagnostics and all(
        "(TaskFailedToStart): CannotPullContainerError: ref not found" in line
        for line in redeploy.diagnostics
    )


def test_an_ecs_release_may_name_its_container(ecs, operator, django_capture_on_commit_callbacks):
    with pytest.raises(ValidationError, match="not an ECS container name"):
        releases.request_release(ecs.service, operator, NEW, container="web server")

    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = releases.request_release(ecs.service, operator, NEW, container="server")
    redeploy.refresh_from_db()

    assert redeploy.status == "succeeded", redeploy.log
    assert (redeploy.image_before, redeploy.image_after) == (OLD, NEW)
