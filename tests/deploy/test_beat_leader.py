"""Beat high availability: of several beat processes, only the leader-lock holder sends tasks."""

from __future__ import annotations

import os
import time
import uuid

import pytest
import redis
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from console.beat import FileLeaderLock, LeaderScheduler, RedisLeaderLock
from console.celery import app as celery_app


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("needs REDIS_URL: the leader lock is tested against a real Redis")
    return url


def test_one_redis_lock_holder_at_a_time_and_a_takeover_once_it_stops_renewing(redis_url):
    name = f"test-beat-leader-{uuid.uuid4()}"
    first = RedisLeaderLock(redis_url, ttl_seconds=1, name=name)
    second = RedisLeaderLock(redis_url, ttl_seconds=1, name=name)
    assert first.refresh() is True
    assert second.refresh() is False
    time.sleep(0.6)
    assert first.refresh() is True  # renewed: still the leader after the first TTL would end
    time.sleep(0.6)
    assert second.refresh() is False
    time.sleep(1.2)  # the first stops renewing (a killed beat): its lock runs out
    assert second.refresh() is True
    assert first.refresh() is False  # the old leader finds out and stands by
    second.release()
    assert first.refresh() is True  # a clean stop hands over at once


def test_an_unreachable_redis_means_standing_by():
    lock = RedisLeaderLock("redis://127.0.0.1:9/0", ttl_seconds=5)  # nothing listens on port 9
    assert lock.refresh() is False


def test_the_embedded_file_lock_admits_one_holder(tmp_path):
    first, second = FileLeaderLock(tmp_path / "beat.lock"), FileLeaderLock(tmp_path / "beat.lock")
    assert (first.refresh(), second.refresh()) == (True, False)
    first.release()
    assert second.refresh() is True


@pytest.mark.django_db(transaction=True)
def test_two_beats_ticking_together_send_each_run_once(redis_url, settings):
    assert redis_url == settings.CELERY_BROKER_URL
    queue = f"beat-test-{uuid.uuid4().hex}"
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period="seconds")
    PeriodicTask.objects.all().update(enabled=False)  # only the task under test is due
    PeriodicTask.objects.create(
        name=queue, task="console.reap_orphaned_runs_task", interval=every_second, queue=queue
    )
    broker = redis.Redis.from_url(redis_url)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    leader, standby = LeaderScheduler(app=celery_app), LeaderScheduler(app=celery_app)
    try:
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            leader.tick()
            before = broker.llen(queue)
            standby.tick()
            assert broker.llen(queue) == before, "the standby beat sent a task"
            time.sleep(0.25)
        sent_by_leader = broker.llen(queue)
        assert 2 <= sent_by_leader <= 5  # once a second, not twice
        leader.close()  # the leader stops: the standby takes over and sends
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and broker.llen(queue) == sent_by_leader:
            standby.tick()
            time.sleep(0.25)
        assert broker.llen(queue) > sent_by_leader
    finally:
        celery_app.conf.task_always_eager = eager
        standby.close()
        leader.close()
        broker.delete(queue)
