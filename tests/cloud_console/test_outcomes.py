"""How redeploys end when things go wrong: unhealthy after rollout, timeouts, denied permissions,
a second click, and a rolling batch's concurrency limit."""

from __future__ import annotations

import dataclasses

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from console.models import AuditLogEntry, Job
from fleet.models import Service
from fleet.operations import services as cs
from fleet.operations.models import Redeploy, RedeployBatch

pytestmark = pytest.mark.django_db


def redeploy_now(service, actor, capture, reason: str = "") -> Redeploy:
    with capture(execute=True):
        redeploy, _ = cs.request_redeploy(service, actor, reason=reason)
    redeploy.refresh_from_db()
    return redeploy


def test_unhealthy_after_rollout_marks_the_redeploy_failed(
    kubernetes, broken_url, operator, django_capture_on_commit_callbacks
):
    Service.objects.filter(pk=kubernetes.service.pk).update(url=broken_url)
    kubernetes.service.refresh_from_db()

    redeploy = redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks)

    assert redeploy.status == "failed"
    assert "unhealthy after it" in redeploy.error and "503" in redeploy.error
    assert redeploy.revision_after == "2"  # the rollout itself happened
    audit = AuditLogEntry.objects.get(action="redeploy")
    assert audit.after["status"] == "failed" and "unhealthy" in audit.detail


def test_a_rollout_that_never_finishes_is_unknown_with_the_operation_id(
    kubernetes, operator, settings, django_capture_on_commit_callbacks
):
    kubernetes.fake.rollout_gets = 0  # the Deployment never becomes ready, and then the
    kubernetes.fake.fail_next(  # cluster stops answering: the console cannot tell
        503, count=1000, method="GET", when=lambda r: bool(kubernetes.fake.requests_to("PATCH"))
    )
    settings.FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS = 0.3

    redeploy = redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks)

    assert redeploy.status == "unknown"
    assert redeploy.operation_id == "mcp/deployment/mcp-weather@generation=2"
    assert redeploy.error.startswith("Unknown — check the cloud console")
    assert redeploy.operation_id in redeploy.error
    assert "Healthy" not in redeploy.log  # no probe claims success
    assert AuditLogEntry.objects.get(action="redeploy").after["status"] == "unknown"


def test_cloud_run_operation_timeout_is_unknown(
    cloudrun, operator, settings, django_capture_on_commit_callbacks
):
    cloudrun.fake.operation_polls = None  # the long-running operation never completes
    settings.FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS = 0.3

    redeploy = redeploy_now(cloudrun.service, operator, django_capture_on_commit_callbacks)

    assert redeploy.status == "unknown"
    assert "/operations/" in redeploy.operation_id and redeploy.operation_id in redeploy.error


def test_permission_denied_names_the_permission_and_resource(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    kubernetes.fake.fail_next(403, method="PATCH", path_contains="/deployments/mcp-weather")

    redeploy = redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks)

    assert redeploy.status == "failed"
    assert "deployments.apps patch" in redeploy.error
    assert "deployments/mcp-weather in namespace mcp" in redeploy.error
    assert redeploy.finished_at is not None and redeploy.duration_s is not None
    assert not Redeploy.objects.filter(status__in=["queued", "running"]).exists()


def test_ecs_denied_update_names_the_iam_action(ecs, operator, django_capture_on_commit_callbacks):
    ecs.fake.fail_action("ecs:UpdateService", 403)

    redeploy = redeploy_now(ecs.service, operator, django_capture_on_commit_callbacks)

    assert redeploy.status == "failed"
    assert "ecs:UpdateService" in redeploy.error and "mcp-weather" in redeploy.error


def test_scaling_denied_fails_the_job_and_is_audited(
    cloudrun, operator, django_capture_on_commit_callbacks
):
    cs.sync_observed(cloudrun.service)
    cs.set_desired_scaling(cloudrun.service, operator, {"max_instances": 30})
    cloudrun.fake.fail_next(403, method="PATCH")

    with django_capture_on_commit_callbacks(execute=True):
        job = cs.apply_scaling(cloudrun.service, operator)

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "run.services.update" in job.error
    audit = AuditLogEntry.objects.get(action="scaling-apply")
    assert audit.after["status"] == "failed" and "run.services.update" in audit.detail


def test_one_redeploy_in_flight_per_service(kubernetes, operator, admin_user):
    first, created = cs.request_redeploy(kubernetes.service, operator, reason="one")
    second, created_again = cs.request_redeploy(kubernetes.service, admin_user, reason="two")

    assert created and not created_again
    assert second.pk == first.pk and second.reason == "one"
    assert Redeploy.objects.count() == 1
    # The database refuses a second in-flight row even if code skipped the check.
    with pytest.raises(IntegrityError), transaction.atomic():
        Redeploy.objects.create(service=kubernetes.service, actor_label="x", status="running")


def test_a_finished_redeploy_allows_the_next(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    first = redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks, "a")
    second = redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks, "b")

    assert first.pk != second.pk and second.status == "succeeded"
    assert second.revision_before == first.revision_after == "2" and second.revision_after == "3"


def test_plain_url_services_cannot_be_redeployed(db, operator):
    from fleet.models import CloudAccount

    local = CloudAccount.objects.create(name="local", provider="url")
    service = Service.objects.create(name="plain", url="http://127.0.0.1:1/mcp", account=local)

    with pytest.raises(ValidationError) as caught:
        cs.request_redeploy(service, operator)
    assert "plain URL" in caught.value.message_dict["service"][0]


