"""Latency sparklines for the dashboard rows: the last 24 hours of each service on the page, drawn
on the server as SVG (no script), from two grouped queries for the whole page, not one per row.

Each point is an hour's mean latency of answered checks (raw results and hourly rollups alike);
an hour whose checks all failed is a red mark on the baseline, an hour without a check is a gap.
Hours are UTC hours, the same hours the rollups keep.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncHour
from django.utils import timezone

from checks.models import HourlyRollup, ProbeResult

HOURS = 24
WIDTH, HEIGHT = 96, 24


@dataclass
class _Hour:
    checks: int = 0
    failures: int = 0
    latency_sum: float = 0.0
    latency_count: int = 0

    @property
    def mean(self) -> float | None:
        return self.latency_sum / self.latency_count if self.latency_count else None


@dataclass
class Sparkline:
    segments: list[str] = field(default_factory=list)  # polyline point lists, split at gaps
    fails: list[float] = field(default_factory=list)  # x of hours whose every check failed
    checks: int = 0
    failures: int = 0
    peak_ms: float | None = None
    last_ms: float | None = None
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def label(self) -> str:
        if not self.checks:
            return "Latency, last 24 hours: no checks"
        parts = [f"Latency, last 24 hours: {self.checks} checks, {self.failures} failed"]
        if self.peak_ms is not None:
            parts.append(f"highest hourly mean {self.peak_ms:.0f} ms")
        if self.last_ms is not None:
            parts.append(f"latest hour {self.last_ms:.0f} ms")
        return ", ".join(parts)


def latency_sparklines(
    service_ids: Iterable[int], now: datetime | None = None
) -> dict[int, Sparkline]:
    """A sparkline per service id (two queries however many ids; none when there are none)."""
    ids = list(service_ids)
    if not ids:
        return {}
    now = now or timezone.now()
    last = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first = last - timedelta(hours=HOURS - 1)
    hours: dict[int, dict[datetime, _Hour]] = {pk: {} for pk in ids}
    raw = (
        ProbeResult.objects.filter(service_id__in=ids, checked_at__gte=first)
        .annotate(hour=TruncHour("checked_at", tzinfo=UTC))
        .values("service_id", "hour")
        .annotate(
            n=Count("id"),
            failed=Count("id", filter=Q(ok=False)),
            mean=Avg("latency_ms", filter=Q(ok=True, latency_ms__isnull=False)),
            timed=Count("latency_ms", filter=Q(ok=True)),
        )
        .order_by()
    )
    for row in raw:
        slot = hours[row["service_id"]].setdefault(row["hour"].astimezone(UTC), _Hour())
        slot.checks += row["n"]
        slot.failures += row["failed"]
        if row["mean"] is not None:
            slot.latency_sum += row["mean"] * row["timed"]
            slot.latency_count += row["timed"]
    rollups = HourlyRollup.objects.filter(service_id__in=ids, hour__gte=first).values_list(
        "service_id", "hour", "count", "failures", "latency_sum_ms", "latency_count"
    )
    for service_id, hour, n, failed, latency_sum, latency_count in rollups.order_by():
        slot = hours[service_id].setdefault(hour.astimezone(UTC), _Hour())
        slot.checks += n
        slot.failures += failed
        slot.latency_sum += latency_sum
        slot.latency_count += latency_count
    return {pk: _draw(by_hour, first) for pk, by_hour in hours.items()}


def _draw(by_hour: dict[datetime, _Hour], first: datetime) -> Sparkline:
    spark = Sparkline()
    series = [by_hour.get(first + timedelta(hours=i)) for i in range(HOURS)]
    means = [h.mean if h else None for h in series]
    top = max((m for m in means if m is not None), default=0.0)
    step = (WIDTH - 2) / (HOURS - 1)
    segment: list[str] = []
    for i, hour in enumerate(series):
        x = round(1 + i * step, 1)
        mean = means[i]
        if hour is not None:
            spark.checks += hour.checks
            spark.failures += hour.failures
            if hour.checks and hour.failures == hour.checks:
                spark.fails.append(round(x - 1, 1))  # a 3-wide mark centred on the hour
        if mean is None:
            if segment:
                spark.segments.append(" ".join(segment))
            segment = []
            continue
        y = HEIGHT - 3 - (mean / top * (HEIGHT - 6) if top else 0)
        segment.append(f"{x},{round(y, 1)}")
    if segment:
        spark.segments.append(" ".join(segment))
    # A single point would draw nothing as a polyline: give it a second one beside it.
    spark.segments = [s if " " in s else f"{s} {_nudge(s)}" for s in spark.segments]
    spark.peak_ms = top or None
    spark.last_ms = next((m for m in reversed(means) if m is not None), None)
    return spark


def _nudge(point: str) -> str:
    x, y = point.split(",")
    return f"{float(x) + 2},{y}"
