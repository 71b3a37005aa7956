"""State changes to alerting config: one atomic block each, with its audit-log row.

The pages and the API both come through here. A "spec" is a plain dict of field values.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from console import limits
from console.audit import record_action
from console.notifications import dispatch, grouping
from console.notifications.models import (
    NO_ACK,
    Alert,
    AlertChannel,
    AlertGroup,
    Delivery,
    Silence,
)

CHANNEL_FIELDS = (
    "type",
    "target",
    "secret_header",
    "secret_ref",
    "enabled",
    "match_teams",
    "match_environments",
    "match_services",
    "match_kinds",
)
CHANNEL_DEFAULTS: dict[str, Any] = {
    "secret_header": "",
    "secret_ref": "",
    "enabled": True,
    "match_teams": [],
    "match_environments": [],
    "match_services": [],
    "match_kinds": [],
}
SILENCE_FIELDS = ("match_service", "match_team", "match_environment", "reason")


def channel_state(channel: AlertChannel) -> dict:
    """The channel as a spec (what the API returns and the audit log stores; no secret values)."""
    return {"name": channel.name, **{f: getattr(channel, f) for f in CHANNEL_FIELDS}}


def silence_state(silence: Silence) -> dict:
    return {
        **{f: getattr(silence, f) for f in SILENCE_FIELDS},
        "starts_at": silence.starts_at.isoformat(),
        "ends_at": silence.ends_at.isoformat(),
    }


def save_channel(
    *, actor: Any, source: str, spec: dict, instance: AlertChannel | None = None
) -> AlertChannel:
    """Create or update a channel from a spec, audit-logged. Raises ValidationError."""
    with transaction.atomic():
        before = channel_state(instance) if instance else None
        channel = instance or AlertChannel()
        channel.name = spec.get("name", channel.name)
        for field in CHANNEL_FIELDS:
            value = spec.get(field)
            setattr(channel, field, CHANNEL_DEFAULTS.get(field, "") if value is None else value)
        channel.target = (channel.target or "").strip()
        channel.full_clean()
        channel.save()
        after = channel_state(channel)
        if before != after:
            action = "update" if before else "create"
            record_action(actor, action, channel, source=source, before=before, after=after)
    return channel


def delete_channel(*, actor: Any, source: str, channel: AlertChannel) -> None:
    """Delete a channel; its past deliveries stay, under the channel's name."""
    with transaction.atomic():
        record_action(actor, "delete", channel, source=source, before=channel_state(channel))
        channel.delete()


def send_test(*, actor: Any, source: str, channel: AlertChannel) -> Delivery:
    """Queue a test message to one channel (routing and silences do not apply)."""
    now = timezone.now()
    who = getattr(actor, "username", "") or str(actor)
    with transaction.atomic():
        fields = {
            "kind": "test",
            "severity": "info",
            "title": f"Test alert for channel {channel.name}",
            "body": f"Sent by {who} from MCP Fleet Console to check this channel works.",
            "dedupe_key": f"test:{channel.pk}:{uuid.uuid4().hex[:12]}",
            "resolved_at": now,
            "url": "/alerts/",
        }
        grouped = grouping.join(fields, f"test:channel:{channel.pk}")
        alert = Alert.objects.create(**fields, group=grouped["group"])
        [delivery] = dispatch.queue_deliveries(alert, Delivery.Purpose.TEST, [channel])
        record_action(actor, "test", channel, source=source, detail=f"delivery {delivery.pk}")
    return delivery


