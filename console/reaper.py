"""The reaper: fails background runs that nothing will ever finish, with the reason.

A run (a Job, a redeploy, an audit run, ...) is orphaned when
- it has waited "queued" longer than FLEET_QUEUED_TIMEOUT_MINUTES (no worker took its task);
- it has been "running" longer than FLEET_RUN_TIMEOUT_HOURS (its worker hung or vanished); or
- it is "running" on a worker whose heartbeat has stopped (killed, out of memory, machine gone);
- it is "running" but began before every worker alive now started (rows from before workers were
  recorded on them): the worker that began it has stopped.
Runs from any app take part by calling `watch(Model)`; beat runs the reaper every minute and every
worker runs it once when it starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Min, Q
from django.utils import timezone

logger = logging.getLogger(__name__)

# Workers on different machines stamp times with their own clocks.
CLOCK_MARGIN = timedelta(seconds=2)
HEARTBEAT_KEPT = timedelta(days=7)


@dataclass(frozen=True)
class WatchedRun:
    model: Any
    error_field: str | None = "error"
    queued: str = "queued"
    running: str = "running"
    failed: str = "failed"


_WATCHED: list[WatchedRun] = []


def watch(model: Any, *, error_field: str | None = "error") -> None:
    """Let the reaper fail orphaned rows of `model`.

    The model has status, created_at, started_at, finished_at and worker (set when claimed, from
    console.heartbeat.current_worker()).
    """
    if all(w.model is not model for w in _WATCHED):
        _WATCHED.append(WatchedRun(model, error_field))


def _started_before(moment: datetime) -> Q:
    return Q(started_at__lt=moment) | Q(started_at__isnull=True, created_at__lt=moment)


def _fail(kind: WatchedRun, rows: Any, reason: str, now: datetime) -> int:
    values = {"status": kind.failed, "finished_at": now}
    if kind.error_field:
        values[kind.error_field] = reason
    count = rows.update(**values)
    if count:
        logger.warning("reaper: failed %d %s row(s): %s", count, kind.model.__name__, reason)
    return count


def reap_orphaned_runs(now: datetime | None = None) -> dict[str, int]:
    """Fail every orphaned run; returns how many per model."""
    from console.heartbeat import live_workers

    now = now or timezone.now()
    queued_minutes = settings.FLEET_QUEUED_TIMEOUT_MINUTES
    run_hours = settings.FLEET_RUN_TIMEOUT_HOURS
    live = live_workers(now)
    oldest_live = live.aggregate(start=Min("started_at"))["start"]
    live_names = list(live.values_list("worker", flat=True))
    # A worker gets this long to send its first heartbeat before its runs count as orphaned.
    grace = timedelta(seconds=settings.FLEET_WORKER_STALE_SECONDS)
    reaped: dict[str, int] = {}
    for kind in _WATCHED:
        objects = kind.model.objects
        count = _fail(
            kind,
            objects.filter(
                status=kind.queued, created_at__lt=now - timedelta(minutes=queued_minutes)
            ),
            f"No worker started this within {queued_minutes} minutes of the request (is a worker "
            "running and reading the queue?); start it again.",
            now,
        )
        count += _fail(
            kind,
            objects.filter(_started_before(now - timedelta(hours=run_hours)), status=kind.running),
            f"No worker finished this within {run_hours} hours of its start (the worker hung or "
            "stopped); start it again.",
            now,
        )
        count += _fail(
            kind,
            objects.filter(_started_before(now - grace), status=kind.running)
            .exclude(worker="")
            .exclude(worker__in=live_names),
            "The worker running this stopped (no heartbeat from it for "
            f"{settings.FLEET_WORKER_STALE_SECONDS} s: killed, out of memory or its machine "
            "gone); start it again.",
            now,
        )
        if oldest_live is not None:
            count += _fail(
                kind,
                objects.filter(_started_before(oldest_live - CLOCK_MARGIN), status=kind.running),
                "The worker running this stopped (killed or restarted: no heartbeat from it since, "
                "and every worker alive now started after this began); start it again.",
                now,
            )
        if count:
            reaped[kind.model.__name__] = count
    _forget_dead_workers(now)
    return reaped


def _forget_dead_workers(now: datetime) -> None:
    """Heartbeats of workers gone for a week only make the table grow (each restart adds one)."""
    from console.models import WorkerHeartbeat

    WorkerHeartbeat.objects.filter(last_seen__lt=now - HEARTBEAT_KEPT).delete()
