"""Two worker processes (separate process groups, like two hosts) share one Redis and PostgreSQL:
they split the sweep, and every service is checked exactly once per interval (bench/scale_out.py
measures the same at 5,000 services)."""

from __future__ import annotations

import os

import pytest

from bench.probe_sweep import endpoints, start_servers
from bench.scale_out import (
    batches_per_worker,
    make_fleet,
    run_round,
    start_workers,
    stop_workers,
    verify,
    wait_for_workers,
    worker_env,
)
from console.celery import app as celery_app
from tests.test_celery_worker import _database_url

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

SERVICES = 200


@pytest.fixture
def fast_mcp_servers():
    """Real SDK MCP servers in their own process, many endpoints, no added delay."""
    group = start_servers("new", 0.0, 1)
    yield group
    group.stop()


@pytest.fixture
def two_workers(tmp_path, fast_mcp_servers):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("needs REDIS_URL: the workers share a real Redis broker")
    env = worker_env(_database_url(), redis_url, PROBE_BATCH_SIZE="10")
    celery_app.control.purge()
    procs = start_workers(2, env, tmp_path, concurrency=2)
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        wait_for_workers(procs, timeout=60)
        yield procs
    finally:
        celery_app.conf.task_always_eager = eager
        stop_workers(procs)


def test_two_workers_split_each_interval_and_check_every_service_exactly_once(
    fast_mcp_servers, two_workers
):
    make_fleet(endpoints(fast_mcp_servers, SERVICES))
    for interval in (1, 2):  # each round enqueues two sweeps at once, as two beats would
        run_round(SERVICES, interval, sweeps=2, timeout=60)
    split = batches_per_worker()

    verdict = verify(rounds=2)
    assert (verdict.double_claims, verdict.gaps) == (0, 0)
    assert (verdict.duplicate_results, verdict.missing_results) == (0, 0)
    assert verdict.failed_probes == 0, verdict.first_errors
    assert len(split) == 2 and all(n > 0 for n in split.values()), split  # both took batches
    # Two sweeps racing for the same due services may each claim a partial batch, so there can be
    # a batch or two more than services / batch size; exactly-once is what verify() checks above.
    assert sum(split.values()) >= 2 * SERVICES // 10
