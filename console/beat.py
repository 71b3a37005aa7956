"""Celery beat with a leader lock: several beat processes may run, only one sends scheduled tasks.

Deployments run one beat replica, but a rolling upgrade, a node that is slow to die or a second
`manage.py up` can briefly start another. Each beat tick first takes or extends a lock with a time to
live (Redis `SET NX PX` with an owner token, via redis-py's Lock; a file lock on the embedded
default, which runs on one machine). The holder sends due tasks; the others stand by and take over
once the holder stops renewing (it died, or lost Redis) within FLEET_BEAT_LOCK_SECONDS.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler
from redis.exceptions import LockError, RedisError

from console.heartbeat import touch_heartbeat_file

logger = logging.getLogger(__name__)

LOCK_NAME = "fleet-console:beat-leader"


class RedisLeaderLock:
    """A lock in Redis that expires unless renewed; only the owner (by token) can renew it."""

    def __init__(self, url: str, ttl_seconds: float, name: str = LOCK_NAME) -> None:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
        self._lock = client.lock(name, timeout=ttl_seconds, thread_local=False)
        self.held = False

    def refresh(self) -> bool:
        """Take the lock if it is free, or extend it if it is ours; True while we hold it."""
        try:
            if self.held:
                try:
                    self._lock.reacquire()
                    return True
                except LockError:  # expired and maybe taken by another beat meanwhile
                    self.held = False
            self.held = bool(self._lock.acquire(blocking=False))
        except RedisError as exc:
            # Without Redis no one can prove to be the only leader: stand by until it is back.
            logger.warning("beat leader lock: Redis unavailable (%s); not sending tasks", exc)
            self.held = False
        return self.held

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(LockError, RedisError):
                self._lock.release()
        self.held = False


class FileLeaderLock:
    """An exclusive `flock` on a file: released by the kernel when the holding process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.held = False

    def refresh(self) -> bool:
        if self.held:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd, self.held = fd, True
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
        self._fd, self.held = None, False


def leader_lock() -> RedisLeaderLock | FileLeaderLock:
    """The lock for this deployment: Redis when REDIS_URL is set, else a file under VAR_DIR."""
    if settings.REDIS_URL:
        return RedisLeaderLock(settings.REDIS_URL, settings.FLEET_BEAT_LOCK_SECONDS)
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    return FileLeaderLock(settings.VAR_DIR / "beat-leader.lock")


class LeaderScheduler(DatabaseScheduler):
    """django-celery-beat's database schedule, sent only by the beat holding the leader lock."""

    def __init__(self, *args, **kwargs) -> None:
        self.leader = leader_lock()
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        touch_heartbeat_file()
        was_leader = self.leader.held
        if not self.leader.refresh():
            if was_leader:
                logger.warning("beat: lost the leader lock; standing by")
            # Poll often enough to take over soon after the leader's lock expires.
            return min(self.max_interval, settings.FLEET_BEAT_LOCK_SECONDS / 3)
        if not was_leader:
            logger.warning("beat: this process holds the leader lock and sends scheduled tasks")
            self._initial_read = True  # last run times as the previous leader saved them
        # Come back before the lock expires, however far off the next task is.
        return min(super().tick(*args, **kwargs), settings.FLEET_BEAT_LOCK_SECONDS / 3)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.leader.release()
