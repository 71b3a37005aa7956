"""Health numbers read from raw results and hourly rollups: uptime % and latency percentiles.

The charts over time (per period, in the viewer's zone) are in `checks.charts`.

Public API other areas call (keep the names): `latest_outcome(service)` and
`probe_stats(service, hours=24*7)`, and their bulk forms for fleet audits, `latest_outcomes` and
`probe_stats_many`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from checks.models import HourlyRollup, ProbeResult, ToolSnapshot
from checks.probing.types import ProbeOutcome, TlsInfo, ToolInfo
from fleet.models import Service

# Upper bounds (ms) of the latency histogram kept in rollups; the last bucket is open-ended.
HISTOGRAM_BOUNDS_MS = (
    5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750,
    1000, 1500, 2000, 3000, 5000, 7500, 10000, 20000, 30000, 60000,
)  # fmt: skip
WINDOWS = (("24 h", 24), ("7 d", 24 * 7), ("30 d", 24 * 30))


def bucket_of(latency_ms: float) -> str:
    """The histogram key a latency falls in: its bucket's upper bound, or "inf"."""
    i = bisect.bisect_left(HISTOGRAM_BOUNDS_MS, latency_ms)
    return str(HISTOGRAM_BOUNDS_MS[i]) if i < len(HISTOGRAM_BOUNDS_MS) else "inf"


def latest_outcome(service: Service) -> ProbeOutcome | None:
    """The last check as a ProbeOutcome, with the tools of the latest tool snapshot."""
    result = ProbeResult.objects.filter(service=service).order_by("-checked_at", "-id").first()
    if result is None:
        return None
    snapshot = ToolSnapshot.objects.filter(service=service).order_by("-seen_at", "-id").first()
    return outcome_of(result, snapshot)


# Services per query in the bulk readers: well under every database's bound-parameter limit.
BULK_CHUNK = 2000


def latest_outcomes(services: list[Service]) -> dict[int, tuple[ProbeOutcome, datetime]]:
    """Per service id: its last check as a ProbeOutcome and when it ran (3 queries per 2,000)."""
    found: dict[int, tuple[ProbeOutcome, datetime]] = {}
    for start in range(0, len(services), BULK_CHUNK):
        ids = [s.pk for s in services[start : start + BULK_CHUNK]]
        latest = (
            Service.objects.filter(pk__in=ids)
            .annotate(
                result_id=Subquery(
                    ProbeResult.objects.filter(service=OuterRef("pk"))
                    .order_by("-checked_at", "-id")
                    .values("id")[:1]
                ),
                snapshot_id=Subquery(
                    ToolSnapshot.objects.filter(service=OuterRef("pk"))
                    .order_by("-seen_at", "-id")
                    .values("id")[:1]
                ),
            )
            .values_list("pk", "result_id", "snapshot_id")
        )
        pairs = [(pk, rid, sid) for pk, rid, sid in latest if rid is not None]
        results = ProbeResult.objects.in_bulk([rid for _, rid, _ in pairs])
        snapshots = ToolSnapshot.objects.in_bulk([sid for _, _, sid in pairs if sid])
        for pk, rid, sid in pairs:
            result = results[rid]
            found[pk] = (outcome_of(result, snapshots.get(sid)), result.checked_at)
    return found


def outcome_of(result: ProbeResult, snapshot: ToolSnapshot | None) -> ProbeOutcome:
    """A stored check as the ProbeOutcome the audits read (tools only when the check succeeded)."""
    tools = [
        ToolInfo(
            name=t["name"],
            description=t.get("description", ""),
            input_schema=t.get("input_schema", {}),
            annotations=t.get("annotations", {}),
        )
        for t in (snapshot.tools if snapshot and result.ok else [])
    ]
    tls = None
    if result.tls_days is not None or result.tls_hostname_ok is not None:
        tls = TlsInfo(days_to_expiry=result.tls_days, hostname_matches=result.tls_hostname_ok)
    return ProbeOutcome(
        ok=result.ok,
        error=result.error,
        body_excerpt=result.body_excerpt,
        phase=result.phase,
        latency_ms=result.latency_ms,
        phases_ms=dict(result.phases),
        transport=result.transport,
        protocol_version=result.protocol_version,
        server_name=result.server_name,
        server_version=result.server_version,
        capabilities=dict(result.capabilities),
        instructions=result.instructions,
        tools=tools,
        http_status=result.http_status,
        tls=tls,
        tool_call_ok=result.tool_call_ok,
        tool_call_detail=result.tool_call_detail,
        unauthenticated_tools_list=result.unauthenticated_tools_list,
    )


