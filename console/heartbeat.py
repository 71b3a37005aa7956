"""Worker liveness: each Celery worker writes a heartbeat row every few seconds.

The worker is named (node:pid) and writes its first heartbeat when it initialises, before it takes
any task; a thread in its main process then refreshes it, so a worker busy with long tasks still
shows as alive, and one killed outright stops at once. Runs record the worker that claimed them
(`current_worker()`), so the reaper can fail the runs of a worker whose heartbeat stopped. A worker
that stops cleanly deletes its row; one that becomes ready runs the reaper once, so runs left
behind by a worker that died before it are failed straight away.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from pathlib import Path

from celery.signals import worker_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

logger = logging.getLogger(__name__)

_stop = threading.Event()
_identity: dict[str, object] = {}


def touch_heartbeat_file() -> None:
    """Container health checks (deploy/healthcheck.py) read the age of FLEET_HEARTBEAT_FILE."""
    path = os.environ.get("FLEET_HEARTBEAT_FILE")
    if path:
        Path(path).touch()


def worker_name(hostname: str | None = None) -> str:
    return f"{hostname or socket.gethostname()}:{os.getpid()}"


def current_worker() -> str:
    """This worker's name (node:pid of its main process), or "" outside a worker.

    Set when the worker initialises, before its pool forks, so pool processes know it too.
    """
    return str(_identity.get("name", ""))


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


def _close_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()


def _loop(name: str, started_at: datetime) -> None:
    interval = settings.FLEET_WORKER_HEARTBEAT_SECONDS
    while not _stop.wait(interval):  # the first beat was written when the worker became ready
        try:
            beat(name, started_at)
            touch_heartbeat_file()
        except Exception:  # the database may be away for a moment; try again next round
            logger.exception("worker heartbeat could not be written")
        finally:
            close_old_connections()


@worker_init.connect
def identify_worker(sender=None, **_: object) -> None:
    """Name this worker and write its first heartbeat before it takes any task."""
    _identity.update(name=worker_name(getattr(sender, "hostname", None)), started_at=timezone.now())
    try:
        beat(_identity["name"], _identity["started_at"])
    except Exception:  # the thread started when the worker is ready keeps trying
        logger.exception("worker heartbeat could not be written")
    _close_connection()  # not shared with the pool processes forked next


@worker_ready.connect
def start_heartbeat(sender=None, **_: object) -> None:
    if "name" not in _identity:
        identify_worker(sender)
    name, started_at = str(_identity["name"]), _identity["started_at"]
    try:
        beat(name, started_at)
        touch_heartbeat_file()
        from console.reaper import reap_orphaned_runs

        reap_orphaned_runs()
    except Exception:
        logger.exception("heartbeat or reaping at worker start failed")
    _close_connection()
    _stop.clear()
    threading.Thread(target=_loop, args=(name, started_at), name="heartbeat", daemon=True).start()


@worker_shutdown.connect
def stop_heartbeat(**_: object) -> None:
    from console.models import WorkerHeartbeat

    _stop.set()
    name = _identity.pop("name", None)
    _identity.pop("started_at", None)
    if name:
        try:
            WorkerHeartbeat.objects.filter(worker=name).delete()
        except Exception:
            logger.exception("could not remove this worker's heartbeat")
