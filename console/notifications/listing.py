"""The alert pages' reads: groups with their counts and latest alerts, in a fixed number of queries.

One aggregate query per section (open, recently resolved), then one for the latest alerts of every
shown group and one for their deliveries, however many groups and alerts there are.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Max, Min, Prefetch, Q, QuerySet, Sum, prefetch_related_objects

from console.notifications.models import Alert, AlertGroup, Delivery

LATEST_PER_GROUP = 10
ACK_FILTERS = ("", "acknowledged", "unacknowledged")

_PROBLEMS = ~Q(alerts__kind="recovered")
_OPEN = Q(alerts__resolved_at__isnull=True)


def annotated_groups() -> QuerySet[AlertGroup]:
    """Groups with how often (alerts, events), first/last seen, and what is still open."""
    return AlertGroup.objects.select_related("service").annotate(
        occurrences=Count("alerts", filter=_PROBLEMS),
        events=Sum("alerts__event_count", filter=_PROBLEMS),
        open_count=Count("alerts", filter=_OPEN),
        unacknowledged_open=Count("alerts", filter=_OPEN & Q(alerts__acknowledged_at__isnull=True)),
        first_seen=Min("alerts__opened_at", filter=_PROBLEMS),
        last_seen=Max("alerts__last_seen_at", filter=_PROBLEMS),
        last_resolved=Max("alerts__resolved_at"),
    )


def open_groups(ack: str = "") -> list[AlertGroup]:
    """Groups with an open alert, latest activity first; `ack` narrows to (un)acknowledged ones."""
    groups = annotated_groups().filter(open_count__gt=0).exclude(kind="test")
    if ack == "acknowledged":
        groups = groups.filter(unacknowledged_open=0)
    elif ack == "unacknowledged":
        groups = groups.filter(unacknowledged_open__gt=0)
    return list(groups.order_by("-last_seen", "-id"))


def resolved_groups(since: datetime, limit: int) -> list[AlertGroup]:
    """Groups whose alerts are all resolved, the last of them since `since`."""
    groups = annotated_groups().filter(open_count=0, last_resolved__gte=since)
    return list(groups.order_by("-last_resolved", "-id")[:limit])


def with_latest_alerts(groups: list[AlertGroup]) -> list[AlertGroup]:
    """Attach each group's latest alerts (with deliveries) as `group.latest`: two queries."""
    latest = (
        Alert.objects.select_related("silenced_by", "resolves")
        .prefetch_related(deliveries())
        .order_by("-opened_at", "-id")
    )
    prefetch_related_objects(
        groups, Prefetch("alerts", queryset=latest[:LATEST_PER_GROUP], to_attr="latest")
    )
    return groups


def deliveries() -> Prefetch:
    return Prefetch("deliveries", queryset=Delivery.objects.order_by("created_at", "id"))


def group_alerts(group: AlertGroup) -> QuerySet[Alert]:
    """Every alert of one group, newest first, with deliveries."""
    return (
        group.alerts.select_related("silenced_by", "resolves")
        .prefetch_related(deliveries())
        .order_by("-opened_at", "-id")
    )
