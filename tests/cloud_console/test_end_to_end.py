"""A redeploy and a scaling change on each of the four platforms, end to end.

Service layer → Celery task (eager) → adapter → official SDK over HTTP → fake / moto, then the
post-deploy probe against a real MCP server.
"""

from __future__ import annotations

import pytest

from console.models import AuditLogEntry, Job
from fleet.operations import services as cs
from fleet.operations.models import CloudSnapshot, Redeploy, ScalingChange

pytestmark = pytest.mark.django_db

SCALING = {
    "kubernetes": {"min_instances": 3, "max_instances": 8, "cpu": "1", "memory": "512Mi"},
    "gcp": {"min_instances": 1, "max_instances": 20, "concurrency": 40, "memory": "1Gi"},
    "azure": {
        "min_instances": 1,
        "max_instances": 5,
        "concurrency": 20,
        "cpu": "1",
        "memory": "2Gi",
    },
    "aws": {"min_instances": 3, "max_instances": 6, "cpu": "1024", "memory": "2048"},
}


def test_redeploy_rolls_out_verifies_health_and_is_audited(
    platform, operator, django_capture_on_commit_callbacks
):
    service = platform.service
    cs.sync_observed(service)
    revision_before = CloudSnapshot.objects.get(service=service).data["revision"]

    with django_capture_on_commit_callbacks(execute=True):
        redeploy, created = cs.request_redeploy(service, operator, reason="rotate keys")

    redeploy.refresh_from_db()
    assert created
    assert redeploy.status == "succeeded", redeploy.error + redeploy.log
    assert redeploy.revision_before == revision_before
    assert redeploy.operation_id
    assert redeploy.duration_s is not None and redeploy.duration_s >= 0
    assert "Post-deploy health check" in redeploy.log and "Healthy" in redeploy.log
    if platform.provider in ("gcp", "kubernetes"):  # a new revision / ReplicaSet generation
        assert redeploy.revision_after and redeploy.revision_after != revision_before
    else:  # ECS: a new deployment of the same task definition; Azure: the revision restarted
        assert redeploy.revision_after == revision_before
    outcome = AuditLogEntry.objects.get(action="redeploy", object_id=str(service.pk))
    assert outcome.actor == operator
    assert outcome.after["status"] == "succeeded"
    assert outcome.after["reason"] == "rotate keys"
    assert outcome.after["revision_before"] == revision_before
    assert outcome.after["revision_after"] == redeploy.revision_after
    assert outcome.after["duration_s"] == redeploy.duration_s
    assert AuditLogEntry.objects.filter(action="redeploy-request", actor=operator).exists()


def test_scaling_change_is_applied_and_read_back(
    platform, operator, django_capture_on_commit_callbacks
):
    service = platform.service
    cs.sync_observed(service)
    wanted = SCALING[platform.provider]

    scaling = cs.set_desired_scaling(service, operator, wanted)
    assert set(scaling.drift()) == {k for k, v in wanted.items()}
    with django_capture_on_commit_callbacks(execute=True):
        job = cs.apply_scaling(service, operator)

    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error + job.log
    scaling.refresh_from_db()
    assert scaling.drift() == {}
    assert {k: str(scaling.observed()[k]) for k in wanted} == {k: str(v) for k, v in wanted.items()}
    kinds = list(ScalingChange.objects.filter(service=service).values_list("kind", flat=True))
    assert kinds[0] == "applied" and "desired" in kinds
    applied = ScalingChange.objects.filter(service=service, kind="applied").get()
    assert applied.actor == operator and applied.changed()
    audit = AuditLogEntry.objects.get(action="scaling-apply", object_id=str(service.pk))
    assert audit.actor == operator and audit.after["status"] == "succeeded"
    assert AuditLogEntry.objects.filter(action="scaling-desired", actor=operator).exists()


def test_redeploy_record_outlives_the_fake_run(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    """The row a UI polls has the whole story: log lines from the adapter, in order."""
    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = cs.request_redeploy(kubernetes.service, operator, reason="")
    log = Redeploy.objects.get(pk=redeploy.pk).log
    assert log.index("Restarting deployment mcp/mcp-weather") < log.index("Healthy")
    patch = kubernetes.fake.requests_to("PATCH", "/deployments/mcp-weather")[0]
    annotations = patch.body["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
