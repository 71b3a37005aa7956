"""Which alerts are the same cause, and the group each new alert joins.

Rules (the cause key; one AlertGroup row per key, one row on /alerts/):
- a producer may name the cause itself (`AlertEvent.cause`): a budget threshold is
  `budget:<budget id>:<basis>:<percent>`, the same threshold crossed again in a later month;
  a test send is `test:channel:<channel id>`;
- otherwise the cause is the kind (which carries the state: down, degraded, drift,
  redeploy_failed, ...) and the service: `down:service:notes`. Every time notes goes down is
  one group, however many incidents it took;
- an event about no service and naming no cause is its own cause: `<kind>:key:<dedupe key>`;
- a recovery joins the group of the problem it closes.

A group's acknowledgement stands while one of its alerts is open: a new alert of an acknowledged
cause that is still open inherits the acknowledgement (and is not sent, see dispatch); once every
alert of the group has resolved, the next one starts unacknowledged and is sent as usual.
"""

from __future__ import annotations

from console.notifications.models import NO_ACK, Alert, AlertGroup

KEY_LENGTH = 300


def cause_key(*, kind: str, service_name: str, dedupe_key: str, explicit: str = "") -> str:
    """The cause an alert belongs to, by the rules in the module docstring."""
    if explicit:
        key = explicit
    elif service_name:
        key = f"{kind}:service:{service_name}"
    else:
        key = f"{kind}:key:{dedupe_key}"
    return key[:KEY_LENGTH]


def join(fields: dict, cause: str) -> dict:
    """The group and acknowledgement fields a new alert with `fields` gets; inside atomic().

    The group row is locked, so two workers opening alerts of one cause take turns here.
    """
    shown = _group_fields(fields)
    group, _ = AlertGroup.objects.select_for_update().get_or_create(cause_key=cause, defaults=shown)
    for name, value in shown.items():
        setattr(group, name, value)
    ack = dict(NO_ACK)
    if group.is_acknowledged:
        if _still_worked_on(group):
            ack = group.ack_fields()
        else:  # the acknowledged problem is over: this one is news
            for name, value in NO_ACK.items():
                setattr(group, name, value)
    group.save()
    return {"group": group, **ack}


def seen_again(alert: Alert) -> None:
    """The group shows its latest words."""
    if alert.group_id:
        AlertGroup.objects.filter(pk=alert.group_id).update(
            title=alert.title, severity=alert.severity
        )


def _still_worked_on(group: AlertGroup) -> bool:
    return Alert.objects.filter(
        group=group, resolved_at__isnull=True, acknowledged_at__isnull=False
    ).exists()


def _group_fields(fields: dict) -> dict:
    service = fields.get("service")
    return {
        "kind": fields["kind"],
        "severity": fields["severity"],
        "title": fields["title"],
        "service": service if getattr(service, "pk", None) else None,
        "service_name": fields.get("service_name", ""),
        "team": fields.get("team", ""),
        "environment": fields.get("environment", ""),
    }
