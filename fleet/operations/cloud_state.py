"""What the console knows of a service's cloud, and what the workers record about it.

The lower layer of cloud operations: how to reach a service's cloud (pacing, timeouts, adapter),
the snapshot and observed scaling read from it, and who did something. `services` (state changes
requested by people: redeploys, releases, scaling, discovery) and `tasks` (what the workers run)
both build on this module; it imports neither, so the dependencies point one way:
views/api -> releases -> services -> tasks -> cloud_state -> models -> clouds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from console.audit import record_action
from fleet.models import Service
from fleet.operations.clouds.base import CloudAdapter
from fleet.operations.clouds.pacing import DEFAULT_PACING, Pacing
from fleet.operations.clouds.registry import adapter_for
from fleet.operations.clouds.types import ScalingSettings, ServiceSnapshot
from fleet.operations.models import SCALING_FIELDS, CloudSnapshot, ScalingChange, ServiceScaling

PROVIDER_NAMES = {
    "gcp": "Cloud Run",
    "aws": "ECS",
    "azure": "Container Apps",
    "kubernetes": "Kubernetes",
}


def cloud_pacing() -> Pacing:
    """Retry/poll pace for cloud calls (settings.FLEET_CLOUD_PACING, tests use a fast one)."""
    return getattr(settings, "FLEET_CLOUD_PACING", None) or DEFAULT_PACING


def operation_timeout_s() -> float:
    """How long a redeploy or scaling change may take before it is reported as unknown."""
    return float(getattr(settings, "FLEET_CLOUD_OPERATION_TIMEOUT_SECONDS", 600))


def adapter_for_service(service: Service) -> CloudAdapter:
    return adapter_for(service.account.to_ref(), pacing=cloud_pacing())


def actor_label(actor: Any) -> str:
    if isinstance(actor, str):
        return actor
    return getattr(actor, "username", "") or "system"


def actor_user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def check_cloud_managed(service: Service, field: str = "service") -> None:
    """A service can be redeployed or scaled only through a cloud account with an adapter."""
    if not service.account_id or service.account.provider == "url":
        raise ValidationError(
            {
                field: f"'{service.name}' is not in a cloud account (plain URL): the console cannot "
                "redeploy or scale it. Give it a cloud account and a resource first."
            }
        )
    if not service.resource:
        raise ValidationError(
            {
                field: f"'{service.name}' has no resource: set the platform's name for it "
                f"(the {PROVIDER_NAMES[service.account.provider]} service) first."
            }
        )


def snapshot_data(snapshot: ServiceSnapshot) -> dict:
    data = dataclasses.asdict(snapshot)
    data.pop("raw", None)
    return data


def sync_observed(
    service: Service, actor: Any = "system", source: str = "system", *, record_change: bool = True
) -> CloudSnapshot:
    """Describe the service in its cloud and store the snapshot and the observed scaling.

    `record_change=False` when the caller records the change itself (reading back after Apply).
    """
    check_cloud_managed(service)
    snapshot = adapter_for_service(service).describe(service.to_ref())
    return store_snapshot(
        service, snapshot, actor=actor, source=source, record_change=record_change
    )


def store_snapshot(
    service: Service,
    snapshot: ServiceSnapshot,
    *,
    actor: Any = "system",
    source: str = "system",
    record_change: bool = True,
) -> CloudSnapshot:
    """Record what the cloud said; a change in observed scaling becomes a history entry."""
    account = service.account
    now = timezone.now()
    with transaction.atomic():
        stored, _ = CloudSnapshot.objects.update_or_create(
            service=service,
            defaults={
                "provider": account.provider,
                "account_name": account.name,
                "endpoint": account.endpoint,
                "resource": snapshot.resource or service.resource,
                "data": snapshot_data(snapshot),
                "raw": snapshot.raw or {},
                "observed_at": now,
            },
        )
        scaling, _ = ServiceScaling.objects.select_for_update().get_or_create(service=service)
        before = scaling.observed() if scaling.observed_at else {}
        after = snapshot.scaling.as_dict()
        for field in SCALING_FIELDS:
            value = after.get(field)
            if field not in ("min_instances", "max_instances", "concurrency"):
                value = "" if value is None else str(value)
            setattr(scaling, f"observed_{field}", value)
        scaling.observed_at, scaling.sync_error = now, ""
        scaling.save()
        after = scaling.observed()
        if record_change and before != after:
            ScalingChange.objects.create(
                service=service,
                kind=ScalingChange.Kind.OBSERVED,
                actor=actor_user(actor),
                actor_label=actor_label(actor),
                before=before,
                after=after,
                detail=f"Read from {account.name} ({account.get_provider_display()}).",
            )
            if before:  # the first sync is not a change anyone made
                record_action(
                    actor,
                    "scaling-observed",
                    service,
                    source=source,
                    before=before,
                    after=after,
                    detail=f"Scaling changed in {account.name}, outside the console or by it.",
                )
    return stored


def record_sync_error(service: Service, error: str) -> None:
    ServiceScaling.objects.update_or_create(service=service, defaults={"sync_error": error})


def scaling_for(service: Service) -> ServiceScaling:
    scaling, _ = ServiceScaling.objects.get_or_create(service=service)
    return scaling


def settings_to_apply(scaling: ServiceScaling) -> ScalingSettings:
    """The desired values that differ from what was last observed (all of them if never synced)."""
    desired = scaling.desired()
    if scaling.observed_at is not None:
        drift = scaling.drift()
        desired = {f: (desired[f] if f in drift else None) for f in SCALING_FIELDS}
    return ScalingSettings(**desired)
