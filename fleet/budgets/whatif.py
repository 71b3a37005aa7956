"""The scaling what-if: the estimated monthly cost of a service with other scaling settings."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, ValidationError

from console import limits
from fleet.budgets.services import current_prices
from fleet.costs.errors import CostInputError
from fleet.costs.estimate import PROVIDERS, CostEstimate, estimate_monthly_cost
from fleet.models import Service
from fleet.operations.clouds.types import ScalingSettings

SCALING_KEYS = ("min_instances", "max_instances", "concurrency", "cpu", "memory")


def known_scaling(service: Service) -> ScalingSettings | None:
    """The scaling the console last observed in the cloud, when the registry has it."""
    try:
        row = service.scaling  # fleet.operations.models.ServiceScaling, filled by cloud syncs
    except (ObjectDoesNotExist, AttributeError):
        return None
    observed = row.observed() if row.observed_at else {}
    if not any(v is not None for v in observed.values()):
        return None
    return ScalingSettings(**{k: observed.get(k) for k in SCALING_KEYS})


def pending_scaling(service: Service) -> ScalingSettings | None:
    """The scaling after Apply: observed values with the saved desired ones over them.

    None when no desired value differs from the cloud (nothing is waiting to be applied).
    """
    try:
        row = service.scaling
    except (ObjectDoesNotExist, AttributeError):
        return None
    if not row.drift():
        return None
    observed = row.observed()
    merged = {k: v if v is not None else observed.get(k) for k, v in row.desired().items()}
    return ScalingSettings(**{k: merged.get(k) for k in SCALING_KEYS})


def default_provider(service: Service) -> str:
    return service.provider if service.provider in PROVIDERS else "gcp"


def estimate(
    provider: str,
    scaling: ScalingSettings,
    *,
    requests_per_month: int | None = None,
    request_seconds: float | None = None,
    avg_instances: float | None = None,
) -> CostEstimate:
    """Estimated monthly cost; bad input raises ValidationError naming the field."""
    # Scaling may be what the cloud reports (checked where a person types it); traffic is typed.
    given = {
        "requests_per_month": requests_per_month,
        "request_seconds": request_seconds,
        "avg_instances": avg_instances,
    }
    problems = limits.number_problems(given, tuple(given))
    if problems:
        raise ValidationError(problems)
    try:
        return estimate_monthly_cost(
            provider,
            scaling,
            prices=current_prices(),
            avg_instances=avg_instances,
            requests_per_month=requests_per_month,
            request_seconds=request_seconds,
        )
    except CostInputError as exc:
        message = str(exc).split(": ", 1)[-1]
        raise ValidationError({exc.field: f"{exc.field} {message}"}) from exc
