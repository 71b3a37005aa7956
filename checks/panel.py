"""What the service page's health panel shows, gathered in one place for the tag and the views."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from checks import health
from checks.models import CheckConfig, DriftEvent, Incident, ProbeResult, ToolSnapshot
from fleet.models import Service

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
        "incidents": list(Incident.objects.filter(service=service)[:10]),
        "tools": snapshot.tools if snapshot else [],
        "tools_seen_at": snapshot.seen_at if snapshot else None,
        "drifts": list(DriftEvent.objects.filter(service=service).select_related("snapshot")[:10]),
    }
