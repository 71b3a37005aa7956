"""Worker heartbeats, /healthz's worker and sweep parts, and the reaper that fails runs whose
worker died (on its beat schedule and when a worker starts), each with the reason."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from checks.audits.models import AuditRun
from checks.models import CheckConfig
from console import heartbeat
from console.celery import app as celery_app
from console.jobs import running
from console.models import Job, WorkerHeartbeat
from console.reaper import reap_orphaned_runs
from fleet.models import CloudAccount
from fleet.operations.models import Redeploy
from fleet.operations.services import request_redeploy
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def _ago(**kw):
    return timezone.now() - timedelta(**kw)


def _worker(name: str = "celery@w:1", started=None, seen=None) -> WorkerHeartbeat:
    return WorkerHeartbeat.objects.create(
        worker=name, started_at=started or _ago(minutes=1), last_seen=seen or timezone.now()
    )


def _job(status: str, *, created=None, started=None) -> Job:
    job = Job.objects.create(name="fleet import", status=status)
    Job.objects.filter(pk=job.pk).update(created_at=created or _ago(minutes=1), started_at=started)
    return job


# -- /healthz -------------------------------------------------------------------------------------
def test_healthz_says_when_no_worker_was_ever_seen():
    body = Client().get("/healthz")
    assert body.status_code == 200  # the web itself is fine: keep it in the load balancer
    assert body.json()["worker"] == "missing" and body.json()["status"] == "degraded"


def test_healthz_is_ok_with_a_recent_heartbeat_and_stale_without():
    _worker()
    assert Client().get("/healthz").json() | {} == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "cache": "ok",
        "worker": "ok",
        "sweep": "ok",
    }
    WorkerHeartbeat.objects.update(last_seen=_ago(seconds=61))
    body = Client().get("/healthz").json()
    assert body["worker"] == "stale" and body["status"] == "degraded"
    assert "celery@w" not in str(body)  # no host names


def test_healthz_says_when_the_sweep_is_behind_and_admins_see_the_lag(admin_client_):
    _worker()
    service = ServiceFactory()
    CheckConfig.objects.create(service=service, next_check_at=_ago(minutes=10))

    anonymous = Client().get("/healthz").json()
    admin = admin_client_.get("/healthz").json()

    assert anonymous["sweep"] == "behind" and anonymous["status"] == "degraded"
    assert "sweep_lag_seconds" not in anonymous
    assert 590 <= admin["sweep_lag_seconds"] <= 700


def test_a_check_due_a_moment_ago_is_not_behind():
    _worker()
    CheckConfig.objects.create(service=ServiceFactory(), next_check_at=_ago(seconds=30))
    assert Client().get("/healthz").json()["sweep"] == "ok"


# -- the reaper -----------------------------------------------------------------------------------
def test_a_job_queued_too_long_is_failed_with_the_reason():
    stuck = _job("queued", created=_ago(minutes=61))
    fresh = _job("queued", created=_ago(minutes=5))

    assert reap_orphaned_runs() == {"Job": 1}

    stuck.refresh_from_db()
    assert stuck.status == "failed" and stuck.finished_at
    assert stuck.error.startswith("No worker started this within 60 minutes")
    assert Job.objects.get(pk=fresh.pk).status == "queued"


def test_a_run_running_too_long_is_failed():
    service = ServiceFactory(account=CloudAccount.objects.create(name="k", provider="kubernetes"))
    redeploy = Redeploy.objects.create(service=service, actor_label="x", status="running")
    Redeploy.objects.filter(pk=redeploy.pk).update(started_at=_ago(hours=7))

    reap_orphaned_runs()

    redeploy.refresh_from_db()
    assert redeploy.status == "failed"
    assert "within 6 hours of its start" in redeploy.error


def test_runs_begun_before_every_live_worker_started_lost_their_worker():
    _worker(started=_ago(minutes=2))  # the worker alive now (restarted two minutes ago)
    orphan = AuditRun.objects.create(scope_label="fleet", trigger="manual", status="running")
    AuditRun.objects.filter(pk=orphan.pk).update(started_at=_ago(minutes=5))
    orphan_job = _job("running", created=_ago(minutes=6), started=_ago(minutes=5))
    current = _job("running", started=_ago(seconds=30))  # the live worker's own

    reaped = reap_orphaned_runs()

    assert reaped == {"Job": 1, "AuditRun": 1}
    orphan.refresh_from_db()
    assert orphan.status == "failed" and "The worker running this stopped" in orphan.error
    assert Job.objects.get(pk=orphan_job.pk).status == "failed"
    assert Job.objects.get(pk=current.pk).status == "running"


def test_without_heartbeats_a_running_run_is_left_alone_until_the_bound():
    job = _job("running", started=_ago(minutes=30))
    _worker(started=_ago(minutes=1), seen=_ago(minutes=10))  # stale: no evidence either way
    assert reap_orphaned_runs() == {}
    assert Job.objects.get(pk=job.pk).status == "running"


def test_a_reaped_redeploy_no_longer_blocks_the_next_one(operator):
    service = ServiceFactory(
        account=CloudAccount.objects.create(name="k", provider="kubernetes", namespace="mcp"),
        resource="notes",
    )
    stuck = Redeploy.objects.create(service=service, actor_label="x", status="queued")
    Redeploy.objects.filter(pk=stuck.pk).update(created_at=_ago(hours=2))
    reap_orphaned_runs()

    celery_app.conf.task_always_eager = False  # only queue it: we check the row, not the rollout
    try:
        from django.db import transaction

        with transaction.atomic():
            redeploy, created = request_redeploy(service, operator)
    finally:
        celery_app.conf.task_always_eager = True
    assert created and redeploy.pk != stuck.pk


def test_a_reaped_job_is_not_run_when_its_message_finally_arrives():
    job = _job("failed")
    with running(job.pk) as ctx:
        assert ctx is None
    assert Job.objects.get(pk=job.pk).status == "failed"


def test_the_reaper_runs_every_minute_on_the_beat_schedule():
    task = PeriodicTask.objects.get(task="console.reap_orphaned_runs_task")
    assert task.enabled and task.interval.every == 60 and task.interval.period == "seconds"
    celery_app.loader.import_default_modules()  # what a worker does at start (autodiscovery)
    assert "console.reap_orphaned_runs_task" in celery_app.tasks


def test_a_starting_worker_beats_and_reaps_what_the_dead_one_left():
    orphan = _job("running", created=_ago(minutes=3), started=_ago(minutes=2))
    sender = SimpleNamespace(hostname="celery@box")
    heartbeat.start_heartbeat(sender=sender)
    try:
        beat_row = WorkerHeartbeat.objects.get()
        assert beat_row.worker.startswith("celery@box:")
        assert Job.objects.get(pk=orphan.pk).status == "failed"
    finally:
        heartbeat.stop_heartbeat()
    assert not WorkerHeartbeat.objects.exists()  # a clean stop leaves no stale heartbeat behind


def test_heartbeats_of_workers_gone_for_a_week_are_forgotten():
    _worker("celery@old:1", started=_ago(days=9), seen=_ago(days=8))
    _worker("celery@new:2")
    reap_orphaned_runs()
    assert list(WorkerHeartbeat.objects.values_list("worker", flat=True)) == ["celery@new:2"]


def test_with_several_workers_the_runs_of_the_one_that_died_are_failed():
    _worker("celery@a:1", started=_ago(hours=1))  # alive, older than the run
    _worker("celery@b:2", started=_ago(minutes=30), seen=_ago(minutes=3))  # killed 3 minutes ago
    orphan = _job("running", started=_ago(minutes=10))
    Job.objects.filter(pk=orphan.pk).update(worker="celery@b:2")
    alive = _job("running", started=_ago(minutes=10))
    Job.objects.filter(pk=alive.pk).update(worker="celery@a:1")

    assert reap_orphaned_runs() == {"Job": 1}

    orphan.refresh_from_db()
    assert orphan.status == "failed"
    assert orphan.error.startswith("The worker running this stopped (no heartbeat from it for 60 s")
    assert Job.objects.get(pk=alive.pk).status == "running"


def test_a_run_records_the_worker_that_claimed_it(monkeypatch):
    monkeypatch.setitem(heartbeat._identity, "name", "celery@box:42")
    job = _job("queued")
    with running(job.pk) as ctx:
        assert ctx is not None
        assert Job.objects.get(pk=job.pk).worker == "celery@box:42"
