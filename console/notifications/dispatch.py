"""The alerting entry points producers call: `notify(event)`, `resolve(key)`, `channels_for(service)`.

How an event becomes messages:
1. Problem events (every kind but "recovered"): an open Alert with the same `event.dedupe_key`
   means the problem is already known: the alert is updated (title, body, severity, details,
   `event_count`, `last_seen_at`) and nothing is sent; reminders follow every
   `ALERT_REMINDER_MINUTES` until it is resolved. Otherwise a new Alert opens and one Delivery per
   routed channel is queued (`deliver_alert_task`, after commit).
2. Routing: enabled channels whose match lists (teams, environments, services, kinds) each
   contain the event's value or are empty. Team and environment default to the service's.
   An event that names its channels (`event.channels`, e.g. a budget's) goes to those instead.
3. Silences: while an active Silence covers the event (service/team/environment), the alert opens
   (visible on /alerts/) but nothing is sent; when the silence is over and the alert is still open,
   the next reminder run sends it.
4. Grouping and acknowledgement: each alert joins the group of its cause (grouping.py). An
   acknowledged alert gets no reminders, and a new alert of a cause whose acknowledged problem is
   still open inherits the acknowledgement and is not sent (someone is already on it). Recoveries
   are always sent to the channels that were told, acknowledged or not. An operator may withdraw
   an acknowledgement (services.withdraw_*): the alert is then due like any other, so the next
   reminder run sends it once `last_sent_at` is ALERT_REMINDER_MINUTES old (at once if it was
   held back unsent).
5. Recovery (`kind="recovered"`): closes the open alert whose key is `event.details["resolves"]`
   (or, when that is absent, the event's own `dedupe_key`, so a producer may use one key for both).
   The recovery goes to the channels that were told about the problem; if nothing was open, or the
   problem was never sent (silenced), nothing is sent and `notify` returns None.

Example, from a health state change:

    notify(AlertEvent(kind="down", severity="critical", title="notes is DOWN", body=...,
                      dedupe_key=f"incident:{incident.pk}", service=service))
    ...
    notify(AlertEvent(kind="recovered", severity="info", title="notes recovered", body=...,
                      dedupe_key=f"incident:{incident.pk}:recovered", service=service,
                      details={"resolves": f"incident:{incident.pk}"}))
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from console.broker import send_on_commit
from console.notifications import grouping
from console.notifications.events import AlertEvent
from console.notifications.models import Alert, AlertChannel, AlertGroup, Delivery, Silence
from console.notifications.payloads import build_payload

RECOVERED = "recovered"


def channels_for(service: Any, kind: str | None = None) -> list[AlertChannel]:
    """Enabled channels that route events about `service` (of `kind`, or of any kind if None)."""
    return _routed(
        service=service.name, team=service.team, environment=service.environment, kind=kind
    )


def _routed(*, service: str, team: str, environment: str, kind: str | None) -> list[AlertChannel]:
    return [
        c
        for c in AlertChannel.objects.filter(enabled=True)
        if c.routes(service=service, team=team, environment=environment, kind=kind)
    ]


def silence_for(alert: Alert, at: datetime | None = None) -> Silence | None:
    """The first active silence that covers the alert, if any."""
    for silence in Silence.objects.active(at).order_by("ends_at"):
        if silence.covers(
            service=alert.service_name, team=alert.team, environment=alert.environment
        ):
            return silence
    return None


def notify(event: AlertEvent) -> Alert | None:
    """Record the event and queue its messages; see the module docstring for the rules."""
    if event.kind == RECOVERED:
        return _recover(event)
    with transaction.atomic():
        existing = _open_alert(event.dedupe_key)
        if existing is not None:
            return _seen_again(existing, event)
        fields = _alert_fields(event)
        cause = grouping.cause_key(
            kind=event.kind,
            service_name=fields["service_name"],
            dedupe_key=fields["dedupe_key"],
            explicit=event.cause,
        )
        fields |= grouping.join(fields, cause)
        try:
            with transaction.atomic():
                alert = Alert.objects.create(**fields)
        except IntegrityError:  # another worker opened it a moment ago
            existing = _open_alert(event.dedupe_key)
            return _seen_again(existing, event) if existing else None
        _send(alert, Delivery.Purpose.OPENED, channels=event.channels or None)
    return alert


def resolve(dedupe_key: str) -> None:
    """Close the open alert with this key quietly (no recovery message); no-op when none is open."""
    Alert.objects.filter(dedupe_key=dedupe_key, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


def send_reminders(now: datetime | None = None) -> int:
    """Re-send open alerts not sent for ALERT_REMINDER_MINUTES, or held back by a silence that ended.

    Open alerts about a service that has since been deleted are resolved instead (quietly).
    Returns how many alerts were sent. Each alert is claimed with a conditional update, so two
    overlapping runs never remind twice.
    """
    now = now or timezone.now()
    due_before = now - timedelta(minutes=reminder_minutes())
    due = (
        Alert.objects.filter(resolved_at__isnull=True, acknowledged_at__isnull=True)
        .exclude(kind__in=(RECOVERED, "test"))
        .filter(Q(last_sent_at__lte=due_before) | Q(last_sent_at__isnull=True))
    )
    # The service behind these was deleted: nothing left to fix, so stop reminding.
    due.filter(service__isnull=True).exclude(service_name="").update(resolved_at=now)
    sent = 0
    for alert in due.filter(resolved_at__isnull=True).order_by("opened_at"):
        with transaction.atomic():
            if silence_for(alert, now) is not None:
                continue
            claimed = Alert.objects.filter(
                pk=alert.pk, last_sent_at=alert.last_sent_at, resolved_at__isnull=True
            )
            first_time = alert.last_sent_at is None
            if not claimed.update(last_sent_at=now):
                continue
            if not first_time:
                alert.reminder_count += 1
            purpose = Delivery.Purpose.OPENED if first_time else Delivery.Purpose.REMINDER
            _send(alert, purpose, now=now)
            sent += 1
    return sent


def reminder_minutes() -> int:
    return int(getattr(settings, "ALERT_REMINDER_MINUTES", 60))


def _open_alert(dedupe_key: str) -> Alert | None:
    """The open alert with this key, locked; inside atomic().

    Its group is locked first: acknowledging and withdrawing lock the group, then its alerts,
    so taking the alert first here (then touching the group to show the latest words, or
    inserting a recovery that references it) could deadlock with them on PostgreSQL.
    """
    open_now = Alert.objects.filter(dedupe_key=dedupe_key, resolved_at__isnull=True)
    group_id = open_now.values_list("group_id", flat=True).first()
    if group_id is not None:  # an alert's group never changes, so this is the one to lock
        list(AlertGroup.objects.select_for_update().filter(pk=group_id))
    return open_now.select_for_update().first()


def _alert_fields(event: AlertEvent) -> dict:
    service = event.service
    return {
        "kind": event.kind,
        "severity": event.severity,
        "title": event.title[:300],
        "body": event.body,
        "dedupe_key": event.dedupe_key[:300],
        "service": service,
        "service_name": service.name if service is not None else "",
        "team": event.team or (service.team if service is not None else ""),
        "environment": event.environment or (service.environment if service is not None else ""),
        "url": event.url[:500],
        "details": event.details,
    }


def _seen_again(alert: Alert, event: AlertEvent) -> Alert:
    """The same problem reported again: keep the latest words, send nothing."""
    alert.title, alert.body = event.title[:300], event.body
    alert.severity, alert.details = event.severity, event.details
    alert.last_seen_at = timezone.now()
    alert.event_count += 1
    alert.save(
        update_fields=["title", "body", "severity", "details", "last_seen_at", "event_count"]
    )
    grouping.seen_again(alert)
    return alert


def _recover(event: AlertEvent) -> Alert | None:
    key = str(event.details.get("resolves") or event.dedupe_key)
    with transaction.atomic():
        problem = _open_alert(key)
        if problem is None:
            return None
        now = timezone.now()
        problem.resolved_at = now
        problem.save(update_fields=["resolved_at"])
        fields = {
            **_alert_fields(event),
            "resolved_at": now,
            "resolves": problem,
            "group_id": problem.group_id,
        }
        recovery = Alert.objects.create(**fields)
        told = AlertChannel.objects.filter(enabled=True, deliveries__alert=problem).distinct()
        if problem.last_sent_at is not None:
            _send(recovery, Delivery.Purpose.RECOVERED, channels=list(told), now=now)
    return recovery


def _send(
    alert: Alert,
    purpose: str,
    *,
    channels: list[AlertChannel] | None = None,
    now: datetime | None = None,
) -> list[Delivery]:
    """Queue one delivery per channel unless a silence covers the alert or someone acknowledged
    the problem already (recoveries still go out); call inside atomic()."""
    if alert.is_acknowledged and purpose != Delivery.Purpose.RECOVERED:
        return []
    now = now or timezone.now()
    silence = silence_for(alert, now)
    if silence is not None:
        Alert.objects.filter(pk=alert.pk).update(silenced_by=silence, last_sent_at=None)
        alert.silenced_by, alert.last_sent_at = silence, None
        return []
    if channels is None:
        channels = _routed(
            service=alert.service_name,
            team=alert.team,
            environment=alert.environment,
            kind=alert.kind,
        )
    alert.last_sent_at, alert.silenced_by = now, None
    alert.save(update_fields=["last_sent_at", "silenced_by", "reminder_count"])
    return queue_deliveries(alert, purpose, channels)


def queue_deliveries(alert: Alert, purpose: str, channels: list[AlertChannel]) -> list[Delivery]:
    """Create the Delivery rows and send each to the worker once the transaction commits."""
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                alert=alert,
                channel=c,
                channel_name=c.name,
                purpose=purpose,
                payload=build_payload(alert, c, purpose),
            )
            for c in channels
        ]
    )
    if not all(d.pk for d in deliveries):  # backends without RETURNING
        deliveries = list(Delivery.objects.filter(alert=alert, purpose=purpose, status="queued"))
    for delivery in deliveries:
        enqueue_delivery(delivery.pk)
    return deliveries


def enqueue_delivery(delivery_id: int) -> None:
    from console.notifications.tasks import deliver_alert_task

    send_on_commit(
        deliver_alert_task,
        delivery_id,
        on_failure=lambda why: _fail_unsent_delivery(delivery_id, why),
    )


def _fail_unsent_delivery(delivery_id: int, reason: str) -> None:
    Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.QUEUED).update(
        status=Delivery.Status.FAILED, last_error=f"Not sent: {reason}"
    )
