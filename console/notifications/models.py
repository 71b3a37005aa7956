"""Alerting records: where alerts go (channels and their routing), when they must not go (silences),
what was said (alerts, one per open problem) and how each message fared (deliveries).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from console.notifications import validation

EVENT_KINDS = ("down", "recovered", "degraded", "drift", "budget", "redeploy_failed", "test")


class ChannelType(models.TextChoices):
    WEBHOOK = "webhook", "Webhook (JSON POST)"
    SLACK = "slack", "Slack incoming webhook"
    EMAIL = "email", "Email"


class AlertChannel(models.Model):
    """A destination for alerts, with its routing: each match list empty = everything.

    The target is a URL or email addresses, or a reference (`env:NAME`, `file:/path`) when the URL
    itself is a secret (Slack webhook URLs are). The optional webhook secret header stores only the
    header name and a reference to its value, never the value.
    """

    name = models.CharField(max_length=63, unique=True)
    type = models.CharField(max_length=10, choices=ChannelType.choices)
    target = models.TextField(help_text="URL, comma-separated email addresses, or env:/file: ref.")
    secret_header = models.CharField(max_length=100, blank=True, help_text="e.g. Authorization")
    secret_ref = models.CharField(
        max_length=300, blank=True, help_text="Where the header value lives: env:NAME or file:/path"
    )
    enabled = models.BooleanField(default=True)
    match_teams = models.JSONField(default=list, blank=True)
    match_environments = models.JSONField(default=list, blank=True)
    match_services = models.JSONField(default=list, blank=True)
    match_kinds = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validation.validate_channel(self)

    def routes(self, *, service: str, team: str, environment: str, kind: str | None) -> bool:
        """Whether this channel takes an event with these attributes (kind None = any kind)."""
        checks = (
            (self.match_services, service),
            (self.match_teams, team),
            (self.match_environments, environment),
        )
        if any(wanted and value not in wanted for wanted, value in checks):
            return False
        return kind is None or not self.match_kinds or kind in self.match_kinds

    def routing_summary(self) -> str:
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (
                ("team", self.match_teams),
                ("env", self.match_environments),
                ("service", self.match_services),
                ("kind", self.match_kinds),
            )
            if values
        ]
        return "; ".join(parts) or "everything"


class SilenceQuerySet(models.QuerySet):
    def active(self, at=None) -> SilenceQuerySet:
        at = at or timezone.now()
        return self.filter(starts_at__lte=at, ends_at__gt=at)


class Silence(models.Model):
    """A maintenance window: alerts for what it matches open but are not sent until it ends.

    Each match field empty = any; all empty = the whole fleet.
    """

    match_service = models.CharField(max_length=63, blank=True)
    match_team = models.CharField(max_length=63, blank=True)
    match_environment = models.CharField(max_length=40, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SilenceQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at", "-id"]

    def __str__(self) -> str:
        return f"silence {self.scope()} until {self.ends_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        validation.validate_silence(self)

    def scope(self) -> str:
        parts = [
            f"{label} {value}"
            for label, value in (
                ("service", self.match_service),
                ("team", self.match_team),
                ("env", self.match_environment),
            )
            if value
        ]
        return ", ".join(parts) or "the whole fleet"

    def covers(self, *, service: str, team: str, environment: str) -> bool:
        checks = (
            (self.match_service, service),
            (self.match_team, team),
            (self.match_environment, environment),
        )
        return all(not wanted or wanted == value for wanted, value in checks)

    @property
    def is_active(self) -> bool:
        return self.starts_at <= timezone.now() < self.ends_at

    @property
    def is_over(self) -> bool:
        return self.ends_at <= timezone.now()


class Acknowledgement(models.Model):
    """Who acknowledged it, when, and why: "someone is on it" (see dispatch: acks hold reminders)."""

    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_by_name = models.CharField(max_length=150, blank=True)  # kept if the user goes
    acknowledged_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ack_note = models.CharField(max_length=500, blank=True)

    class Meta:
        abstract = True

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def ack_fields(self) -> dict:
        return {
            "acknowledged_by": self.acknowledged_by,
            "acknowledged_by_name": self.acknowledged_by_name,
            "acknowledged_at": self.acknowledged_at,
            "ack_note": self.ack_note,
        }


ACK_FIELDS = ("acknowledged_by", "acknowledged_by_name", "acknowledged_at", "ack_note")
NO_ACK = {
    "acknowledged_by": None,
    "acknowledged_by_name": "",
    "acknowledged_at": None,
    "ack_note": "",
}


class AlertGroup(Acknowledgement):
    """Repeated alerts for one cause (service + kind + state or threshold): one row on /alerts/.

    `cause_key` is what makes two alerts the same cause (console/notifications/grouping.py);
    title and severity are the latest alert's. An acknowledgement of the group stands while
    any of its alerts is open.
    """

    cause_key = models.CharField(max_length=300, unique=True)
    kind = models.CharField(max_length=20)
    severity = models.CharField(max_length=10)
    title = models.CharField(max_length=300)
    service = models.ForeignKey(
        "fleet.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    service_name = models.CharField(max_length=63, blank=True)
    team = models.CharField(max_length=63, blank=True)
    environment = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class Alert(Acknowledgement):
    """One problem worth telling people about; at most one open alert per dedupe key."""

    kind = models.CharField(max_length=20)
    severity = models.CharField(max_length=10)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    dedupe_key = models.CharField(max_length=300, db_index=True)
    service = models.ForeignKey(
        "fleet.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    service_name = models.CharField(max_length=63, blank=True)  # kept if the service goes
    team = models.CharField(max_length=63, blank=True)
    environment = models.CharField(max_length=40, blank=True)
    url = models.CharField(max_length=500, blank=True)
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(default=timezone.now)
    event_count = models.PositiveIntegerField(default=1)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_count = models.PositiveIntegerField(default=0)
    silenced_by = models.ForeignKey(
        Silence, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    resolves = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="recoveries"
    )
    group = models.ForeignKey(
        AlertGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts"
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_alert_per_dedupe_key",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class Delivery(models.Model):
    """One message of one alert to one channel, with its fate; the UI polls it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Purpose(models.TextChoices):
        OPENED = "opened", "First notice"
        REMINDER = "reminder", "Reminder"
        RECOVERED = "recovered", "Recovery"
        TEST = "test", "Test"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(
        AlertChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel_name = models.CharField(max_length=63)  # kept if the channel is deleted
    purpose = models.CharField(max_length=10, choices=Purpose.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} of '{self.alert}' to {self.channel_name}"

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.QUEUED
