"""Uptime and percentiles from raw results and rollups; retention keeps the numbers; the public
`latest_outcome` / `probe_stats` functions the audits call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks import charts, health, sweep_db
from checks.models import HourlyRollup, ProbeResult
from checks.retention import roll_up_results
from checks.tasks import rollup_results_task
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def results(service, start, specs):
    """specs: list of (minutes after start, ok, latency ms)."""
    ProbeResult.objects.bulk_create(
        [
            ProbeResult(
                service=service,
                checked_at=start + timedelta(minutes=m),
                ok=ok,
                latency_ms=lat,
                error="" if ok else "boom",
            )
            for m, ok, lat in specs
        ]
    )


def test_uptime_and_percentiles_over_windows():
    service = ServiceFactory()
    now = timezone.now()
    # 100 checks in the last day: 2 failures, latencies 1..98 ms
    specs = [(i, i >= 2, float(i - 1)) for i in range(100)]
    results(service, now - timedelta(hours=20), specs)
    # 10 failed checks five days ago: outside 24 h, inside 7 d
    results(service, now - timedelta(days=5), [(i, False, None) for i in range(10)])
    rows = {r["window"]: r for r in health.summary(service, now)}
    assert rows["24 h"]["count"] == 100 and rows["24 h"]["uptime_pct"] == 98.0
    assert rows["7 d"]["count"] == 110
    assert rows["7 d"]["uptime_pct"] == pytest.approx(100 * 98 / 110)
    assert rows["24 h"]["p50_ms"] == 49.0 and rows["24 h"]["p99_ms"] == 98.0


def test_rollup_keeps_uptime_and_approximates_percentiles():
    service = ServiceFactory()
    now = timezone.now()
    start = (now - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    specs = [(i, i % 10 != 0, 40.0 + i) for i in range(60)]  # 6 failures in the hour
    results(service, start, specs)
    results(service, now - timedelta(hours=1), [(0, True, 30.0)])
    before = health.probe_stats(service, hours=24 * 7)

    folded = rollup_results_task.delay().get()

    assert folded == 60
    assert ProbeResult.objects.filter(service=service).count() == 1  # the recent one stays
    rollup = HourlyRollup.objects.get(service=service)
    assert (rollup.count, rollup.failures) == (60, 6)
    assert rollup.latency_max_ms == 99.0
    after = health.probe_stats(service, hours=24 * 7)
    assert after["count"] == before["count"] == 61
    assert after["uptime_pct"] == before["uptime_pct"]
    # the histogram keeps p95 within a bucket of the exact value
    assert before["p95_latency_ms"] == 97.0
    assert 97.0 <= after["p95_latency_ms"] <= 99.0
    # rolling again adds nothing twice
    assert roll_up_results() == 0
    assert HourlyRollup.objects.get(service=service).count == 60


def test_the_uptime_bars_count_rolled_hours_too():
    service = ServiceFactory()
    now = timezone.now()
    results(service, now - timedelta(days=3), [(0, True, 10.0), (1, False, None)])
    roll_up_results(now)
    assert not ProbeResult.objects.filter(service=service).exists()
    rows = charts.latency_chart(service, "7d", now=now)["rows"]
    assert [r["count"] for r in rows].count(2) == 1
    assert next(r for r in rows if r["count"])["uptime_pct"] == 50.0


def test_latest_outcome_and_probe_stats_for_the_audits(sdk_url):
    service = ServiceFactory(url=sdk_url)
    assert health.latest_outcome(service) is None
    assert health.probe_stats(service) == {"count": 0, "uptime_pct": None, "p95_latency_ms": None}
    sweep_db.check_now(service)
    outcome = health.latest_outcome(service)
    assert outcome.ok and outcome.server_name == "demo" and outcome.transport == "stateless"
    assert [t.name for t in outcome.tools] == ["add", "echo", "fail"]
    assert outcome.tools[0].input_schema["properties"]["a"]["type"] == "integer"
    assert outcome.capabilities.get("tools") is not None
    stats = health.probe_stats(service, hours=24)
    assert stats["count"] == 1 and stats["uptime_pct"] == 100.0


def test_rollups_past_their_retention_are_deleted_by_the_task(settings):
    settings.PROBE_ROLLUP_RETENTION_DAYS = 40
    service = ServiceFactory()
    now = timezone.now().replace(minute=0, second=0, microsecond=0)
    for days in (2, 35, 39, 41, 200):
        HourlyRollup.objects.create(
            service=service, hour=now - timedelta(days=days), count=1, failures=0
        )
    rollup_results_task.delay().get()
    kept = sorted((now - r.hour).days for r in HourlyRollup.objects.all())
    assert kept == [2, 35, 39]
    # never shorter than the 30-day window the service page shows (31 days at least)
    HourlyRollup.objects.create(service=service, hour=now - timedelta(days=30), count=1, failures=0)
    settings.PROBE_ROLLUP_RETENTION_DAYS = 7
    rollup_results_task.delay().get()
    assert sorted((now - r.hour).days for r in HourlyRollup.objects.all()) == [2, 30]
