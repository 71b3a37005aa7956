"""Retention: raw probe results older than PROBE_RAW_RETENTION_HOURS become HourlyRollup rows,
and rollups older than PROBE_ROLLUP_RETENTION_DAYS (default 90, at least 31) are deleted.

Counts, failures and a latency histogram survive, so uptime % and percentiles over 7 or 30 days
stay what they were; only whole hours are rolled, and each service is folded in its own
transaction (the rollup upserted, the raw rows deleted), so a crash never counts an hour twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from checks.health import bucket_of, weighted_percentile
from checks.models import HourlyRollup, ProbeResult

# Rollups are kept at least as long as the longest window the console shows (30 d).
MIN_ROLLUP_DAYS = 31


def retention_hours() -> int:
    return int(getattr(settings, "PROBE_RAW_RETENTION_HOURS", 48))


def rollup_retention_days() -> int:
    return max(MIN_ROLLUP_DAYS, int(getattr(settings, "PROBE_ROLLUP_RETENTION_DAYS", 90)))


def prune_rollups(now: datetime | None = None) -> int:
    """Delete hourly rollups older than PROBE_ROLLUP_RETENTION_DAYS; returns how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=rollup_retention_days())
    deleted, _ = HourlyRollup.objects.filter(hour__lt=cutoff).delete()
    return deleted


def roll_up_results(now: datetime | None = None, hours: int | None = None) -> int:
    """Fold raw results from before the retention cut-off into hourly rows; returns rows folded."""
    now = now or timezone.now()
    cutoff = (now - timedelta(hours=hours or retention_hours())).replace(
        minute=0, second=0, microsecond=0
    )
    old = ProbeResult.objects.filter(checked_at__lt=cutoff)
    service_ids = list(old.values_list("service_id", flat=True).distinct().order_by())
    return sum(_roll_service(sid, cutoff) for sid in service_ids)


def _roll_service(service_id: int, cutoff: datetime) -> int:
    with transaction.atomic():
        rows = list(
            ProbeResult.objects.select_for_update()
            .filter(service_id=service_id, checked_at__lt=cutoff)
            .values_list("pk", "checked_at", "ok", "latency_ms")
        )
        hours: dict[datetime, list] = {}
        for _, at, ok, latency in rows:
            hours.setdefault(at.replace(minute=0, second=0, microsecond=0), []).append(
                (ok, latency)
            )
        for hour, results in hours.items():
            _merge(service_id, hour, results)
        ProbeResult.objects.filter(pk__in=[r[0] for r in rows]).delete()
    return len(rows)


def _merge(service_id: int, hour: datetime, results: list[tuple[bool, float | None]]) -> None:
    rollup = (
        HourlyRollup.objects.select_for_update().filter(service_id=service_id, hour=hour).first()
    ) or HourlyRollup(service_id=service_id, hour=hour, count=0, failures=0, histogram={})
    latencies = [lat for ok, lat in results if ok and lat is not None]
    rollup.count += len(results)
    rollup.failures += sum(1 for ok, _ in results if not ok)
    rollup.latency_count += len(latencies)
    rollup.latency_sum_ms += sum(latencies)
    if latencies:
        top = max(latencies)
        rollup.latency_max_ms = max(rollup.latency_max_ms or 0.0, top)
    histogram = dict(rollup.histogram)
    for latency in latencies:
        key = bucket_of(latency)
        histogram[key] = histogram.get(key, 0) + 1
    rollup.histogram = histogram
    points = [
        (rollup.latency_max_ms if k == "inf" else min(float(k), rollup.latency_max_ms), n)
        for k, n in histogram.items()
    ]
    rollup.p50_ms = weighted_percentile(points, 50)
    rollup.p95_ms = weighted_percentile(points, 95)
    rollup.p99_ms = weighted_percentile(points, 99)
    rollup.save()
