"""Recording at the speed of probing: a steady sweep costs a few queries per batch, not per
service, keeps every counter, status and tool list right, and its lag is shown to operators."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks import sweep_db
from checks.models import CheckConfig, DriftEvent, ProbeResult, StateChange, ToolSnapshot
from checks.tasks import sweep_task
from fleet.models import Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def _due_again() -> None:
    CheckConfig.objects.update(next_check_at=timezone.now() - timedelta(seconds=1))


def _sweep_queries() -> int:
    _due_again()
    with CaptureQueriesContext(connection) as queries:
        assert sweep_task.apply().get() > 0
    return len(queries)


def test_steady_sweeps_cost_the_same_queries_for_ten_or_thirty_services(knob_server, settings):
    # (Thirty, not more: SQLite binds at most 999 parameters per statement in Django 5.2, so one
    # bulk insert of results carries 999 // columns rows, 39 with 25 columns; past that it is
    # split in two, a cost per ~39 rows, not per service. bench/sweep_record.py measures it.)
    # given services already checked once (statuses up, tool baselines written)
    url, _ = knob_server
    settings.PROBE_BATCH_SIZE = 100
    for i in range(10):
        ServiceFactory(name=f"svc-{i:02d}", url=url)
    sweep_task.apply()
    small = _sweep_queries()
    for i in range(10, 30):
        ServiceFactory(name=f"svc-{i:02d}", url=url)
    sweep_task.apply()  # the new ones' first check: their status moves, baselines are written
    # when the whole fleet is checked again with nothing changed
    large = _sweep_queries()
    # then the query count does not grow with the fleet, and nothing moved
    assert large == small <= 24
    assert set(Service.objects.values_list("status", flat=True)) == {"up"}
    assert StateChange.objects.count() == 30  # each service's unknown → up, once
    assert ToolSnapshot.objects.count() == 30 and not DriftEvent.objects.exists()


def test_bulk_recorded_checks_keep_counters_latency_and_last_seen(knob, knob_server):
    url, _ = knob_server
    service = ServiceFactory(name="steady", url=url)
    sweep_db.sweep_once()
    _due_again()
    first_seen = ToolSnapshot.objects.get(service=service).seen_at
    # a second good check: counted, its latency and time stored on the service
    sweep_db.sweep_once()
    config = CheckConfig.objects.get(service=service)
    assert (config.consecutive_successes, config.consecutive_fast) == (2, 2)
    service.refresh_from_db()
    latest = ProbeResult.objects.filter(service=service).first()
    assert service.last_latency_ms == pytest.approx(latest.latency_ms)
    assert service.last_checked_at == latest.checked_at and service.last_error == ""
    assert ToolSnapshot.objects.get(service=service).seen_at > first_seen
    # then the server fails: the failure is counted and the good streak reset, status still up
    knob.down = True
    _due_again()
    sweep_db.sweep_once()
    config.refresh_from_db()
    service.refresh_from_db()
    assert (config.consecutive_failures, config.consecutive_successes) == (1, 0)
    assert config.consecutive_fast == 0 and service.status == "up"
    assert "503" in service.last_error


def test_sweep_lag_on_metrics_and_dashboard(viewer_client, settings):
    # given a check that has waited five minutes for a worker
    settings.FLEET_SWEEP_LAG_SECONDS = 120
    service = ServiceFactory(name="waiting")
    CheckConfig.objects.create(
        service=service, next_check_at=timezone.now() - timedelta(seconds=300)
    )
    metrics = viewer_client.get("/metrics").content.decode()
    line = next(x for x in metrics.splitlines() if x.startswith("fleet_sweep_lag_seconds "))
    assert float(line.split()[1]) >= 299
    html = viewer_client.get("/").content.decode()
    shown = html.split('id="sweep-lag"')[1].split("<b>")[1].split(" s</b>")[0]
    assert "sweep behind" in html and int(shown) >= 299


def test_dashboard_says_the_sweep_is_on_time(viewer_client):
    ServiceFactory(name="fresh")
    html = viewer_client.get("/").content.decode()
    assert "<b>0 s</b> sweep lag" in html and "sweep behind" not in html
