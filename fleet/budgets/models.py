"""Budgets: what a scope of the fleet may spend per month, its cloud copies, spend and alerts sent.

A `Budget` covers a scope (one service, a team, an environment, a cloud account or the whole
fleet). Where the services in scope run on a cloud with a budget API (GCP, AWS), one
`CloudBudget` per cloud account keeps the cloud-side id and the fingerprint read at the last sync.
Spend is ingested daily (`SpendRecord`, month-to-date per budget; `ServiceSpend` per service) and
each threshold alerts once per budget period (`ThresholdAlert`, unique per budget/period/rule).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from fleet.costs.thresholds import ThresholdRule
from fleet.models import CloudAccount, Service

DEFAULT_THRESHOLDS = [
    {"percent": "50", "basis": "actual"},
    {"percent": "90", "basis": "actual"},
    {"percent": "100", "basis": "actual"},
]


def default_thresholds() -> list[dict]:
    return [dict(rule) for rule in DEFAULT_THRESHOLDS]


class Scope(models.TextChoices):
    SERVICE = "service", "Service"
    TEAM = "team", "Team"
    ENVIRONMENT = "environment", "Environment"
    ACCOUNT = "account", "Cloud account"
    FLEET = "fleet", "Whole fleet"


class SyncStatus(models.TextChoices):
    PENDING = "pending", "Sync pending"
    SYNCED = "synced", "Synced"
    NOT_SYNCED = "not_synced", "Not synced"
    DRIFTED = "drifted", "Changed in the cloud"
    LOCAL = "local", "Console only"


class SpendSource(models.TextChoices):
    REPORTED = "reported", "Reported"
    ESTIMATED = "estimated", "Estimated"  # from measured usage (Cloud Monitoring)
    REQUESTED = "requested", "Estimated from requested capacity"


class Budget(models.Model):
    """A monthly budget for a scope of the fleet, with threshold rules."""

    name = models.CharField(max_length=54, unique=True)
    scope = models.CharField(max_length=12, choices=Scope.choices)
    scope_value = models.CharField(
        max_length=100, blank=True, help_text="Service, team, environment or account name."
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, default="USD")
    thresholds = models.JSONField(default=default_thresholds)
    # The alert channels to notify; none chosen = the channels whose routing matches the scope.
    channels = models.ManyToManyField(
        "notifications.AlertChannel", blank=True, related_name="budgets"
    )
    # Where the cloud itself alerts (so alerts go out even when the console is down): a Pub/Sub
    # topic on Google Cloud, an SNS topic on AWS; the budget's email channels become AWS email
    # subscribers too.
    gcp_pubsub_topic = models.CharField(
        max_length=255, blank=True, help_text="projects/PROJECT/topics/TOPIC"
    )
    # Cloud Monitoring email channels Google Cloud notifies itself (at most 5, as the API allows).
    gcp_notification_channels = models.JSONField(
        default=list, blank=True, help_text="projects/PROJECT/notificationChannels/ID, up to 5"
    )
    aws_sns_topic_arn = models.CharField(
        max_length=255, blank=True, help_text="arn:aws:sns:REGION:ACCOUNT:TOPIC"
    )
    # Sync summary over the budget's cloud copies (details per account in CloudBudget).
    sync_status = models.CharField(
        max_length=12, choices=SyncStatus.choices, default=SyncStatus.PENDING
    )
    sync_reason = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    # Month-to-date spend, kept on the row so the budgets page reads it without joins.
    spend_actual = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    spend_forecast = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    spend_currency = models.CharField(max_length=3, blank=True)
    spend_source = models.CharField(max_length=10, choices=SpendSource.choices, blank=True)
    spend_as_of = models.DateField(null=True, blank=True)
    spend_note = models.TextField(blank=True)
    # The part of spend_actual a cloud reported itself (AWS Budgets' CalculatedSpend) and the
    # accounts it came from; the rest is the services' own estimates. None: nothing reported.
    spend_reported = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    spend_reported_from = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="budget_amount_positive")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def cloud_name(self) -> str:
        """The display name of the budget in the clouds (≤ 60 characters, no ':')."""
        return f"fleet-{self.name}"

    @property
    def scope_label(self) -> str:
        if self.scope == Scope.FLEET:
            return "Whole fleet"
        return f"{self.get_scope_display()}: {self.scope_value}"

    def rules(self) -> list[ThresholdRule]:
        return [ThresholdRule(Decimal(str(r["percent"])), r["basis"]) for r in self.thresholds]

    @property
    def spend_estimated(self) -> Decimal | None:
        """The part of spend_actual estimated from the services' own figures."""
        if self.spend_actual is None:
            return None
        return self.spend_actual - (self.spend_reported or 0)

    @property
    def spend_label(self) -> str:
        """Where the figure the alerts use came from: reported, estimated, or both."""
        if self.spend_actual is None:
            return ""
        if self.spend_reported is None:
            return "estimated"
        return "reported" if self.spend_source == SpendSource.REPORTED else "reported + estimated"

    @property
    def percent_used(self) -> Decimal | None:
        if self.spend_actual is None or self.spend_currency != self.currency:
            return None
        return (self.spend_actual / self.amount * 100).quantize(Decimal("0.1"))


class CloudBudget(models.Model):
    """The budget's copy in one cloud account, and what the console saw there at the last sync."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="cloud_budgets")
    account = models.ForeignKey(
        CloudAccount, on_delete=models.CASCADE, related_name="cloud_budgets"
    )
    provider_budget_id = models.CharField(
        max_length=300, blank=True, help_text="GCP resource name or AWS budget name."
    )
    etag = models.CharField(max_length=100, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)
    # AWS: the notification subscribers ("EMAIL:a@b", "SNS:arn") last put on the cloud's
    # notifications; when the budget's differ, the notifications are re-made with the new ones.
    subscribers = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    reason = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["account__name"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "account"], name="one_cloud_budget_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget} in {self.account}"


class SpendRecord(models.Model):
    """Month-to-date spend of a budget's scope as known on `day` (one row per budget per day)."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="spend")
    day = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    forecast = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=10, choices=SpendSource.choices)

    class Meta:
        ordering = ["budget", "day"]
        constraints = [
            models.UniqueConstraint(fields=["budget", "day"], name="one_spend_record_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.day}: {self.amount} {self.currency} ({self.source})"


class ServiceSpend(models.Model):
    """Month-to-date cost of one service as known on `day`, for cost per service and per team."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="spend")
    day = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    source = models.CharField(max_length=10, choices=SpendSource.choices)

    class Meta:
        ordering = ["service", "day"]
        constraints = [
            models.UniqueConstraint(fields=["service", "day"], name="one_service_spend_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.service} {self.day}: {self.amount} {self.currency} ({self.source})"


class ThresholdAlert(models.Model):
    """A threshold alert that was sent; the unique constraint makes it fire once per period."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period = models.CharField(max_length=7, help_text='Budget month, e.g. "2026-11".')
    rule_key = models.CharField(max_length=30, help_text='e.g. "actual:90".')
    spend = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    fired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fired_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["budget", "period", "rule_key"], name="one_alert_per_threshold_per_period"
            )
        ]

    def __str__(self) -> str:
        return f"{self.budget} {self.period} {self.rule_key}"


class PriceOverride(models.Model):
    """Admin-set prices merged over `fleet.costs.pricing` defaults (one row, pk=1)."""

    prices = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    def __str__(self) -> str:
        return f"Price overrides ({len(self.prices)} set)"