def create_silence(*, actor: Any, source: str, spec: dict) -> Silence:
    """Start a maintenance window. `starts_at` defaults to now. Raises ValidationError.

    Instead of `ends_at`, `minutes` gives the length from the start. Both ends are checked against
    console.limits before any date arithmetic, so no value can overflow a datetime.
    """
    now = timezone.now()
    starts_at = _aware(spec.get("starts_at")) or now
    ends_at = _aware(spec.get("ends_at"))
    minutes = spec.get("minutes")
    if minutes is not None and ends_at is None:
        problems = limits.window_problems(starts_at, None, now)
        if problems:  # the arithmetic below could overflow otherwise
            raise ValidationError(problems)
        limits.check_number("minutes", minutes)
        ends_at = starts_at + timedelta(minutes=minutes)
    silence = Silence(
        **{f: (spec.get(f) or "").strip() for f in SILENCE_FIELDS},
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    if silence.ends_at is None:
        raise ValidationError({"ends_at": "Required: when the maintenance window ends."})
    if isinstance(silence.ends_at, datetime) and silence.ends_at <= now:
        raise ValidationError({"ends_at": "The end is already past: pick a time in the future."})
    problems = limits.window_problems(starts_at, ends_at, now)
    try:
        silence.full_clean(exclude=["created_by"])
    except ValidationError as exc:
        problems = {**problems, **{k: v[0] for k, v in exc.message_dict.items()}}
    if problems:
        raise ValidationError(problems)
    with transaction.atomic():
        silence.save()
        record_action(actor, "create", silence, source=source, after=silence_state(silence))
    return silence


def _aware(value: datetime | None) -> datetime | None:
    """A datetime without a zone is UTC (the console's time zone), as the forms read it."""
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value, UTC)
    return value


def end_silence(*, actor: Any, source: str, silence: Silence) -> Silence:
    """End a silence now; alerts it held back go out with the next reminder run."""
    if silence.is_over:
        raise ValidationError({"ends_at": "This silence is already over."})
    with transaction.atomic():
        before = silence_state(silence)
        now = timezone.now()
        silence.ends_at = now
        if silence.starts_at > now:
            silence.starts_at = now
        silence.save(update_fields=["starts_at", "ends_at"])
        record_action(
            actor, "end", silence, source=source, before=before, after=silence_state(silence)
        )
    return silence


def close_alert(*, actor: Any, source: str, alert: Alert) -> None:
    """Resolve an open alert by hand (no recovery message): stops its reminders."""
    if not alert.is_open:
        raise ValidationError({"alert": "This alert is already resolved."})
    with transaction.atomic():
        dispatch.resolve(alert.dedupe_key)
        record_action(actor, "resolve", alert, source=source, detail=alert.dedupe_key)


def acknowledge_alert(*, actor: Any, source: str, alert: Alert, note: object = "") -> Alert:
    """Someone is on it: who, when and a note; the alert gets no more reminders. Audit-logged."""
    note = limits.check_text("note", note)
    if not alert.is_open:
        raise ValidationError({"alert": "This alert is already resolved."})
    with transaction.atomic():
        stamp = _ack_stamp(actor, note)
        claimed = Alert.objects.filter(
            pk=alert.pk, resolved_at__isnull=True, acknowledged_at__isnull=True
        ).update(**stamp)
        if not claimed:
            alert.refresh_from_db()
            raise ValidationError({"alert": _why_not(alert)})
        for name, value in stamp.items():
            setattr(alert, name, value)
        record_action(
            actor, "acknowledge", alert, source=source, after=_ack_state(stamp),
            detail=alert.dedupe_key,
        )  # fmt: skip
    return alert


def acknowledge_group(
    *, actor: Any, source: str, group: AlertGroup, note: object = ""
) -> AlertGroup:
    """Acknowledge a cause: the group and every open alert in it, with one note. Reminders stop,
    and new alerts of the cause are not sent while one of these is still open. Audit-logged."""
    note = limits.check_text("note", note)
    with transaction.atomic():
        group = AlertGroup.objects.select_for_update().get(pk=group.pk)
        open_alerts = Alert.objects.filter(group=group, resolved_at__isnull=True)
        if not open_alerts.exists():
            raise ValidationError(
                {"alert": "Nothing in this group is open, so there is nothing to acknowledge."}
            )
        if group.is_acknowledged:
            raise ValidationError({"alert": _why_not(group)})
        stamp = _ack_stamp(actor, note)
        count = open_alerts.filter(acknowledged_at__isnull=True).update(**stamp)
        for name, value in stamp.items():
            setattr(group, name, value)
        group.save(update_fields=list(stamp))
        record_action(
            actor, "acknowledge", group, source=source, after=_ack_state(stamp),
            detail=f"{group.cause_key}: {count} open alert{'s' if count != 1 else ''}",
        )  # fmt: skip
    return group


