"""Registry tasks run by the Celery worker."""

from __future__ import annotations

from celery import shared_task

from console.jobs import running
from fleet.fleetfile import FleetFileError, import_fleet


@shared_task(name="fleet.import_fleet_task")
def import_fleet_task(job_id: int, text: str, dry_run: bool = False) -> None:
    """Apply (or with dry_run, preview) a fleet file; the Job's log gets the diff or the errors."""
    with running(job_id) as ctx:
        if ctx is None:
            return
        job, log = ctx
        actor = job.requested_by or "system"
        try:
            report = import_fleet(text, actor=actor, dry_run=dry_run)
        except FleetFileError as exc:
            for line in exc.errors:
                log(line)
            raise RuntimeError(
                f"The fleet file was not applied ({len(exc.errors)} error(s)); nothing changed."
            ) from exc
        for line in report.diff:
            log(line)
        log(("Preview, nothing changed: would be " if dry_run else "") + report.summary())
