"""What the service page's health panel shows, gathered in one place for the tag and the views."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class HealthStory:
    """The status, since when, and the last check, all read from the one service row the state
    machine writes in a single update, plus how close the counters are to changing the status.

    So a failed check that has not (yet) made the service down reads "up since 2 h ago · the last
    check, just now, failed · 1 of 3 failed checks in a row before it is marked down", never a
    "down" badge beside "up since".
    """

    status: str
    since: datetime | None
    checked_at: datetime | None
    latency_ms: float | None
    error: str
    pending: str

    @property
    def last_check_failed(self) -> bool:
        return self.checked_at is not None and bool(self.error)


def health_story(service: Service, config: CheckConfig | None) -> HealthStory:
    return HealthStory(
        status=service.status,
        since=service.status_changed_at,
        checked_at=service.last_checked_at,
        latency_ms=service.last_latency_ms,
        error=service.last_error if service.last_checked_at else "",
        pending=_pending(service, config),
    )


def _pending(service: Service, config: CheckConfig | None) -> str:
    """How many more results the status needs to change, when a change is under way."""
    if config is None or service.last_checked_at is None:
        return ""
    if service.status == "needs_auth":  # it answers; more failures do not make it down
        return ""
    if service.last_error and service.status != "down" and config.consecutive_failures:
        n = config.failure_threshold
        done = min(config.consecutive_failures, n)
        return (
            f"{done} of {n} failed check{'s' if n != 1 else ''} in a row before it is marked down"
        )
    if not service.last_error and service.status == "down" and config.consecutive_successes:
        m = config.recovery_threshold
        done = min(config.consecutive_successes, m)
        return f"{done} of {m} good check{'s' if m != 1 else ''} in a row before it is marked up"
    return ""


def status_context(service: Service) -> dict:
    """The part htmx polls: status, last check, last error, the latest result, the schedule."""
    latest = ProbeResult.objects.filter(service=service).order_by("-checked_at", "-id").first()
    config = CheckConfig.objects.filter(service=service).first()
    return {
        "service": service,
        "story": health_story(service, config),
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