def withdraw_alert_acknowledgement(*, actor: Any, source: str, alert: Alert) -> Alert:
    """Take back an open alert's acknowledgement: reminders resume by the usual rules (dispatch).

    When it was the group's last acknowledged open alert, the group's acknowledgement goes too,
    so new alerts of the cause are sent again. Audit-logged with the acknowledgement withdrawn.
    """
    with transaction.atomic():
        group = _locked_group(alert.group_id)  # group before alert: the order join() locks in
        current = Alert.objects.select_for_update().get(pk=alert.pk)
        if not current.is_open or not current.is_acknowledged:
            raise ValidationError({"alert": _why_not_withdrawn(current)})
        before = _ack_state_of(current)
        Alert.objects.filter(pk=current.pk).update(**NO_ACK)
        for name, value in NO_ACK.items():
            setattr(alert, name, value)
        if group is not None and group.is_acknowledged and not _acknowledged_open(group).exists():
            _clear_group_ack(group)
        record_action(
            actor, "unacknowledge", alert, source=source, before=before, after=None,
            detail=alert.dedupe_key,
        )  # fmt: skip
    return alert


def withdraw_group_acknowledgement(*, actor: Any, source: str, group: AlertGroup) -> AlertGroup:
    """Hand a cause back: the group's acknowledgement and that of every open alert in it go.

    Reminders of its open alerts resume by the usual rules (dispatch), and new alerts of the cause
    are sent again. Resolved alerts keep their stamp (it is history). Audit-logged.
    """
    with transaction.atomic():
        locked = _locked_group(group.pk)
        if not Alert.objects.filter(group=locked, resolved_at__isnull=True).exists():
            raise ValidationError(
                {
                    "alert": "Everything in this group is resolved: there is no acknowledgement to withdraw."
                }
            )
        if not locked.is_acknowledged:
            raise ValidationError(
                {"alert": "This group is not acknowledged, so there is nothing to withdraw."}
            )
        before = _ack_state_of(locked)
        count = _acknowledged_open(locked).update(**NO_ACK)
        _clear_group_ack(locked)
        for name, value in NO_ACK.items():
            setattr(group, name, value)
        record_action(
            actor, "unacknowledge", group, source=source, before=before, after=None,
            detail=f"{group.cause_key}: {count} open alert{'s' if count != 1 else ''}",
        )  # fmt: skip
    return group


def _locked_group(pk: int | None) -> AlertGroup | None:
    return AlertGroup.objects.select_for_update().filter(pk=pk).first() if pk else None


def _acknowledged_open(group: AlertGroup) -> QuerySet[Alert]:
    return Alert.objects.filter(
        group=group, resolved_at__isnull=True, acknowledged_at__isnull=False
    )


def _clear_group_ack(group: AlertGroup) -> None:
    for name, value in NO_ACK.items():
        setattr(group, name, value)
    group.save(update_fields=list(NO_ACK))


def _why_not_withdrawn(alert: Alert) -> str:
    if not alert.is_open:
        return "This alert is already resolved: there is no acknowledgement to withdraw."
    return "This alert is not acknowledged, so there is nothing to withdraw."


def _ack_state_of(obj: Alert | AlertGroup) -> dict:
    return {
        "acknowledged_by": obj.acknowledged_by_name,
        "acknowledged_at": obj.acknowledged_at.isoformat() if obj.acknowledged_at else None,
        "note": obj.ack_note,
    }


def _ack_stamp(actor: Any, note: str) -> dict:
    user = actor if getattr(actor, "pk", None) else None
    name = getattr(actor, "username", "") or str(actor)
    return {
        "acknowledged_by": user,
        "acknowledged_by_name": name[:150],
        "acknowledged_at": timezone.now(),
        "ack_note": note,
    }


def _ack_state(stamp: dict) -> dict:
    return {
        "acknowledged_by": stamp["acknowledged_by_name"],
        "acknowledged_at": stamp["acknowledged_at"].isoformat(),
        "note": stamp["ack_note"],
    }


def _why_not(obj: Alert | AlertGroup) -> str:
    if obj.is_acknowledged:
        return f"Already acknowledged by {obj.acknowledged_by_name or 'someone'}."
    return "This alert is already resolved."
