"""Forms for the registry. They only shape input; the rules live in fleet.validation/services."""

from __future__ import annotations

from django import forms

from console.forms import ListField
from fleet.models import CloudAccount, Provider, Service, ServiceKind, Transport


class ServiceForm(forms.Form):
    name = forms.CharField(max_length=63, help_text="Unique; lowercase letters, digits, . _ -")
    kind = forms.ChoiceField(choices=ServiceKind.choices)
    url = forms.CharField(
        label="URL", max_length=500, help_text="The MCP endpoint, e.g. https://host/mcp"
    )
    transport = forms.ChoiceField(choices=Transport.choices)
    health_path = forms.CharField(required=False, max_length=200, help_text="e.g. /healthz")
    metrics_path = forms.CharField(
        required=False,
        max_length=200,
        help_text="Prometheus metrics, e.g. /metrics (audits check it answers)",
    )
    environment = forms.CharField(required=False, max_length=40, initial="production")
    team = forms.CharField(required=False, max_length=63)
    owner = forms.CharField(required=False, max_length=150)
    tags = ListField(required=False, help_text="Comma-separated")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    account = forms.ModelChoiceField(
        queryset=CloudAccount.objects.all(),
        required=False,
        to_field_name="name",
        empty_label="— none (plain URL) —",
    )
    resource = forms.CharField(
        required=False, max_length=300, help_text="The platform's own name/id"
    )
    depends_on = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("name"),
        required=False,
        to_field_name="name",
        help_text="Agent backends only: the services it calls.",
    )

    def spec(self) -> dict:
        data = dict(self.cleaned_data)
        data["account"] = data["account"].name if data.get("account") else ""
        data["depends_on"] = [s.name for s in data.get("depends_on") or []]
        return data


class AccountForm(forms.Form):
    name = forms.CharField(max_length=63)
    provider = forms.ChoiceField(choices=Provider.choices)
    project = forms.CharField(required=False, max_length=100, help_text="GCP project id")
    region = forms.CharField(required=False, max_length=40)
    account_id = forms.CharField(required=False, max_length=20, label="AWS account id")
    cluster = forms.CharField(
        required=False, max_length=255, help_text="ECS cluster or kube context"
    )
    subscription = forms.CharField(required=False, max_length=64, help_text="Azure subscription id")
    resource_group = forms.CharField(
        required=False, max_length=90, help_text="Azure resource group"
    )
    namespace = forms.CharField(required=False, max_length=63, help_text="Kubernetes namespace")
    endpoint = forms.CharField(
        required=False,
        max_length=200,
        help_text="API endpoint override: only a local emulator on loopback (optional)",
    )
    billing_account = forms.CharField(
        required=False, max_length=40, help_text="GCP billing account"
    )
    probe_proxy_url = forms.CharField(
        required=False,
        max_length=300,
        label="Probe proxy",
        help_text="For this account's services unless their check settings say otherwise: "
        "http://host:port (or https://), or 'direct'. No credentials here.",
    )
    probe_proxy_auth_ref = forms.CharField(
        required=False,
        max_length=200,
        label="Probe proxy credentials reference",
        help_text="env:NAME or file:/path holding user:password (sent as Basic to the proxy).",
    )
    probe_tls_ca_bundle_ref = forms.CharField(
        required=False,
        max_length=200,
        label="Probe CA bundle reference",
        help_text="file:/path to a mounted PEM bundle: the CAs probes trust for these services.",
    )
    probe_tls_client_cert_ref = forms.CharField(
        required=False,
        max_length=200,
        label="Probe client certificate reference",
        help_text="file:/path to a mounted PEM certificate, for servers that require mTLS.",
    )
    probe_tls_client_key_ref = forms.CharField(
        required=False,
        max_length=200,
        label="Probe client key reference",
        help_text="file:/path to its PEM private key (leave empty if the certificate file has it).",
    )
    prometheus_url = forms.CharField(
        required=False,
        max_length=300,
        label="Prometheus URL",
        help_text="Kubernetes: Prometheus HTTP API counting requests (optional)",
    )

    def spec(self) -> dict:
        return dict(self.cleaned_data)
