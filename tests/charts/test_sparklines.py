"""A latency sparkline per dashboard row: server-drawn SVG from raw results and rollups, gaps for
hours without checks, marks for failed hours, and a query count that does not grow with rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from checks.models import HourlyRollup, ProbeResult
from checks.sparklines import latency_sparklines
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 15, 40, tzinfo=UTC)


def checks(service, at, specs):
    ProbeResult.objects.bulk_create(
        [
            ProbeResult(
                service=service,
                checked_at=at + timedelta(minutes=i),
                ok=ok,
                latency_ms=lat,
                error="" if ok else "x",
            )
            for i, (ok, lat) in enumerate(specs)
        ]
    )


def test_hourly_means_from_raw_results_and_rollups_with_gaps_and_failed_hours():
    service = ServiceFactory()
    HourlyRollup.objects.create(
        service=service,
        hour=datetime(2026, 11, 29, 16, tzinfo=UTC),  # the first hour of the 24
        count=4,
        failures=0,
        latency_count=4,
        latency_sum_ms=400.0,
        latency_max_ms=130.0,
        histogram={"150": 4},
    )
    checks(service, datetime(2026, 11, 29, 17, 5, tzinfo=UTC), [(True, 20.0), (True, 40.0)])
    checks(service, datetime(2026, 11, 30, 10, 0, tzinfo=UTC), [(False, None), (False, None)])
    checks(service, datetime(2026, 11, 30, 15, 1, tzinfo=UTC), [(True, 50.0), (False, None)])

    spark = latency_sparklines([service.pk], now=NOW)[service.pk]

    assert spark.checks == 10 and spark.failures == 3
    assert spark.peak_ms == 100.0 and spark.last_ms == 50.0
    # 16:00 and 17:00 joined, then a gap until 15:00 today (drawn as its own short segment).
    assert len(spark.segments) == 2
    first = spark.segments[0].split(" ")
    assert len(first) == 2 and first[0] == "1.0,3.0"  # the highest mean at the top
    assert len(spark.fails) == 1  # 10:00, every check failed
    assert "10 checks, 3 failed" in spark.label and "latest hour 50 ms" in spark.label


def test_a_service_without_checks_has_an_empty_line():
    service = ServiceFactory()
    spark = latency_sparklines([service.pk], now=NOW)[service.pk]
    assert spark.checks == 0 and spark.segments == [] and "no checks" in spark.label


def test_two_queries_for_any_number_of_services():
    services = [ServiceFactory() for _ in range(12)]
    for s in services:
        checks(s, NOW - timedelta(hours=3), [(True, 10.0), (False, None)])
    with CaptureQueriesContext(connection) as queries:
        latency_sparklines([s.pk for s in services], now=NOW)
    assert len(queries) == 2
    assert latency_sparklines([], now=NOW) == {}


def _dashboard_queries(client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/").content.decode()
    return len(queries), page


def test_the_dashboard_draws_a_sparkline_per_row_without_a_query_per_row(viewer_client):
    first = ServiceFactory()
    checks(first, datetime.now(UTC) - timedelta(hours=2), [(True, 30.0), (True, 35.0)])
    few, page = _dashboard_queries(viewer_client)
    assert page.count('<svg class="row-spark"') == 1
    assert "Latency, last 24 hours: 2 checks, 0 failed" in page

    for _ in range(15):
        service = ServiceFactory()
        checks(service, datetime.now(UTC) - timedelta(hours=5), [(True, 12.0), (False, None)])
    many, page = _dashboard_queries(viewer_client)

    assert page.count('<svg class="row-spark"') == 16
    assert many == few
    assert "style=" not in page
