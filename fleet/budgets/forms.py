"""Forms for budgets and the scaling what-if; the rules themselves live in the service layer."""

from __future__ import annotations

from django import forms

from console import limits
from console.notifications.models import AlertChannel
from fleet.budgets.models import Scope
from fleet.costs.estimate import PROVIDERS


class BudgetForm(forms.Form):
    name = forms.CharField(
        max_length=54,
        help_text="Lowercase letters, digits, '.', '_' or '-'; the cloud copy is "
        "named fleet-<name>.",
    )
    scope = forms.ChoiceField(choices=Scope.choices)
    scope_value = forms.CharField(
        required=False,
        max_length=100,
        label="Scope value",
        help_text="The service, team, environment or account name (empty for the whole fleet).",
    )
    amount = forms.CharField(max_length=20, label="Monthly amount")
    currency = forms.CharField(max_length=3, initial="USD", help_text="ISO 4217, e.g. USD, EUR.")
    thresholds = forms.CharField(
        initial="50, 90, 100",
        help_text="Percent of the amount, comma-separated; prefix forecast: to alert on the "
        "month-end forecast, e.g. 50, 90, 100, forecast:100. Allowed: 1 to 1000.",
    )
    channels = forms.ModelMultipleChoiceField(
        queryset=AlertChannel.objects.order_by("name"),
        to_field_name="name",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Alert channels",
        help_text="Where threshold alerts go. None ticked: the alert channels whose routing "
        "matches this budget's scope, like health alerts.",
    )

    gcp_pubsub_topic = forms.CharField(
        required=False,
        max_length=255,
        label="Google Cloud Pub/Sub topic",
        help_text="projects/PROJECT/topics/TOPIC: Google Cloud publishes each crossed threshold "
        "there itself, even while the console is down.",
    )
    gcp_notification_channels = forms.CharField(
        required=False,
        max_length=1000,
        label="Google Cloud notification channels",
        help_text="Up to 5 Cloud Monitoring email channels, comma-separated "
        "(projects/PROJECT/notificationChannels/ID): Google Cloud emails them itself.",
    )
    aws_sns_topic_arn = forms.CharField(
        required=False,
        max_length=255,
        label="AWS SNS topic",
        help_text="arn:aws:sns:REGION:ACCOUNT_ID:TOPIC: AWS Budgets notifies it itself; the "
        "addresses of the email channels above are subscribed too.",
    )

    def spec(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "scope": data["scope"],
            "scope_value": data.get("scope_value", ""),
            "amount": data["amount"].strip(),
            "currency": data["currency"],
            "thresholds": data["thresholds"],
            "channels": [c.name for c in data.get("channels") or []],
            "gcp_pubsub_topic": data.get("gcp_pubsub_topic", ""),
            "gcp_notification_channels": data.get("gcp_notification_channels", ""),
            "aws_sns_topic_arn": data.get("aws_sns_topic_arn", ""),
        }


def thresholds_text(rules: list[dict]) -> str:
    """Rules as the form shows them: "50, 90, forecast:100"."""
    return ", ".join(
        r["percent"] if r["basis"] == "actual" else f"{r['basis']}:{r['percent']}" for r in rules
    )


def _range(name: str) -> dict:
    """min_value/max_value for a form field, from the one table of bounds."""
    bound = limits.BOUNDS[name]
    return {"min_value": bound.low, "max_value": bound.high}


class WhatIfForm(forms.Form):
    """Scaling settings to price; blank fields mean "not set"."""

    provider = forms.ChoiceField(choices=[(p, p) for p in PROVIDERS])
    min_instances = forms.IntegerField(required=False, **_range("min_instances"))
    max_instances = forms.IntegerField(required=False, **_range("estimate.max_instances"))
    concurrency = forms.IntegerField(required=False, **_range("concurrency"))
    cpu = forms.CharField(required=False, max_length=20, help_text="e.g. 1, 500m, 0.25 vCPU")
    memory = forms.CharField(required=False, max_length=20, help_text="e.g. 512Mi, 1Gi")
    requests_per_month = forms.IntegerField(required=False, **_range("requests_per_month"))
    request_seconds = forms.FloatField(
        required=False,
        label="Seconds per request",
        help_text="average",
        **_range("request_seconds"),
    )
    avg_instances = forms.FloatField(
        required=False,
        label="Average busy instances",
        help_text="instead of requests",
        **_range("avg_instances"),
    )
