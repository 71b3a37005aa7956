"""Console-wide periodic tasks."""

from __future__ import annotations

from celery import shared_task

from console.reaper import reap_orphaned_runs


@shared_task(name="console.reap_orphaned_runs_task")
def reap_orphaned_runs_task() -> dict[str, int]:
    """Fail jobs, redeploys and audit runs whose worker died (beat, every minute)."""
    return reap_orphaned_runs()
