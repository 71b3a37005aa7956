"""What the rest of the console tells the alerting system: one AlertEvent per thing worth saying.

Producers (health state changes, tool drift, budget thresholds, failed redeploys) build an AlertEvent
and call `console.notifications.dispatch.notify(event)`; routing, silences, de-duplication, reminders
and delivery with retries are the alerting app's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["down", "recovered", "degraded", "drift", "budget", "redeploy_failed", "test"]
Severity = Literal["critical", "warning", "info"]


@dataclass
class AlertEvent:
    kind: EventKind
    title: str  # one line: "notes is DOWN"
    body: str  # a few lines a person can act on
    severity: Severity
    # Same key = the same ongoing problem: sent once, then only as reminders until resolved.
    # e.g. "incident:42", "drift:notes:3f2a…", "budget:7:2026-11:actual:90"
    dedupe_key: str
    service: Any = None  # fleet.models.Service, when the event is about one
    team: str = ""
    environment: str = ""
    url: str = ""  # absolute or site-relative link to the console page
    details: dict = field(default_factory=dict)  # JSON-serialisable extra fields for webhooks
    # AlertChannel rows to use instead of routing (a budget that names its channels); None = route.
    channels: list[Any] | None = None
    # What makes repeats the same cause (one group on /alerts/); "" = the kind and the service.
    # See console/notifications/grouping.py.
    cause: str = ""
