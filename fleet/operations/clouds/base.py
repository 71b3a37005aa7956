"""The interface every cloud platform adapter implements, plus the helpers they share.

The console only ever talks to `CloudAdapter`; each platform module (cloudrun, ecs,
container_apps, kubernetes) wraps its official SDK behind it. Errors are the `CloudError`
hierarchy, re-exported here.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fleet.operations.clouds.errors import (
    CloudError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Throttled,
    Timeout,
    Unavailable,
)
from fleet.operations.clouds.pacing import (
    DEFAULT_PACING,
    Pacing,
    call_with_retry,
    retry_after_of,
)
from fleet.operations.clouds.types import (
    AccountRef,
    OperationResult,
    Provider,
    Revision,
    ScalingSettings,
    ServiceRef,
    ServiceSnapshot,
    TrafficSplit,
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
# Describes in flight at once per account when a platform has no list or batch read.
DESCRIBE_CONCURRENCY = 8
T = TypeVar("T")


class CloudAdapter(ABC):
    """Describe, discover, redeploy and rescale services on one cloud account."""

    provider: Provider
    # The ScalingSettings fields this platform reads and writes (Kubernetes adds requests).
    scaling_fields: tuple[str, ...] = (
        "min_instances",
        "max_instances",
        "concurrency",
        "cpu",
        "memory",
    )

    def __init__(self, account: AccountRef, *, pacing: Pacing = DEFAULT_PACING) -> None:
        self.account = account
        self.pacing = pacing

    @abstractmethod
    def describe(self, service: ServiceRef) -> ServiceSnapshot:
        """The service as the cloud currently knows it."""

    def describe_many(self, services: list[ServiceRef]) -> dict[str, ServiceSnapshot | Exception]:
        """Each service of this account described, keyed by resource; the error in place of a
        description that could not be read. An audit of thousands of services calls this once
        per account: platforms whose API can list or batch override it, so the cost is a few
        calls per account rather than several per service."""

        def one(ref: ServiceRef) -> ServiceSnapshot | Exception:
            try:
                return self.describe(ref)
            except Exception as exc:  # the caller reports each failure with its service
                return exc

        if len(services) < 2:
            return {ref.resource: one(ref) for ref in services}
        # The SDK clients are thread-safe; the waiting on the API overlaps, bounded per account.
        with ThreadPoolExecutor(max_workers=DESCRIBE_CONCURRENCY) as pool:
            return dict(zip([r.resource for r in services], pool.map(one, services), strict=True))

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

    # Releases. Platforms override what they support; the defaults refuse with a plain reason so
    # the console says "not supported on <platform>" instead of pretending.

    def supports_traffic_split(self, service: ServiceRef) -> bool:
        """Whether this service can split traffic between revisions (canary releases)."""
        return False

    def list_revisions(self, service: ServiceRef) -> list[Revision]:
        """Recorded revisions, newest first, with the traffic each serves now."""
        raise self._unsupported(service, "list revisions")

    def release(
        self,
        service: ServiceRef,
        image: str,
        *,
        reason: str = "",
        traffic_percent: int | None = None,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Deploy `image` (tag or digest) as a new revision and wait for a truthful verdict.

        With `traffic_percent` (canary), the new revision receives that share and the rest stays
        where it was; only where `supports_traffic_split()`.
        """
        raise self._unsupported(service, "deploy a new image")

    def set_traffic(
        self,
        service: ServiceRef,
        splits: list[TrafficSplit],
        *,
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Route traffic as `splits` say (canary promotion or abort) and wait until it serves so."""
        raise self._unsupported(service, "split traffic between revisions")

    def rollback(
        self,
        service: ServiceRef,
        revision: str,
        *,
        reason: str = "",
        timeout_s: float = 600,
        progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Return the service to a recorded `revision` and wait for a truthful verdict."""
        raise self._unsupported(service, "roll back")

    def _unsupported(self, service: ServiceRef, action: str) -> InvalidRequest:
        return InvalidRequest(
            f"{self.provider} cannot {action} for {service.resource}: not supported by this adapter",
            provider=self.provider,
            resource=service.resource,
        )

    def translate_error(self, exc: Exception, permission: str, resource: str) -> CloudError | None:
        """Map an SDK exception to a CloudError naming permission and resource (None = not ours)."""
        return None

    def call(
        self, permission: str, resource: str, fn: Callable[..., T], *args: Any, **kw: Any
    ) -> T:
        """Call the SDK, translating its errors and retrying throttling / 5xx with backoff."""

        def attempt() -> T:
            try:
                return fn(*args, **kw)
            except CloudError:
                raise
            except Exception as exc:
                error = self.translate_error(exc, permission, resource)
                if error is None:
                    raise
                raise error from exc

        return call_with_retry(attempt, self.pacing)


MAX_RETRY_AFTER_S = 60.0  # a longer Retry-After is not waited out inside one call


class HonoursRetryAfter:
    """For adapters whose SDK errors carry the HTTP response: a 429/503's Retry-After is waited
    out (up to a minute) before `CloudAdapter.call` tries again."""

    pacing: Pacing

    def call(
        self, permission: str, resource: str, fn: Callable[..., T], *args: Any, **kw: Any
    ) -> T:
        tries = [0]

        def honouring(*a: Any, **k: Any) -> T:
            tries[0] += 1
            try:
                return fn(*a, **k)
            except Exception as exc:
                wait = retry_after_of(exc)
                if wait and tries[0] < self.pacing.attempts:
                    time.sleep(min(wait, MAX_RETRY_AFTER_S))
                raise

        return super().call(permission, resource, honouring, *args, **kw)  # type: ignore[misc]


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


def require_image(image: str, provider: str, resource: str) -> str:
    """The image reference, stripped; refuses an empty or malformed one before any cloud call.

    The release service checks the full OCI grammar first; this guards direct adapter calls.
    """
    image = (image or "").strip()
    if not image or any(c.isspace() for c in image) or len(image) > 1000:
        raise InvalidRequest(
            "image: give a container image reference (registry/repository:tag or @sha256:digest)"
            f", not {image!r}.",
            provider=provider,
            resource=resource,
        )
    return image


def require_splits(splits: list[TrafficSplit], resource: str) -> None:
    """Refuse a traffic split that is empty, out of range or does not add up to 100 %."""
    if not splits:
        raise InvalidRequest(
            "splits: give at least one revision and its percent.", resource=resource
        )
    for split in splits:
        if not 0 <= split.percent <= 100:
            raise InvalidRequest(
                f"splits: percent {split.percent} for {split.revision or 'latest'} must be "
                "between 0 and 100.",
                resource=resource,
            )
    total = sum(s.percent for s in splits)
    if total != 100:
        raise InvalidRequest(
            f"splits: percentages must add up to 100, not {total}.", resource=resource
        )
