"""Audit tasks run by the Celery worker: one run at a time, and the daily fleet audit."""

from __future__ import annotations

from celery import shared_task

from checks.audits.models import AuditRun
from checks.audits.services import create_run, execute_run
from console.heartbeat import current_worker


@shared_task(name="audits.run_audit_task")
def run_audit_task(run_id: int) -> None:
    """Execute a queued run; quietly does nothing when the run is gone or already started."""
    claimed = AuditRun.objects.filter(pk=run_id, status=AuditRun.State.QUEUED).update(
        status=AuditRun.State.RUNNING, worker=current_worker()
    )
    if not claimed:  # deleted, or another worker took it (acks_late redelivery)
        return
    execute_run(AuditRun.objects.get(pk=run_id))


@shared_task(name="audits.scheduled_audit_task")
def scheduled_audit_task() -> None:
    """The periodic fleet-wide audit (django-celery-beat schedule, daily by default)."""
    run = create_run(actor=None, trigger=AuditRun.Trigger.SCHEDULE, enqueue=False)
    run_audit_task(run.pk)
