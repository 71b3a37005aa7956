"""The beat-driven sweep through the real broker and a real worker process (Postgres + Redis)."""

from __future__ import annotations

import time

import pytest

from checks import sweep_db
from checks.models import ProbeResult
from checks.tasks import sweep_task
from fleet.models import Service
from tests.factories import ServiceFactory
from tests.test_celery_worker import worker  # noqa: F401  (fixture)

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_two_overlapping_sweeps_on_a_worker_check_each_service_once(worker, sdk_url):  # noqa: F811
    names = [f"mcp-{i}" for i in range(6)]
    for name in names:
        ServiceFactory(name=name, url=sdk_url)
    sweep_db.ensure_configs()
    # two beats fire at once (say, two beat processes by mistake)
    sweep_task.delay()
    sweep_task.delay()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if Service.objects.filter(name__in=names, status="up").count() == len(names):
            break
        time.sleep(0.3)
    statuses = dict(Service.objects.filter(name__in=names).values_list("name", "status"))
    assert set(statuses.values()) == {"up"}, statuses
    time.sleep(1.0)  # let a stray second batch land, if there were one
    per_service = [ProbeResult.objects.filter(service__name=n).count() for n in names]
    assert per_service == [1] * len(names)
    assert set(ProbeResult.objects.values_list("slot", flat=True)) == {1}