@dataclass
class Window:
    """Checks of one service since a moment, raw and rolled up together."""

    count: int
    failures: int
    latencies: list[tuple[float, int]]  # (value ms, weight)

    @property
    def uptime_pct(self) -> float | None:
        return None if not self.count else 100.0 * (self.count - self.failures) / self.count

    def percentile(self, p: float) -> float | None:
        return weighted_percentile(self.latencies, p)


def window(service: Service, since: datetime) -> Window:
    """Raw results since `since` plus rollups of the hours from `since`'s hour on."""
    raw = ProbeResult.objects.filter(service=service, checked_at__gte=since)
    count = failures = 0
    latencies: list[tuple[float, int]] = []
    for ok, latency in raw.values_list("ok", "latency_ms"):
        count += 1
        failures += not ok
        if ok and latency is not None:
            latencies.append((latency, 1))
    hour = since.replace(minute=0, second=0, microsecond=0)
    for rollup in HourlyRollup.objects.filter(service=service, hour__gte=hour):
        count += rollup.count
        failures += rollup.failures
        latencies += _histogram_points(rollup)
    return Window(count=count, failures=failures, latencies=latencies)


def _histogram_points(rollup: HourlyRollup) -> list[tuple[float, int]]:
    """Each bucket as its upper bound (capped by the hour's maximum), weighted by its count."""
    cap = rollup.latency_max_ms if rollup.latency_max_ms is not None else math.inf
    points = []
    for key, n in rollup.histogram.items():
        bound = math.inf if key == "inf" else float(key)
        points.append((min(bound, cap), int(n)))
    return points


def weighted_percentile(points: list[tuple[float, int]], p: float) -> float | None:
    """Nearest-rank percentile of weighted values; None when there are none."""
    total = sum(w for _, w in points)
    if not total:
        return None
    rank = max(1, math.ceil(p / 100.0 * total))
    seen = 0
    for value, weight in sorted(points):
        seen += weight
        if seen >= rank:
            return value
    return sorted(points)[-1][0]


def probe_stats(service: Service, hours: int = 24 * 7) -> dict:
    """count, uptime_pct and p95_latency_ms over the last `hours` (audits read this)."""
    w = window(service, timezone.now() - timedelta(hours=hours))
    return {"count": w.count, "uptime_pct": w.uptime_pct, "p95_latency_ms": w.percentile(95)}


def probe_stats_many(services: list[Service], hours: int = 24 * 7) -> dict[int, dict]:
    """`probe_stats` for many services at once: two queries per 2,000 services, not two each."""
    since = timezone.now() - timedelta(hours=hours)
    hour = since.replace(minute=0, second=0, microsecond=0)
    windows: dict[int, Window] = {s.pk: Window(0, 0, []) for s in services}
    for start in range(0, len(services), BULK_CHUNK):
        ids = [s.pk for s in services[start : start + BULK_CHUNK]]
        raw = ProbeResult.objects.filter(service_id__in=ids, checked_at__gte=since)
        for sid, ok, latency in raw.values_list("service_id", "ok", "latency_ms").iterator():
            w = windows[sid]
            w.count += 1
            w.failures += not ok
            if ok and latency is not None:
                w.latencies.append((latency, 1))
        for rollup in HourlyRollup.objects.filter(service_id__in=ids, hour__gte=hour).iterator():
            w = windows[rollup.service_id]
            w.count += rollup.count
            w.failures += rollup.failures
            w.latencies += _histogram_points(rollup)
    return {
        pk: {"count": w.count, "uptime_pct": w.uptime_pct, "p95_latency_ms": w.percentile(95)}
        for pk, w in windows.items()
    }


def summary(service: Service, now: datetime | None = None) -> list[dict]:
    """Uptime and p50/p95/p99 for the 24 h, 7 d and 30 d windows, for the service page and API."""
    now = now or timezone.now()
    rows = []
    for label, hours in WINDOWS:
        w = window(service, now - timedelta(hours=hours))
        rows.append(
            {
                "window": label,
                "hours": hours,
                "count": w.count,
                "failures": w.failures,
                "uptime_pct": w.uptime_pct,
                "p50_ms": w.percentile(50),
                "p95_ms": w.percentile(95),
                "p99_ms": w.percentile(99),
            }
        )
    return rows
