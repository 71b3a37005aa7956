"""What the service page's health panel shows, gathered in one place for the tag and the views."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from checks import health
from checks.models import CheckConfig, DriftEvent, Incident, ProbeResult, ToolSnapshot
from fleet.models import Service

CHART_W, CHART_H = 600, 80
STRIP_W, STRIP_H = 600, 24


# The order a check runs its phases in (the probe reports them in any order).
PHASE_ORDER = (
    "connect", "discover", "initialize", "initialized", "tools_list", "tool_call", "close",
    "health", "total",
)  # fmt: skip


def status_context(service: Service) -> dict:
    """The part htmx polls: status, last check, last error, the latest result, the schedule."""
    latest = ProbeResult.objects.filter(service=service).order_by("-checked_at", "-id").first()
    config = CheckConfig.objects.filter(service=service).first()
    return {
        "service": service,
        "latest": latest,
        "phases": ordered_phases(latest.phases if latest else {}),
        "config": config,
        "now": timezone.now(),
    }


def ordered_phases(phases: dict) -> list[tuple[str, float]]:
    """Phases in the order they run, "total" last; unknown names before "total"."""
    rank = {name: i for i, name in enumerate(PHASE_ORDER)}
    known = len(PHASE_ORDER) - 1
    return sorted(phases.items(), key=lambda kv: rank.get(kv[0], known - 0.5))


def panel_context(service: Service, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    snapshot = ToolSnapshot.objects.filter(service=service).order_by("-seen_at", "-id").first()
    return {
        **status_context(service),
        "summary": health.summary(service, now),
        "hourly": strip_bars(health.uptime_strip(service, now=now)),
        "daily": strip_bars(health.uptime_strip(service, days=7, now=now)),
        "chart": sparkline(health.latency_series(service)),
        "incidents": list(Incident.objects.filter(service=service)[:10]),
        "tools": snapshot.tools if snapshot else [],
        "tools_seen_at": snapshot.seen_at if snapshot else None,
        "drifts": list(DriftEvent.objects.filter(service=service).select_related("snapshot")[:10]),
    }


def strip_bars(bars: list[dict]) -> dict:
    """SVG geometry for an uptime strip: one rect per bar, coloured by how the period went."""
    width = STRIP_W / max(len(bars), 1)
    rects = []
    for i, bar in enumerate(bars):
        up = bar["uptime_pct"]
        grade = "none" if up is None else "ok" if up >= 99.9 else "warn" if up >= 95 else "bad"
        rects.append({**bar, "x": round(i * width, 2), "w": round(width - 2, 2), "grade": grade})
    return {"rects": rects, "w": STRIP_W, "h": STRIP_H}


def sparkline(series: list[tuple[datetime, float | None]]) -> dict:
    """A polyline of latencies (failed checks as marks on the baseline), scaled to the box."""
    values = [v for _, v in series if v is not None]
    top = max(values) if values else 0.0
    step = CHART_W / max(len(series) - 1, 1)
    points, fails = [], []
    for i, (_, value) in enumerate(series):
        x = round(i * step, 1)
        if value is None:
            fails.append(x)
            continue
        y = CHART_H - 4 - (value / top * (CHART_H - 8) if top else 0)
        points.append(f"{x},{round(y, 1)}")
    return {
        "points": " ".join(points),
        "fails": fails,
        "max_ms": top,
        "count": len(series),
        "w": CHART_W,
        "h": CHART_H,
    }
