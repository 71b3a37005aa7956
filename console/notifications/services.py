"""State changes to alerting config: one atomic block each, with its audit-log row.

The pages and the API both come through here. A "spec" is a plain dict of field values.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from console import limits
from console.audit import record_action
from console.notifications import dispatch
from console.notifications.models import Alert, AlertChannel, Delivery, Silence

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
        alert = Alert.objects.create(
            kind="test",
            severity="info",
            title=f"Test alert for channel {channel.name}",
            body=f"Sent by {who} from MCP Fleet Console to check this channel works.",
            dedupe_key=f"test:{channel.pk}:{uuid.uuid4().hex[:12]}",
            resolved_at=now,
            url="/alerts/",
        )
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
