"""The fleet registry: cloud accounts, services and who calls whom."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from fleet import validation
from fleet.operations.clouds.types import AccountRef, ServiceRef


class Provider(models.TextChoices):
    GCP = "gcp", "Google Cloud Run"
    AWS = "aws", "AWS ECS / Fargate"
    AZURE = "azure", "Azure Container Apps"
    KUBERNETES = "kubernetes", "Kubernetes"
    URL = "url", "Plain URL"


class CloudAccount(models.Model):
    """Where services run. Holds locations only: credentials come from the platform's own chain."""

    name = models.CharField(max_length=63, unique=True)
    provider = models.CharField(max_length=12, choices=Provider.choices)
    project = models.CharField(max_length=100, blank=True, help_text="GCP project id")
    account_id = models.CharField(max_length=20, blank=True, help_text="AWS account id")
    subscription = models.CharField(max_length=64, blank=True, help_text="Azure subscription id")
    resource_group = models.CharField(max_length=90, blank=True, help_text="Azure resource group")
    cluster = models.CharField(max_length=255, blank=True, help_text="ECS cluster or kube context")
    namespace = models.CharField(max_length=63, blank=True, help_text="Kubernetes namespace")
    region = models.CharField(max_length=40, blank=True)
    endpoint = models.CharField(
        max_length=200,
        blank=True,
        help_text="API endpoint override (emulators, private endpoints).",
    )
    billing_account = models.CharField(
        max_length=40, blank=True, help_text="GCP billing account id"
    )
    # How probes reach this account's services unless a service's check settings say otherwise
    # (README: "Proxies, private CAs and mTLS"): references only, never secrets or PEM text.
    probe_proxy_url = models.CharField(max_length=300, blank=True)
    probe_proxy_auth_ref = models.CharField(max_length=200, blank=True)
    probe_tls_ca_bundle_ref = models.CharField(max_length=200, blank=True)
    probe_tls_client_cert_ref = models.CharField(max_length=200, blank=True)
    probe_tls_client_key_ref = models.CharField(max_length=200, blank=True)
    # Kubernetes: a Prometheus HTTP API (e.g. http://prometheus.monitoring:9090) whose ingress
    # controller or mesh metrics count requests; audits query it once per namespace.
    prometheus_url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validation.validate_name(self.name)
        validation.validate_account_fields(self.provider, self.__dict__)
        if errors := validation.network_problems(self.__dict__, prefix="probe_"):
            raise ValidationError(errors)

    def to_ref(self) -> AccountRef:
        return AccountRef(
            name=self.name,
            provider=self.provider,
            project=self.project,
            account_id=self.account_id,
            subscription=self.subscription,
            resource_group=self.resource_group,
            cluster=self.cluster,
            namespace=self.namespace,
            region=self.region,
            endpoint=self.endpoint,
            billing_account=self.billing_account,
        )


class ServiceKind(models.TextChoices):
    MCP_SERVER = "mcp_server", "MCP server"
    AGENT_BACKEND = "agent_backend", "Agent backend"


class Transport(models.TextChoices):
    STREAMABLE_HTTP = "streamable-http", "Streamable HTTP"
    SSE = "sse", "HTTP+SSE (legacy)"


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    UP = "up", "Up"
    DEGRADED = "degraded", "Degraded"
    DOWN = "down", "Down"
    NEEDS_CREDENTIALS = "needs_auth", "Needs credentials"


class Service(models.Model):
    """One MCP server or agent backend, deployed as its own service."""

    name = models.CharField(max_length=63, unique=True)
    kind = models.CharField(
        max_length=16, choices=ServiceKind.choices, default=ServiceKind.MCP_SERVER
    )
    url = models.CharField(
        max_length=500, help_text="http(s) URL of the MCP endpoint or the backend."
    )
    transport = models.CharField(
        max_length=16, choices=Transport.choices, default=Transport.STREAMABLE_HTTP
    )
    health_path = models.CharField(max_length=200, blank=True)
    # Where the service exposes Prometheus metrics (e.g. /metrics); audits scrape it once.
    metrics_path = models.CharField(max_length=200, blank=True)
    environment = models.CharField(max_length=40, blank=True, default="production", db_index=True)
    team = models.CharField(max_length=63, blank=True, db_index=True)
    owner = models.CharField(max_length=150, blank=True)
    tags = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)
    account = models.ForeignKey(
        CloudAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="services"
    )
    resource = models.CharField(
        max_length=300, blank=True, help_text="The platform's own name or id for this service."
    )
    dependencies = models.ManyToManyField(
        "self", through="Dependency", symmetrical=False, related_name="dependents", blank=True
    )
    # Current health, kept on the row so the dashboard reads it without joins.
    status = models.CharField(
        max_length=10, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN, db_index=True
    )
    status_changed_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["kind", "name"])]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("service-detail", args=[self.name])

    @property
    def provider(self) -> str:
        return self.account.provider if self.account_id else "url"

    def clean(self) -> None:
        validation.validate_name(self.name)
        validation.validate_http_url(self.url, "url")
        validation.validate_health_path(self.health_path)
        validation.validate_metrics_path(self.metrics_path)
        validation.validate_tags(self.tags)
        provider = self.account.provider if self.account_id else None
        validation.validate_resource(provider, self.resource)

    def to_ref(self) -> ServiceRef:
        return ServiceRef(
            account=self.account.to_ref()
            if self.account_id
            else AccountRef(name="", provider="url"),
            resource=self.resource,
            name=self.name,
            url=self.url,
        )


class Dependency(models.Model):
    """An agent backend (caller) calls a service (callee), usually an MCP server."""

    caller = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="calls")
    callee = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="called_by")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["caller", "callee"], name="unique_dependency"),
            models.CheckConstraint(
                condition=~models.Q(caller=models.F("callee")), name="no_self_dependency"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.caller} → {self.callee}"


from fleet.operations import models as operations_models  # noqa: E402,F401  (snapshots, scaling, redeploys)
