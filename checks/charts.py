"""Chart data for the service page: latency percentiles and uptime per time bucket, probe phases.

A range (1 h, 24 h, 7 d, 30 d) is cut into buckets aligned to the viewer's time zone (the zone
`console.timezones` activated for the request). Each bucket folds the raw results and the hourly
rollups inside it, so 30 days cost two queries however many checks they held: rollups cover what
retention already folded, raw rows the rest. A rollup counts whole in the bucket its hour starts in.
A bucket without a check has no uptime and no percentiles ("no data"), never "up".
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from django.utils import timezone

from checks.health import _histogram_points, weighted_percentile
from checks.models import HourlyRollup, ProbeResult
from checks.panel import ordered_phases
from fleet.models import Service


@dataclass(frozen=True)
class Range:
    key: str
    label: str
    span: timedelta
    step: timedelta
    tick: str  # strftime pattern of a bucket's label
    step_label: str  # "per …" in summaries


RANGES = {
    r.key: r
    for r in (
        Range("1h", "1 h", timedelta(hours=1), timedelta(minutes=5), "%H:%M", "5 minutes"),
        Range("24h", "24 h", timedelta(hours=24), timedelta(hours=1), "%H:%M", "hour"),
        Range("7d", "7 d", timedelta(days=7), timedelta(hours=6), "%a %d %H:%M", "6 hours"),
        Range("30d", "30 d", timedelta(days=30), timedelta(days=1), "%a %d %b", "day"),
    )
}
DEFAULT_RANGE = "24h"


def range_for(key: str | None) -> Range:
    """The named range; an unknown or missing name falls back to 24 h (it only picks a view)."""
    return RANGES.get(key or "", RANGES[DEFAULT_RANGE])


@dataclass
class Bucket:
    start: datetime  # aware, in the viewer's zone
    end: datetime
    count: int = 0
    failures: int = 0
    latencies: list[tuple[float, int]] = field(default_factory=list)

    @property
    def uptime_pct(self) -> float | None:
        return None if not self.count else 100.0 * (self.count - self.failures) / self.count

    @property
    def grade(self) -> str:
        """ok ≥ 99.9 %, warn ≥ 95 %, bad below, none when nothing was checked."""
        up = self.uptime_pct
        return "none" if up is None else "ok" if up >= 99.9 else "warn" if up >= 95 else "bad"

    def percentile(self, p: float) -> float | None:
        return weighted_percentile(self.latencies, p)


def _floor(moment: datetime, step: timedelta, zone: tzinfo) -> datetime:
    """`moment` floored to a multiple of `step` counted from local midnight in `zone`."""
    local = moment.astimezone(zone).replace(tzinfo=None)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight + ((local - midnight) // step) * step).replace(tzinfo=zone)


def bucket_edges(rng: Range, now: datetime, zone: tzinfo) -> list[datetime]:
    """Bucket starts, oldest first, plus the end of the last one (just after `now`).

    Steps under a day are real elapsed time; whole days are calendar days in `zone`, so a day
    that a DST change makes 23 or 25 hours long is still one bucket from midnight to midnight.
    """
    last = _floor(now, rng.step, zone)
    count = round(rng.span / rng.step)
    if rng.step >= timedelta(days=1):
        # Arithmetic on aware datetimes of one zone is wall-clock arithmetic: local midnights.
        edges = [last - i * rng.step for i in range(count - 1, -2, -1)]
        return [e.replace(tzinfo=None).replace(tzinfo=zone) for e in edges]
    base = last.astimezone(UTC)
    return [(base - i * rng.step).astimezone(zone) for i in range(count - 1, -2, -1)]


def latency_buckets(
    service: Service, rng: Range, *, now: datetime | None = None, zone: tzinfo | None = None
) -> list[Bucket]:
    """Checks of `service` in the range, bucketed (two queries: raw results and rollups)."""
    now = now or timezone.now()
    zone = zone or timezone.get_current_timezone()
    edges = bucket_edges(rng, now, zone)
    buckets = [Bucket(start=s, end=e) for s, e in zip(edges, edges[1:], strict=False)]
    first, end = edges[0], edges[-1]
    stamps = [e.timestamp() for e in edges]

    def find(at: datetime) -> Bucket | None:
        # Bucket edges as POSIX seconds: a bisection, whatever the zones and DST changes.
        i = bisect.bisect_right(stamps, at.timestamp()) - 1
        return buckets[i] if 0 <= i < len(buckets) else None

    raw = ProbeResult.objects.filter(service=service, checked_at__gte=first, checked_at__lt=end)
    for at, ok, latency in raw.values_list("checked_at", "ok", "latency_ms").iterator():
        bucket = find(at)
        if bucket is None:
            continue
        bucket.count += 1
        bucket.failures += not ok
        if ok and latency is not None:
            bucket.latencies.append((latency, 1))
    rollups = HourlyRollup.objects.filter(service=service, hour__gte=first, hour__lt=end)
    for rollup in rollups.iterator():
        bucket = find(rollup.hour)
        if bucket is None:
            continue
        bucket.count += rollup.count
        bucket.failures += rollup.failures
        bucket.latencies += _histogram_points(rollup)
    return buckets


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def latency_chart(service: Service, range_key: str | None, *, now: datetime | None = None) -> dict:
    """What the latency chart, its table fallback and the uptime bars show for one range."""
    rng = range_for(range_key)
    zone = timezone.get_current_timezone()
    buckets = latency_buckets(service, rng, now=now, zone=zone)
    labels = [b.start.astimezone(zone).strftime(rng.tick) for b in buckets]
    rows = [
        {
            "label": label,
            "start": b.start,
            "end": b.end,
            "count": b.count,
            "failures": b.failures,
            "uptime_pct": b.uptime_pct,
            "grade": b.grade,
            "p50_ms": _round(b.percentile(50)),
            "p95_ms": _round(b.percentile(95)),
            "p99_ms": _round(b.percentile(99)),
        }
        for label, b in zip(labels, buckets, strict=True)
    ]
    checked = [r for r in rows if r["count"]]
    return {
        "range": rng,
        "ranges": list(RANGES.values()),
        "zone": getattr(zone, "key", str(zone)),
        "rows": rows,
        "checks": sum(r["count"] for r in rows),
        "buckets_with_data": len(checked),
        "peak_p95_ms": max((r["p95_ms"] for r in checked if r["p95_ms"] is not None), default=None),
        "data": {
            "labels": labels,
            "series": [
                {"key": f"p{p}", "label": f"p{p}", "values": [r[f"p{p}_ms"] for r in rows]}
                for p in (50, 95, 99)
            ],
            "checks": [r["count"] for r in rows],
            "uptime": [
                None if r["uptime_pct"] is None else round(r["uptime_pct"], 2) for r in rows
            ],
            "unit": "ms",
            "zone": getattr(zone, "key", str(zone)),
        },
        "bars": uptime_bars(rows),
    }


BARS_W, BARS_H = 600, 24


def uptime_bars(rows: list[dict]) -> dict:
    """SVG geometry for uptime bars, one per bucket; "none" bars are drawn hatched and short."""
    width = BARS_W / max(len(rows), 1)
    rects = []
    for i, row in enumerate(rows):
        low = row["grade"] == "none"
        rects.append(
            {
                **row,
                "x": round(i * width, 2),
                "w": round(max(width - 2, 1), 2),
                "y": BARS_H // 2 if low else 0,
                "h": BARS_H - BARS_H // 2 if low else BARS_H,
            }
        )
    return {"rects": rects, "w": BARS_W, "h": BARS_H}


RECENT_PROBES = 20


def phase_chart(service: Service, limit: int = RECENT_PROBES) -> dict:
    """The phases of the latest checks, oldest first, as stacked-bar data and table rows."""
    zone = timezone.get_current_timezone()
    results = list(
        ProbeResult.objects.filter(service=service)
        .order_by("-checked_at", "-id")
        .values_list("checked_at", "ok", "phase", "phases", "latency_ms")[:limit]
    )[::-1]
    names: list[str] = []
    rows = []
    for at, ok, failed_phase, phases, latency in results:
        ordered = [(k, v) for k, v in ordered_phases(phases or {}) if k != "total"]
        for key, _ in ordered:
            if key not in names:
                names.append(key)
        rows.append(
            {
                "at": at,
                "label": at.astimezone(zone).strftime("%H:%M:%S"),
                "ok": ok,
                "failed_phase": failed_phase,
                "phases": dict(ordered),
                "total_ms": latency,
            }
        )
    names = [k for k, _ in ordered_phases(dict.fromkeys(names, 0))]
    return {
        "rows": rows,
        "names": names,
        "zone": getattr(zone, "key", str(zone)),
        "data": {
            "labels": [r["label"] + ("" if r["ok"] else " ✗") for r in rows],
            "series": [
                {
                    "key": name,
                    "label": name.replace("_", " "),
                    "values": [_round(r["phases"].get(name)) for r in rows],
                }
                for name in names
            ],
            "failed": [not r["ok"] for r in rows],
            "unit": "ms",
            "zone": getattr(zone, "key", str(zone)),
        },
    }
