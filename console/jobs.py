"""Background runs as rows: create the Job, enqueue after commit, and record its life in the task."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone

from console.broker import send_on_commit
from console.heartbeat import current_worker
from console.models import Job

logger = logging.getLogger(__name__)


def enqueue(
    name: str,
    task: Any,
    *,
    user: Any = None,
    obj: Any = None,
    args: tuple = (),
    kwargs: dict | None = None,
) -> Job:
    """Create a queued Job and send `task(job_id, *args)` once the surrounding transaction commits.

    If the broker is unreachable then, the job is failed with the reason and `BrokerUnavailable`
    is raised to the caller (see console.broker).
    """
    job = Job.objects.create(
        name=name,
        requested_by=user if getattr(user, "pk", None) else None,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
    )
    send_on_commit(
        task, job.pk, *args, on_failure=lambda reason: fail_job(job, reason), **(kwargs or {})
    )
    return job


def fail_job(job: Job, reason: str) -> None:
    """End a job that will never run (its task could not be sent, or its worker died)."""
    Job.objects.filter(pk=job.pk, status__in=[Job.Status.QUEUED, Job.Status.RUNNING]).update(
        status=Job.Status.FAILED, error=reason, finished_at=timezone.now()
    )


class JobLog:
    """Collects a job's log lines and saves them as they come, so the UI can poll progress."""

    def __init__(self, job: Job):
        self.job = job

    def __call__(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        self.job.log += f"[{stamp}] {line}\n"
        Job.objects.filter(pk=self.job.pk).update(log=self.job.log)


@contextmanager
def running(job_id: int) -> Iterator[tuple[Job, Callable[[str], None]] | None]:
    """Mark the job running; succeeded on a clean exit, failed (with the error) on an exception.

    Yields None when the job row is gone (deleted while queued) or is no longer queued (failed by
    the reaper, or already started by another worker): the task should return quietly.
    A task may set `job.status` itself (for example to "unknown") before leaving the block.
    """
    started = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=started, worker=current_worker()
    )
    job = Job.objects.filter(pk=job_id).first() if claimed else None
    if job is None:  # gone, failed meanwhile (reaped), or a redelivered message for a started job
        yield None
        return
    log = JobLog(job)
    try:
        yield job, log
    except Exception as exc:
        logger.exception("job %s (%s) failed", job.pk, job.name)
        job.status, job.error = Job.Status.FAILED, f"{type(exc).__name__}: {exc}"
    else:
        if job.status == Job.Status.RUNNING:
            job.status = Job.Status.SUCCEEDED
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at", "log"])
