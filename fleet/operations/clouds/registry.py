"""Which adapter serves an account: one place maps a provider to its platform module."""

from __future__ import annotations

from fleet.operations.clouds.base import CloudAdapter
from fleet.operations.clouds.errors import InvalidRequest
from fleet.operations.clouds.pacing import DEFAULT_PACING, Pacing
from fleet.operations.clouds.types import AccountRef


def adapter_for(account: AccountRef, *, pacing: Pacing = DEFAULT_PACING) -> CloudAdapter:
    """The adapter for `account.provider`, with SDK clients built from the standard chain."""
    # Imported lazily so that using one cloud never loads (or needs) another cloud's SDK.
    if account.provider == "gcp":
        from fleet.operations.clouds.cloudrun import CloudRunAdapter

        return CloudRunAdapter(account, pacing=pacing)
    if account.provider == "aws":
        from fleet.operations.clouds.ecs import EcsAdapter

        return EcsAdapter(account, pacing=pacing)
    if account.provider == "azure":
        from fleet.operations.clouds.container_apps import ContainerAppsAdapter

        return ContainerAppsAdapter(account, pacing=pacing)
    if account.provider == "kubernetes":
        from fleet.operations.clouds.kubernetes import KubernetesAdapter

        return KubernetesAdapter(account, pacing=pacing)
    raise InvalidRequest(
        f"Account '{account.name}' has provider '{account.provider}', which has no cloud adapter: "
        "plain URL services can be probed but not redeployed or scaled.",
        provider=account.provider,
        resource=account.name,
    )


def adapter_class(provider: str) -> type[CloudAdapter] | None:
    """The adapter class for a provider (for its class-level facts), or None for plain URLs."""
    if provider == "gcp":
        from fleet.operations.clouds.cloudrun import CloudRunAdapter

        return CloudRunAdapter
    if provider == "aws":
        from fleet.operations.clouds.ecs import EcsAdapter

        return EcsAdapter
    if provider == "azure":
        from fleet.operations.clouds.container_apps import ContainerAppsAdapter

        return ContainerAppsAdapter
    if provider == "kubernetes":
        from fleet.operations.clouds.kubernetes import KubernetesAdapter

        return KubernetesAdapter
    return None


BASE_SCALING_FIELDS = CloudAdapter.scaling_fields


def scaling_fields_for(provider: str) -> tuple[str, ...]:
    """The scaling fields a platform has, as its adapter declares them."""
    cls = adapter_class(provider)
    return cls.scaling_fields if cls is not None else BASE_SCALING_FIELDS
