"""Budget API endpoints (`/api/v1/budgets`, the what-if at `/api/v1/services/{name}/cost-estimate`).

Thin: parse, call the service layer, shape. Amounts travel as decimal strings so no cent is lost.
"""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from console import limits
from console.api_errors import require_role
from fleet.api_schemas import ErrorOut
from fleet.budgets import costs, whatif
from fleet.budgets import services as budget_services
from fleet.budgets.models import Budget
from fleet.models import Service
from fleet.operations.clouds.types import ScalingSettings

router = Router(tags=["budgets"])


class ThresholdIn(Schema):
    percent: str | float | int
    basis: str = "actual"


class BudgetIn(Schema):
    name: str
    scope: str
    scope_value: str = ""
    amount: str | float | int
    currency: str = "USD"
    thresholds: list[ThresholdIn] | None = Field(
        default=None, description="Default: 50, 90 and 100 % of actual spend."
    )
    channels: list[str] = Field(
        default_factory=list,
        description="Alert channel names; empty: the channels whose routing matches the scope.",
    )
    gcp_pubsub_topic: str = Field("", description="projects/PROJECT/topics/TOPIC")
    gcp_notification_channels: list[str] = Field(
        default_factory=list,
        description="Up to 5 Cloud Monitoring email channels: projects/PROJECT/notificationChannels/ID",
    )
    aws_sns_topic_arn: str = Field("", description="arn:aws:sns:REGION:ACCOUNT_ID:TOPIC")


class CloudBudgetOut(Schema):
    account: str
    provider: str
    provider_budget_id: str
    status: str
    reason: str
    last_synced_at: datetime | None


class BudgetOut(Schema):
    id: int
    name: str
    scope: str
    scope_value: str
    amount: str
    currency: str
    thresholds: list[dict]
    channels: list[str]
    gcp_pubsub_topic: str
    gcp_notification_channels: list[str]
    aws_sns_topic_arn: str
    sync_status: str
    sync_reason: str
    last_synced_at: datetime | None
    cloud_budgets: list[CloudBudgetOut]
    spend_actual: str | None
    spend_forecast: str | None
    spend_source: str
    spend_as_of: date | None
    spend_reported: str | None = Field(
        None, description="The part of spend_actual AWS Budgets reported; the rest is estimated."
    )
    spend_reported_from: list[str] = Field(default_factory=list, description="Account names.")


class JobOut(Schema):
    job_id: int
    status: str


class EstimateQuery(Schema):
    provider: str = ""
    min_instances: int | None = None
    max_instances: int | None = None
    concurrency: int | None = None
    cpu: str | None = None
    memory: str | None = None
    requests_per_month: int | None = None
    request_seconds: float | None = None
    avg_instances: float | None = None


class EstimateOut(Schema):
    service: str
    provider: str
    amount: str
    currency: str
    scaling: dict
    breakdown: list[str]
    assumptions: list[str]


def _out(budget: Budget) -> dict:
    state = budget_services.budget_state(budget)
    return {
        **state,
        "id": budget.pk,
        "sync_status": budget.sync_status,
        "sync_reason": budget.sync_reason,
        "last_synced_at": budget.last_synced_at,
        "cloud_budgets": [
            {
                "account": c.account.name,
                "provider": c.account.provider,
                "provider_budget_id": c.provider_budget_id,
                "status": c.status,
                "reason": c.reason,
                "last_synced_at": c.last_synced_at,
            }
            for c in budget.cloud_budgets.all()
        ],
        "spend_actual": None if budget.spend_actual is None else f"{budget.spend_actual}",
        "spend_forecast": None if budget.spend_forecast is None else f"{budget.spend_forecast}",
        "spend_source": budget.spend_source,
        "spend_as_of": budget.spend_as_of,
        "spend_reported": None if budget.spend_reported is None else f"{budget.spend_reported}",
        "spend_reported_from": budget.spend_reported_from or [],
    }


def _spec(payload: BudgetIn) -> dict:
    spec = payload.dict()
    spec["amount"] = str(spec["amount"])
    if payload.thresholds is not None:
        spec["thresholds"] = [
            {"percent": str(t.percent), "basis": t.basis} for t in payload.thresholds
        ]
    return spec


def _budgets():
    return Budget.objects.prefetch_related("cloud_budgets__account", "channels")


@router.get("/budgets", response=list[BudgetOut], summary="List budgets with spend and sync state")
def list_budgets(request: HttpRequest):
    return [_out(b) for b in _budgets()]


