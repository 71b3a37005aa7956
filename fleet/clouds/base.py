"""The interface every cloud platform adapter implements, plus the helpers they share.

The console only ever talks to `CloudAdapter`; each platform module (cloudrun, ecs,
container_apps, kubernetes) wraps its official SDK behind it. Errors are the `CloudError`
hierarchy, re-exported here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from fleet.clouds.errors import (
    CloudError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Throttled,
    Timeout,
    Unavailable,
)
from fleet.clouds.pacing import DEFAULT_PACING, Pacing
from fleet.clouds.types import (
    AccountRef,
    OperationResult,
    Provider,
    ScalingSettings,
    ServiceRef,
    ServiceSnapshot,
)

__all__ = [
    "CloudAdapter",
    "CloudError",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "Throttled",
    "Timeout",
    "Unavailable",
    "label_matches",
    "parse_label_filter",
]

ProgressCallback = Callable[[str], None]


class CloudAdapter(ABC):
    """Describe, discover, redeploy and rescale services on one cloud account."""

    provider: Provider

    def __init__(self, account: AccountRef, *, pacing: Pacing = DEFAULT_PACING) -> None:
        self.account = account
        self.pacing = pacing

    @abstractmethod
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """The service as the cloud currently knows it."""

    @abstractmethod
    def list_services(self, account: AccountRef, label: str = "") -> list[ServiceSnapshot]:
        """Every service in the account's scope, or only those carrying `label` ("k" or "k=v")."""

    @abstractmethod
    def redeploy(
        self,
        service: ServiceRef,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Roll out fresh instances of the same image and wait for the rollout."""

    @abstractmethod
    def apply_scaling(
        self,
        service: ServiceRef,
        settings: ScalingSettings,
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Change only the non-None scaling fields and wait for the change to take effect."""


def parse_label_filter(label: str) -> tuple[str, str | None]:
    """Split "key=value" into (key, value); a bare "key" matches any value (value None)."""
    key, sep, value = label.partition("=")
    return key.strip(), (value.strip() if sep else None)


def label_matches(labels: dict[str, str], label: str) -> bool:
    """Whether a resource's labels/tags satisfy a discovery filter; "" matches everything."""
    if not label:
        return True
    key, value = parse_label_filter(label)
    if key not in labels:
        return False
    return value is None or labels[key] == value


def reject_unsupported(provider: str, resource: str, settings: ScalingSettings, **why: str) -> None:
    """Refuse scaling fields a platform has no equivalent for, instead of silently ignoring them."""
    for field_name, reason in why.items():
        if getattr(settings, field_name) is not None:
            raise InvalidRequest(
                f"{provider} cannot set {field_name.replace('_', ' ')} on {resource}: {reason}",
                provider=provider,
                resource=resource,
            )