# Worker threads write to the database at once: SQLite's shared in-memory test database refuses
# concurrent writers ("table is locked"), so this runs on PostgreSQL (as CI does).
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="concurrent writers need PostgreSQL (CI runs it)"
)
@pytest.mark.django_db(transaction=True)
def test_rolling_batch_honours_the_concurrency_limit(kubernetes, operator):
    services = [kubernetes.service]
    for name in ("files", "backend", "extra"):
        resource = {"files": "mcp-files", "backend": "agent-backend", "extra": "mcp-extra"}[name]
        if name == "extra":
            kubernetes.fake.add_deployment("mcp-extra", labels={"mcp-server": "true"})
        services.append(
            Service.objects.create(
                name=name,
                url=kubernetes.service.url,
                account=kubernetes.account,
                resource=resource,
            )
        )
    kubernetes.fake.delay_next(0.4, count=4, path_contains="/deployments/")

    batch, already = cs.request_batch_redeploy(services, operator, "monthly", concurrency=2)

    batch.refresh_from_db()
    assert already == [] and batch.status == "succeeded"
    rows = list(Redeploy.objects.filter(batch=batch))
    assert len(rows) == 4 and {r.status for r in rows} == {"succeeded"}
    events = sorted(
        [(r.started_at, 1) for r in rows] + [(r.finished_at, -1) for r in rows],
        key=lambda e: (e[0], e[1]),
    )
    overlap = peak = 0
    for _, step in events:
        overlap += step
        peak = max(peak, overlap)
    assert peak == 2


@pytest.mark.django_db(transaction=True)
def test_rolling_batch_stops_after_a_failure(kubernetes, broken_url, operator):
    bad = Service.objects.create(
        name="files", url=broken_url, account=kubernetes.account, resource="mcp-files"
    )
    later = Service.objects.create(
        name="backend",
        url=kubernetes.service.url,
        account=kubernetes.account,
        resource="agent-backend",
    )

    batch, _ = cs.request_batch_redeploy([bad, later], operator, "", concurrency=1)

    assert RedeployBatch.objects.get(pk=batch.pk).status == "failed"
    by_name = {r.service.name: r for r in Redeploy.objects.filter(batch=batch)}
    assert by_name["files"].status == "failed"
    assert by_name["backend"].status == "failed"
    assert by_name["backend"].error == "Not started: the rolling batch stopped after files failed."
    assert kubernetes.fake.requests_to("PATCH", "/deployments/agent-backend") == []


def test_batch_leaves_in_flight_services_alone(kubernetes, operator):
    running, _ = cs.request_redeploy(kubernetes.service, operator)
    other = Service.objects.create(
        name="files", url=kubernetes.service.url, account=kubernetes.account, resource="mcp-files"
    )

    batch, already = cs.request_batch_redeploy([kubernetes.service, other], operator, "", 2)

    assert already == [running]
    assert list(batch.redeploys.values_list("service__name", flat=True)) == ["files"]


def test_batch_rejects_bad_concurrency_and_empty_selection(kubernetes, operator):
    with pytest.raises(ValidationError) as caught:
        cs.request_batch_redeploy([kubernetes.service], operator, "", concurrency=0)
    assert "concurrency" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        cs.request_batch_redeploy([], operator, "", concurrency=1)
    assert "services" in caught.value.message_dict


def test_a_failed_redeploy_raises_one_alert_and_a_success_closes_it(
    kubernetes, broken_url, healthy_url, operator, django_capture_on_commit_callbacks
):
    from console.notifications.models import Alert

    Service.objects.filter(pk=kubernetes.service.pk).update(url=broken_url)
    kubernetes.service.refresh_from_db()
    redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks, "a")

    alert = Alert.objects.get()
    assert alert.kind == "redeploy_failed" and alert.severity == "critical"
    assert "Redeploy of weather failed" in alert.title and alert.resolved_at is None

    Service.objects.filter(pk=kubernetes.service.pk).update(url=healthy_url)
    kubernetes.service.refresh_from_db()
    redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks, "b")

    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_scaling_change_whose_request_times_out_is_unknown_not_failed(
    kubernetes, operator, settings, django_capture_on_commit_callbacks
):
    cs.sync_observed(kubernetes.service)
    cs.set_desired_scaling(kubernetes.service, operator, {"cpu": "750m"})
    settings.FLEET_CLOUD_PACING = dataclasses.replace(
        settings.FLEET_CLOUD_PACING, request_timeout_s=0.2
    )
    kubernetes.fake.delay_next(1.0, path_contains="/deployments/mcp-weather", method="PATCH")

    with django_capture_on_commit_callbacks(execute=True):
        job = cs.apply_scaling(kubernetes.service, operator)

    job.refresh_from_db()
    assert kubernetes.fake.requests_to("PATCH", "/deployments/mcp-weather")  # the change was sent
    assert job.status == Job.Status.UNKNOWN
    assert job.error.startswith("Unknown — check the cloud console")
    audit = AuditLogEntry.objects.get(action="scaling-apply")
    assert audit.after["status"] == "unknown"


def test_a_finished_rollout_starts_a_checklist_audit_of_the_service(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    from checks.audits.models import AuditRun

    redeploy = redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks)

    run = AuditRun.objects.get(service=kubernetes.service)
    assert run.trigger == "redeploy" and run.triggered_by == operator
    assert run.status == "succeeded"
    assert f"Checklist audit #{run.pk} of weather started." in redeploy.log


def test_a_refused_redeploy_starts_no_audit(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    from checks.audits.models import AuditRun

    kubernetes.fake.fail_next(403, method="PATCH", path_contains="/deployments/mcp-weather")

    redeploy_now(kubernetes.service, operator, django_capture_on_commit_callbacks)

    assert not AuditRun.objects.exists()