@router.post("/budgets", response={201: BudgetOut, 403: ErrorOut, 422: ErrorOut})
def create_budget(request: HttpRequest, payload: BudgetIn):
    require_role(request, "operator")
    budget = budget_services.save_budget(actor=request.user, source="api", spec=_spec(payload))
    return Status(201, _out(_budgets().get(pk=budget.pk)))


@router.get("/budgets/{budget_id}", response={200: BudgetOut, 404: ErrorOut})
def get_budget(request: HttpRequest, budget_id: int):
    return _out(get_object_or_404(_budgets(), pk=budget_id))


@router.put(
    "/budgets/{budget_id}", response={200: BudgetOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
)
def update_budget(request: HttpRequest, budget_id: int, payload: BudgetIn):
    require_role(request, "operator")
    budget = get_object_or_404(Budget, pk=budget_id)
    budget_services.save_budget(
        actor=request.user, source="api", spec=_spec(payload), instance=budget
    )
    return _out(_budgets().get(pk=budget.pk))


@router.delete("/budgets/{budget_id}", response={204: None, 403: ErrorOut, 404: ErrorOut})
def delete_budget(request: HttpRequest, budget_id: int):
    require_role(request, "operator")
    budget = get_object_or_404(Budget, pk=budget_id)
    budget_services.delete_budget(actor=request.user, source="api", budget=budget)
    return Status(204, None)


@router.post("/budgets/{budget_id}/sync", response={202: JobOut, 403: ErrorOut, 404: ErrorOut})
def sync_budget(request: HttpRequest, budget_id: int, force: bool = False):
    """Queue a sync to the clouds; `force=true` overwrites changes made in the cloud."""
    require_role(request, "operator")
    budget = get_object_or_404(Budget, pk=budget_id)
    job = budget_services.sync_budget(actor=request.user, source="api", budget=budget, force=force)
    job.refresh_from_db()
    return Status(202, {"job_id": job.pk, "status": job.status})


@router.get(
    "/services/{name}/cost-estimate",
    response={200: EstimateOut, 404: ErrorOut, 422: ErrorOut},
    summary="Estimated monthly cost with these scaling settings (the what-if; changes nothing)",
)
def cost_estimate(request: HttpRequest, name: str, query: Query[EstimateQuery]):
    service = get_object_or_404(Service.objects.select_related("account"), name=name)
    known = whatif.known_scaling(service) or ScalingSettings()
    given = {k: getattr(query, k) for k in whatif.SCALING_KEYS if getattr(query, k) is not None}
    problems = limits.number_problems(given, ("min_instances", "concurrency"))
    if (high := given.get("max_instances")) is not None and (
        problem := limits.number_problem(high, limits.BOUNDS["estimate.max_instances"])
    ):
        problems["max_instances"] = problem
    if problems:
        raise ValidationError(problems)
    scaling = ScalingSettings(**{**known.as_dict(), **given})
    provider = query.provider or whatif.default_provider(service)
    estimate = whatif.estimate(
        provider,
        scaling,
        requests_per_month=query.requests_per_month,
        request_seconds=query.request_seconds,
        avg_instances=query.avg_instances,
    )
    return {
        "service": service.name,
        "provider": provider,
        "amount": f"{estimate.amount}",
        "currency": estimate.currency,
        "scaling": scaling.as_dict(),
        "breakdown": estimate.breakdown,
        "assumptions": estimate.assumptions,
    }


class CostOut(Schema):
    service: str
    month: str
    month_to_date: str | None
    forecast: str | None
    currency: str
    source: str = Field(description='"reported", "estimated", or "" when nothing is recorded')
    as_of: date | None
    used_for_alerts: bool = Field(
        True,
        description="False when every budget covering the service alerts on the spend AWS "
        "Budgets reports for its account instead (see reported_instead_by)",
    )
    reported_instead_by: list[str] = Field(
        default_factory=list,
        description="Budgets that alert on AWS's reported spend instead of this figure",
    )


@router.get(
    "/services/{name}/cost",
    response={200: CostOut, 404: ErrorOut},
    summary="This month's cost of the service: the figure every page shows and budget alerts "
    "use, unless a budget takes AWS's reported spend instead",
)
def service_cost(request: HttpRequest, name: str):
    service = get_object_or_404(Service.objects.select_related("account"), name=name)
    budgets = budget_services.budgets_for(service)
    instead = costs.reported_instead(service, budgets)
    return {
        "service": service.name,
        **costs.month_cost(service.pk).as_dict(),
        "used_for_alerts": not budgets or len(instead) < len(budgets),
        "reported_instead_by": [b.name for b in instead],
    }
