"""Forms for channels and silences. They only shape input; the rules live in validation/services."""

from __future__ import annotations

from django import forms

from console.forms import ListField
from console.notifications.models import EVENT_KINDS, ChannelType
from console.secret_refs import REF_HELP


class ChannelForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="Unique; lowercase letters, digits, . _ -")
    type = forms.ChoiceField(choices=ChannelType.choices)
    target = forms.CharField(
        max_length=2000,
        help_text="Webhook: an http(s) URL, or env:NAME / file:/path when the URL is secret. "
        "Slack: always env:NAME / file:/path (the URL is the secret). "
        "Email: comma-separated addresses.",
    )
    secret_header = forms.CharField(
        required=False, max_length=100, help_text="Webhooks only, e.g. Authorization"
    )
    secret_ref = forms.CharField(
        required=False,
        max_length=300,
        label="Secret value from",
        help_text=f"Never the value itself: {REF_HELP}, inside the deployer's allow-list "
        "(FLEET_SECRET_ENV_PREFIXES, FLEET_SECRET_DIRS). Sent only to the target's own origin.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    match_teams = ListField(required=False, label="Teams", help_text="Empty = every team")
    match_environments = ListField(
        required=False, label="Environments", help_text="Empty = every environment"
    )
    match_services = ListField(required=False, label="Services", help_text="Empty = every service")
    match_kinds = forms.MultipleChoiceField(
        required=False,
        label="Event kinds",
        choices=[(k, k) for k in EVENT_KINDS if k != "test"],
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked = every kind",
    )

    def spec(self) -> dict:
        return dict(self.cleaned_data)


class SilenceForm(forms.Form):
    match_service = forms.CharField(required=False, max_length=63, label="Service")
    match_team = forms.CharField(required=False, max_length=63, label="Team")
    match_environment = forms.CharField(required=False, max_length=40, label="Environment")
    starts_at = forms.DateTimeField(
        required=False,
        label="Starts (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Empty = now",
    )
    ends_at = forms.DateTimeField(
        label="Ends (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reason = forms.CharField(max_length=300, help_text="e.g. the change ticket")

    def spec(self) -> dict:
        return dict(self.cleaned_data)
