"""Tool drift: each successful tools/list is fingerprinted and compared with the accepted baseline.

The first tool list a service serves becomes its baseline. Any other list is kept as a
`ToolSnapshot` and raises one `DriftEvent` (readable diff, rug-pull flag, alert) until an operator
accepts it as the new baseline (`checks.services.accept_drift`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Protocol, TypeVar

from checks.models import DriftEvent, ToolSnapshot
from checks.probing.fingerprint import (
    description_changed_without_version_bump,
    diff_tools,
    tool_as_dict,
    tool_fingerprint,
)
from checks.probing.types import ProbeOutcome
from console.notifications.dispatch import notify
from console.notifications.events import AlertEvent
from fleet.models import Service

C = TypeVar("C", bound="Checked")


class Checked(Protocol):
    service: Service
    outcome: ProbeOutcome


def record_unchanged(checked: Sequence[C], at: datetime) -> list[C]:
    """Settle every tool list that equals its service's baseline with one UPDATE (seen now);
    return the others, for `record_tools` one by one (first list, new list, drift)."""
    if not checked:
        return []
    prints = {
        c.service.pk: (_fingerprint(c.outcome), c.outcome.server_version or "") for c in checked
    }
    baselines = dict(
        ToolSnapshot.objects.filter(service_id__in=prints, is_baseline=True).values_list(
            "service_id", "fingerprint"
        )
    )
    known = {
        (sid, fp, version): pk
        for pk, sid, fp, version in ToolSnapshot.objects.filter(
            service_id__in=prints, fingerprint__in={fp for fp, _ in prints.values()}
        ).values_list("pk", "service_id", "fingerprint", "server_version")
    }
    seen, rest = [], []
    for item in checked:
        fingerprint, version = prints[item.service.pk]
        pk = known.get((item.service.pk, fingerprint, version))
        if pk is not None and baselines.get(item.service.pk) == fingerprint:
            seen.append(pk)
        else:
            rest.append(item)
    if seen:
        ToolSnapshot.objects.filter(pk__in=seen).update(seen_at=at)
    return rest


def _sorted_tools(outcome: ProbeOutcome) -> list[dict]:
    return sorted((tool_as_dict(t) for t in outcome.tools), key=lambda t: t["name"])


def _fingerprint(outcome: ProbeOutcome) -> str:
    return tool_fingerprint(_sorted_tools(outcome))


def record_tools(service: Service, outcome: ProbeOutcome, at: datetime) -> DriftEvent | None:
    """Keep the tool list seen now; a new DriftEvent (and alert) when it left the baseline."""
    tools = _sorted_tools(outcome)
    fingerprint = tool_fingerprint(tools)
    version = outcome.server_version or ""
    snapshot, created = ToolSnapshot.objects.get_or_create(
        service=service,
        fingerprint=fingerprint,
        server_version=version,
        defaults={"tools": tools, "first_seen_at": at, "seen_at": at},
    )
    if not created:
        ToolSnapshot.objects.filter(pk=snapshot.pk).update(seen_at=at)
    baseline = ToolSnapshot.objects.filter(service=service, is_baseline=True).first()
    if baseline is None:
        ToolSnapshot.objects.filter(pk=snapshot.pk).update(is_baseline=True)
        return None
    if baseline.fingerprint == fingerprint:
        return None
    if DriftEvent.objects.filter(snapshot=snapshot, accepted_at=None).exists():
        return None  # already reported, waiting for an operator
    diff = diff_tools(baseline.tools, tools)
    rug_pull = description_changed_without_version_bump(baseline.server_version, version, diff)
    event = DriftEvent.objects.create(
        service=service,
        detected_at=at,
        baseline=baseline,
        snapshot=snapshot,
        diff=diff_as_json(diff),
        readable=diff.readable(),
        rug_pull=rug_pull,
    )
    notify(_drift_alert(service, event, baseline, version))
    return event


def drift_key(service: Service, snapshot: ToolSnapshot) -> str:
    """The alert key of one drifted tool set: the same set is one ongoing problem."""
    return f"drift:{service.name}:{snapshot.fingerprint}"


def diff_as_json(diff) -> dict:
    return {
        "added": diff.added,
        "removed": diff.removed,
        "changed": {name: [asdict(c) for c in changes] for name, changes in diff.changed.items()},
    }


def _drift_alert(
    service: Service, event: DriftEvent, baseline: ToolSnapshot, version: str
) -> AlertEvent:
    if event.rug_pull:
        title = (
            f"{service.name}: tool description changed without a version bump (possible rug pull)"
        )
    else:
        title = f"{service.name}: tool list changed"
    versions = f"server version {baseline.server_version or '?'} → {version or '?'}"
    return AlertEvent(
        kind="drift",
        severity="critical" if event.rug_pull else "warning",
        title=title,
        body=f"{versions}\n{event.readable}\nReview and accept the new tool set on the service page.",
        dedupe_key=drift_key(service, event.snapshot),
        service=service,
        url=service.get_absolute_url(),
        details={
            "service": service.name,
            "drift_id": event.pk,
            "rug_pull": event.rug_pull,
            "diff": event.diff,
            "baseline_version": baseline.server_version,
            "server_version": version,
        },
    )
