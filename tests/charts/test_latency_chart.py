"""The service page's latency chart: buckets per range in the viewer's zone, rollups for old
hours, "no data" buckets, the range picker with and without htmx, and bounded queries."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from checks import charts
from checks.health import bucket_of
from checks.models import HourlyRollup, ProbeResult
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 30, 15, 37, tzinfo=UTC)


def add_results(service, specs):
    """specs: (checked_at, ok, latency ms)."""
    ProbeResult.objects.bulk_create(
        [
            ProbeResult(
                service=service, checked_at=at, ok=ok, latency_ms=lat, error="" if ok else "x"
            )
            for at, ok, lat in specs
        ]
    )


def add_rollup(service, hour, latencies, failures=0):
    histogram: dict[str, int] = {}
    for value in latencies:
        histogram[bucket_of(value)] = histogram.get(bucket_of(value), 0) + 1
    HourlyRollup.objects.create(
        service=service,
        hour=hour,
        count=len(latencies) + failures,
        failures=failures,
        latency_count=len(latencies),
        latency_sum_ms=sum(latencies),
        latency_max_ms=max(latencies),
        histogram=histogram,
    )


@pytest.mark.parametrize(
    ("key", "buckets", "step"),
    [
        ("1h", 12, timedelta(minutes=5)),
        ("24h", 24, timedelta(hours=1)),
        ("7d", 28, timedelta(hours=6)),
        ("30d", 30, timedelta(days=1)),
    ],
)
def test_each_range_has_its_bucket_size_and_ends_with_the_current_bucket(key, buckets, step):
    rng = charts.range_for(key)
    edges = charts.bucket_edges(rng, NOW, UTC)
    assert len(edges) == buckets + 1
    assert {b - a for a, b in zip(edges, edges[1:], strict=False)} == {step}
    assert edges[-2] <= NOW < edges[-1]


def test_an_unknown_range_shows_24_hours():
    assert charts.range_for("2y").key == "24h" and charts.range_for(None).key == "24h"


def test_percentiles_per_bucket_and_no_data_buckets_stay_empty():
    service = ServiceFactory()
    hour = NOW.replace(minute=0) - timedelta(hours=2)  # 13:00 UTC
    add_results(service, [(hour + timedelta(minutes=i), True, float(i + 1)) for i in range(50)])
    add_results(service, [(hour + timedelta(minutes=55), False, None)])

    lc = charts.latency_chart(service, "24h", now=NOW)

    rows = {r["label"]: r for r in lc["rows"]}
    assert rows["13:00"]["count"] == 51 and rows["13:00"]["failures"] == 1
    assert rows["13:00"]["p50_ms"] == 25.0 and rows["13:00"]["p99_ms"] == 50.0
    assert rows["13:00"]["uptime_pct"] == pytest.approx(100 * 50 / 51)
    assert rows["13:00"]["grade"] == "warn"  # 98 %: amber
    empty = rows["14:00"]
    assert empty["count"] == 0 and empty["uptime_pct"] is None and empty["grade"] == "none"
    assert empty["p95_ms"] is None
    index = lc["data"]["labels"].index("14:00")
    assert [s["values"][index] for s in lc["data"]["series"]] == [None, None, None]
    assert lc["buckets_with_data"] == 1


def test_thirty_days_read_the_hourly_rollups_for_folded_hours():
    service = ServiceFactory()
    ten_days_ago = (NOW - timedelta(days=10)).replace(minute=0)
    add_rollup(service, ten_days_ago, [100.0] * 90 + [900.0] * 10, failures=5)
    add_results(service, [(NOW - timedelta(minutes=10), True, 40.0)])

    lc = charts.latency_chart(service, "30d", now=NOW)

    day = next(r for r in lc["rows"] if r["count"] == 105)
    assert day["start"].date() == ten_days_ago.date()
    assert day["p50_ms"] == 100.0 and day["p99_ms"] == 900.0  # capped at the hour's maximum
    assert lc["rows"][-1]["count"] == 1
    assert lc["checks"] == 106


def test_buckets_follow_the_viewers_time_zone():
    service = ServiceFactory()
    # 23:30 UTC on the 28th is 08:30 on the 29th in Tokyo: it belongs to Tokyo's 29th.
    add_results(service, [(datetime(2026, 11, 28, 23, 30, tzinfo=UTC), True, 10.0)])
    tokyo = ZoneInfo("Asia/Tokyo")

    with timezone.override(tokyo):
        lc = charts.latency_chart(service, "30d", now=NOW)

    day = next(r for r in lc["rows"] if r["count"])
    assert day["start"] == datetime(2026, 11, 29, tzinfo=tokyo)
    assert day["label"] == "Sun 29 Nov" and lc["zone"] == "Asia/Tokyo"
    with timezone.override(ZoneInfo("America/Los_Angeles")):
        la = charts.latency_chart(service, "30d", now=NOW)
    assert next(r for r in la["rows"] if r["count"])["label"] == "Sat 28 Nov"


def test_daily_buckets_are_calendar_days_across_a_dst_change():
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)  # Europe left summer time on 25 October
    edges = charts.bucket_edges(charts.range_for("30d"), now, berlin)
    assert all(e.astimezone(berlin).hour == 0 for e in edges)
    lengths = {
        b.astimezone(UTC) - a.astimezone(UTC) for a, b in zip(edges, edges[1:], strict=False)
    }
    assert lengths == {timedelta(hours=24), timedelta(hours=25)}


def test_the_chart_costs_two_queries_whatever_the_range_holds():
    service = ServiceFactory()
    add_results(
        service, [(NOW - timedelta(minutes=7 * i), i % 9 != 0, 20.0 + i) for i in range(400)]
    )
    for d in range(3, 30):
        add_rollup(service, (NOW - timedelta(days=d)).replace(minute=0), [50.0, 60.0])
    for key in charts.RANGES:
        with CaptureQueriesContext(connection) as queries:
            charts.latency_chart(service, key, now=NOW)
        assert len(queries) == 2, key


def test_service_page_draws_the_chart_with_a_table_and_range_links(viewer_client):
    service = ServiceFactory(name="notes")
    add_results(service, [(timezone.now() - timedelta(minutes=3), True, 42.0)])

    page = viewer_client.get("/services/notes/?range=1h").content.decode()

    assert 'data-chart="latency"' in page and 'aria-describedby="latency-summary"' in page
    data = json.loads(re.search(r'id="latency-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert len(data["labels"]) == 12 and 42.0 in data["series"][0]["values"]
    assert "Latency percentiles, last 1 h" in page
    assert "<summary>Latency and uptime as a table</summary>" in page
    assert "42 ms" in page  # the table fallback
    assert page.count('class="bar-') == 12 and page.count('class="bar-none"') == 11
    for key in ("1h", "24h", "7d", "30d"):
        assert f'href="/services/notes/?range={key}#latency-chart"' in page
        assert f'hx-get="/services/notes/health/latency/?range={key}"' in page
    assert 'aria-current="page" class="current">1 h<' in page
    assert "style=" not in page  # the CSP refuses inline styles


def test_the_range_picker_swaps_only_the_chart_for_htmx(viewer_client, htmx_headers):
    service = ServiceFactory(name="notes")
    add_results(service, [(timezone.now() - timedelta(days=3), True, 80.0)])

    response = viewer_client.get("/services/notes/health/latency/?range=7d", **htmx_headers)

    body = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert body.lstrip().startswith('<div id="latency-chart"')
    assert "Latency percentiles, last 7 d" in body and "Health checks" not in body
    assert body.count('class="bar-') == 28


def test_without_htmx_the_range_link_lands_on_the_service_page(viewer_client):
    ServiceFactory(name="notes")
    response = viewer_client.get("/services/notes/health/latency/?range=30d")
    assert response.status_code == 302
    assert response["Location"] == "/services/notes/?range=30d#latency-chart"


def test_the_chart_endpoint_needs_a_login_and_a_known_service(client, viewer_client):
    ServiceFactory(name="notes")
    assert client.get("/services/notes/health/latency/").status_code == 302
    assert viewer_client.get("/services/nope/health/latency/").status_code == 404


def test_times_are_in_the_zone_the_viewer_reported(viewer_client):
    service = ServiceFactory(name="notes")
    add_results(service, [(timezone.now() - timedelta(minutes=1), True, 5.0)])
    viewer_client.cookies["tz"] = "Asia/Kolkata"
    page = viewer_client.get("/services/notes/").content.decode()
    assert "times in Asia/Kolkata" in page
    data = json.loads(re.search(r'id="latency-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert data["zone"] == "Asia/Kolkata"
    kolkata_hour = timezone.now().astimezone(ZoneInfo("Asia/Kolkata")).strftime("%H:00")
    assert data["labels"][-1] == kolkata_hour  # local hours: half past the UTC hour
