"""Celery tasks for health checks: the beat-driven sweep, its batches, check now, retention.

Beat runs `sweep_task` every 10 s and `rollup_results_task` hourly (see migration 0002).
"""

from __future__ import annotations

import logging

from celery import shared_task

from checks import sweep_db
from checks.retention import prune_rollups, roll_up_results
from console.jobs import running
from fleet.models import Service

logger = logging.getLogger(__name__)


@shared_task(name="checks.sweep_task")
def sweep_task() -> int:
    """Claim every service whose check is due and fan the claims out in batches."""
    sweep_db.ensure_configs()
    claims = sweep_db.claim_due()
    for batch in sweep_db.batches(claims):
        probe_batch_task.delay([list(c) for c in batch])
    return len(claims)


@shared_task(name="checks.probe_batch_task")
def probe_batch_task(claims: list[list[int]]) -> int:
    """Probe one batch concurrently and record each claimed slot once; returns checks written."""
    checked = sweep_db.run_batch([(int(sid), int(seq)) for sid, seq in claims])
    return len(checked)


@shared_task(name="checks.check_now_task")
def check_now_task(job_id: int, service_id: int) -> None:
    """ "Check now" from the UI or API: probe one service, the Job's log says what was found."""
    with running(job_id) as ctx:
        if ctx is None:
            return
        job, log = ctx
        service = Service.objects.filter(pk=service_id).first()
        if service is None:
            log("The service was deleted before it could be checked.")
            return
        try:
            item = sweep_db.check_now(service)
        except Service.DoesNotExist as gone:
            log(str(gone))
            return
        result = item.result
        if result.ok:
            log(f"{service.name}: ok in {result.latency_ms:.0f} ms ({result.transport or 'http'})")
        else:
            log(f"{service.name}: failed: {result.error}")
        log(f"status: {service.status}")


@shared_task(name="checks.rollup_results_task")
def rollup_results_task() -> int:
    """Fold raw results older than PROBE_RAW_RETENTION_HOURS into hourly rollups, and delete
    rollups past PROBE_ROLLUP_RETENTION_DAYS, so neither table grows without bound."""
    folded = roll_up_results()
    if folded:
        logger.info("rolled %d raw probe results into hourly rollups", folded)
    pruned = prune_rollups()
    if pruned:
        logger.info("deleted %d hourly rollups past retention", pruned)
    return folded
