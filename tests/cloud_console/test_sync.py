"""Observed scaling is synced periodically (beat) and on demand; failures are recorded, not hidden."""

from __future__ import annotations

import pytest
from django_celery_beat.models import PeriodicTask

from console.models import Job
from fleet.models import Service
from fleet.operations import services as cs
from fleet.operations.models import CloudSnapshot, ScalingChange, ServiceScaling
from fleet.operations.tasks import sync_scaling_task

pytestmark = pytest.mark.django_db


def test_the_sync_is_scheduled_in_the_database():
    task = PeriodicTask.objects.get(task="fleet.sync_scaling_task")
    assert task.enabled and task.interval.every == 15 and task.interval.period == "minutes"


def test_periodic_sync_reads_every_cloud_service_and_reports_failures(kubernetes):
    Service.objects.create(
        name="ghost", url=kubernetes.service.url, account=kubernetes.account, resource="gone"
    )
    Service.objects.create(name="plain", url="http://127.0.0.1:1/mcp")

    sync_scaling_task.apply()

    job = Job.objects.get(name="sync scaling from clouds")
    assert job.status == "failed" and "1 of 2 service(s) could not be read" in job.error
    assert "ghost" in job.log and "Read 1 of 2" in job.log
    snapshot = CloudSnapshot.objects.get(service=kubernetes.service)
    assert (
        snapshot.account_name == "test-kubernetes" and snapshot.endpoint == kubernetes.fake.endpoint
    )
    assert snapshot.raw["kind"] == "Deployment"
    ghost = ServiceScaling.objects.get(service__name="ghost")
    assert (
        'deployments.apps "gone" not found' in ghost.sync_error
        or "does not exist" in ghost.sync_error
    )


def test_a_change_made_outside_the_console_shows_in_history(kubernetes):
    cs.sync_observed(kubernetes.service)
    hpa = kubernetes.fake.objects["horizontalpodautoscalers"][("mcp", "mcp-weather")]
    hpa["spec"]["maxReplicas"] = 12  # someone ran kubectl edit

    cs.sync_observed(kubernetes.service)

    change = ScalingChange.objects.filter(kind="observed").first()
    assert change.changed() == [("max_instances", 6, 12)]
    assert ServiceScaling.objects.get().observed_max_instances == 12


def test_refresh_button_runs_a_sync_job(
    kubernetes, operator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/services/weather/cloud/refresh/")

    job = Job.objects.get(name="sync weather from cloud")
    assert response.url == f"/jobs/{job.pk}/?from=%2Fservices%2Fweather%2F"
    assert job.status == "succeeded"
    assert "revision 1" in job.log
