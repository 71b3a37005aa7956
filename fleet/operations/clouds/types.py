"""Plain data the cloud adapters take and return.

Kept free of Django so adapters, audits and budgets can share one vocabulary and be tested
without a database. The Django models convert to these with `CloudAccount.to_ref()` and
`Service.to_ref()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Provider = Literal["gcp", "aws", "azure", "kubernetes", "url"]


@dataclass(frozen=True)
class AccountRef:
    """Where a cloud account lives. Never carries credentials: those come from the SDK's chain."""

    name: str
    provider: Provider
    project: str = ""  # GCP project id
    account_id: str = ""  # AWS account id (informational)
    subscription: str = ""  # Azure subscription id
    resource_group: str = ""  # Azure resource group
    cluster: str = ""  # ECS cluster name, or kube context/cluster name
    namespace: str = ""  # Kubernetes namespace
    region: str = ""  # GCP location, AWS region, Azure location
    endpoint: str = ""  # API endpoint override: a loopback emulator only; "" = the SDK default
    billing_account: str = ""  # GCP billing account id, for budgets


@dataclass(frozen=True)
class ServiceRef:
    """One deployed service as the cloud knows it."""

    account: AccountRef
    resource: (
        str  # the platform's own name/id: Cloud Run service, ECS service, container app, Deployment
    )
    name: str = ""  # the console's name for it
    url: str = ""


@dataclass
class ScalingSettings:
    """Scaling as the console models it on every platform. None = not set / not known."""

    min_instances: int | None = None
    max_instances: int | None = None
    concurrency: int | None = None  # max concurrent requests per instance
    cpu: str | None = None  # as the platform spells it: "1", "500m", "0.5" (Kubernetes: limit)
    memory: str | None = None  # "512Mi", "1Gi", "2048" (ECS MiB) (Kubernetes: limit)
    # Kubernetes only: what the scheduler reserves per pod, apart from the limits above.
    cpu_request: str | None = None
    memory_request: str | None = None

    def as_dict(self) -> dict:
        """The five fields every platform has, plus the request fields when a platform set them."""
        fields = {
            "min_instances": self.min_instances,
            "max_instances": self.max_instances,
            "concurrency": self.concurrency,
            "cpu": self.cpu,
            "memory": self.memory,
        }
        for name in ("cpu_request", "memory_request"):
            if getattr(self, name) is not None:
                fields[name] = getattr(self, name)
        return fields


@dataclass
class EnvVar:
    name: str
    is_secret_ref: bool  # True when the value comes from a secret manager / Secret, not plain text
    value: str | None = (
        None  # plain value when not a secret ref (audits scan it); None for secret refs
    )


@dataclass
class ServiceSnapshot:
    """One normalised description of a deployed service, whatever the platform."""

    provider: Provider
    resource: str
    url: str = ""
    image: str = ""
    revision: str = ""  # current revision / task definition / ReplicaSet generation
    region: str = ""
    scaling: ScalingSettings = field(default_factory=ScalingSettings)
    ready_instances: int | None = None  # observed running replicas/tasks, when the platform says
    ingress: str = ""  # "all" | "internal" | "internal-and-cloud-load-balancing" | "none"
    allows_unauthenticated: bool | None = None  # None = cannot tell
    service_identity: str = ""  # service account / task role / managed identity
    env: list[EnvVar] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    raw: dict = field(default_factory=dict)  # the platform's own JSON, for evidence display
    created: str = ""  # ISO 8601 creation time of the resource, when the platform reports it


@dataclass
class OperationResult:
    """The outcome of a redeploy or scaling change."""

    status: Literal["succeeded", "failed", "unknown"]
    operation_id: str = ""
    revision_before: str = ""
    revision_after: str = ""
    message: str = ""
    image_before: str = ""
    image_after: str = ""
    # The platform's own account of a failure (stopped-task reasons, revision conditions, pod states
    # and recent events), one line each, shown on the redeploy/release page.
    diagnostics: list[str] = field(default_factory=list)
    # A URL that reaches the new revision alone (a Cloud Run revision tag's URL), for a canary's
    # probes; "" = none, so probes can only go through the service URL, which carries the split.
    probe_url: str = ""


@dataclass
class Revision:
    """One deployable version of a service, as the platform names it.

    Cloud Run and Container Apps: a revision; ECS: a task definition revision (family:N);
    Kubernetes: a ReplicaSet (its deployment.kubernetes.io/revision number).
    """

    name: str
    image: str = ""
    created: str = ""  # ISO 8601, as the platform reports it
    traffic_percent: int | None = None  # share of traffic it serves now; None = cannot tell
    active: bool = False  # serving (or able to serve) now
    ready: bool | None = None  # None = the platform does not say


@dataclass
class TrafficSplit:
    """A share of a service's traffic for one revision ("" = the latest ready revision)."""

    revision: str
    percent: int
    tag: str = ""


@dataclass
class UsageSample:
    """Usage over a period, for cost estimates."""

    start: str  # ISO 8601
    end: str
    instance_seconds: float = 0.0  # billable instance/container time
    vcpu_seconds: float = 0.0
    gib_seconds: float = 0.0
    requests: int = 0
