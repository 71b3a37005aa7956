"""Worker liveness: each Celery worker process writes a heartbeat row every few seconds.

A thread in the worker's main process does it (started when the worker is ready), so a worker
busy with long tasks still shows as alive, and one killed outright stops at once. A worker that
stops cleanly deletes its row. When a worker becomes ready it also runs the reaper once, so runs
left behind by a worker that died before it are failed straight away.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

logger = logging.getLogger(__name__)

_stop = threading.Event()
_identity: dict[str, object] = {}


def worker_name(hostname: str | None = None) -> str:
    return f"{hostname or socket.gethostname()}:{os.getpid()}"


def beat(name: str, started_at: datetime, now: datetime | None = None) -> None:
    """Record that worker `name` is alive now."""
    from console.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        worker=name, defaults={"started_at": started_at, "last_seen": now or timezone.now()}
    )


def live_workers(now: datetime | None = None):
    """Heartbeats fresh enough to count the worker as alive."""
    from console.models import WorkerHeartbeat

    stale_after = timedelta(seconds=settings.FLEET_WORKER_STALE_SECONDS)
    return WorkerHeartbeat.objects.filter(last_seen__gte=(now or timezone.now()) - stale_after)


def worker_status(now: datetime | None = None) -> str:
    """ "ok" (a worker was seen recently), "stale" (not recently) or "missing" (never)."""
    from console.models import WorkerHeartbeat

    if live_workers(now).exists():
        return "ok"
    return "stale" if WorkerHeartbeat.objects.exists() else "missing"


def _loop(name: str, started_at: datetime) -> None:
    interval = settings.FLEET_WORKER_HEARTBEAT_SECONDS
    while not _stop.wait(interval):  # the first beat was written when the worker became ready
        try:
            beat(name, started_at)
        except Exception:  # the database may be away for a moment; try again next round
            logger.exception("worker heartbeat could not be written")
        finally:
            close_old_connections()


@worker_ready.connect
def start_heartbeat(sender=None, **_: object) -> None:
    name = worker_name(getattr(sender, "hostname", None))
    started_at = timezone.now()
    _identity.update(name=name, started_at=started_at)
    beat(name, started_at)
    try:
        from console.reaper import reap_orphaned_runs

        reap_orphaned_runs()
    except Exception:
        logger.exception("reaping runs at worker start failed")
    connection.close()
    _stop.clear()
    threading.Thread(target=_loop, args=(name, started_at), name="heartbeat", daemon=True).start()


@worker_shutdown.connect
def stop_heartbeat(**_: object) -> None:
    from console.models import WorkerHeartbeat

    _stop.set()
    if "name" in _identity:
        try:
            WorkerHeartbeat.objects.filter(worker=_identity["name"]).delete()
        except Exception:
            logger.exception("could not remove this worker's heartbeat")
