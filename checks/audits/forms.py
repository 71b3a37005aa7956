"""Forms for attestations and the admin's audit settings; rules are checked in the service layer."""

from __future__ import annotations

import re

from django import forms

from checks.audits.catalogue import SECTIONS
from checks.audits.models import SEVERITY_CHOICES, CustomRule
from console import limits
from console.forms import ListField


class AttestationForm(forms.Form):
    # A plain field behind a select: an unknown id reaches the service layer, which names it.
    rule = forms.CharField(label="Rule", required=False, widget=forms.Select)
    note = forms.CharField(
        label="Note",
        required=False,  # the service layer names the missing note, one message everywhere
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What was checked, and how"}),
    )

    def __init__(self, *args, rules=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].widget.choices = [("", "choose a manual rule")] + [
            (r.id, f"{r.id} — {r.title}") for r in rules
        ]


class BulkAttestationForm(forms.Form):
    """One manual rule for many services; the selectors combine (all must match)."""

    rule = forms.CharField(label="Rule", required=False, widget=forms.Select)
    team = forms.CharField(label="Team", required=False, widget=forms.Select)
    environment = forms.CharField(label="Environment", required=False, widget=forms.Select)
    tag = forms.CharField(label="Tag", required=False, max_length=63)
    services = ListField(
        label="Services",
        required=False,
        help_text="Names, comma or space separated.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    note = forms.CharField(
        label="Note",
        required=False,  # the service layer names a missing note
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What was checked, and how"}),
    )
    expires_on = forms.CharField(
        label="Expires on",
        required=False,  # parsed and bounded by the service layer, one message everywhere
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Blank = the policy's expiry.",
    )

    def __init__(self, *args, rules=(), teams=(), environments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rule"].widget.choices = [("", "choose a manual rule")] + [
            (r.id, f"{r.id} — {r.title}") for r in rules
        ]
        self.fields["team"].widget.choices = [("", "any team")] + [(t, t) for t in teams]
        self.fields["environment"].widget.choices = [("", "any environment")] + [
            (e, e) for e in environments
        ]


class PolicyForm(forms.Form):
    attestation_expiry_days = forms.IntegerField(
        label="Attestation expiry (days)",
        min_value=limits.BOUNDS["attestation_expiry_days"].low,
        max_value=limits.BOUNDS["attestation_expiry_days"].high,
    )
    allowed_regions = forms.CharField(
        label="Allowed regions",
        required=False,
        help_text="Comma or line separated; patterns like europe-* allowed. Empty = no restriction.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    oldest_protocol_version = forms.CharField(
        label="Oldest MCP protocol version", required=False, max_length=10
    )
    tls_warning_days = forms.IntegerField(
        label="TLS warning (days)",
        min_value=limits.BOUNDS["tls_warning_days"].low,
        max_value=limits.BOUNDS["tls_warning_days"].high,
    )

    def clean_allowed_regions(self) -> list[str]:
        raw = self.cleaned_data.get("allowed_regions") or ""
        return [part.strip() for part in re.split(r"[,\n]", raw) if part.strip()]


class RuleSettingForm(forms.Form):
    enabled = forms.BooleanField(required=False)
    severity = forms.ChoiceField(choices=[("", "default")] + SEVERITY_CHOICES, required=False)


class CustomRuleForm(forms.ModelForm):
    section = forms.ChoiceField(choices=list(SECTIONS.items()), initial="compliance")

    class Meta:
        model = CustomRule
        fields = ["rule_id", "section", "title", "rationale", "evidence", "severity", "applies_to"]
        widgets = {
            "rationale": forms.Textarea(attrs={"rows": 2}),
            "evidence": forms.Textarea(attrs={"rows": 2}),
        }
