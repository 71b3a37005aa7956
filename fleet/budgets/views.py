"""Budget pages: the budgets overview, one budget, create/edit/delete/sync, and the what-if."""

from __future__ import annotations

import csv
from collections import defaultdict

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.access import role_required
from console.htmx import render_page, wants_fragment
from console.jobs import enqueue
from console.origin import job_url
from fleet.budgets import charts as budget_charts
from fleet.budgets import costs, whatif
from fleet.budgets import services as budget_services
from fleet.budgets.forms import BudgetForm, WhatIfForm, thresholds_text
from fleet.budgets.models import Budget, SpendRecord, SyncStatus
from fleet.budgets.tasks import ingest_spend_task
from fleet.models import Service
from fleet.operations.clouds.types import ScalingSettings


def _records_by_budget(budgets: list[Budget]) -> dict[int, list[SpendRecord]]:
    """This month's spend records of each budget (one query)."""
    latest = SpendRecord.objects.aggregate(day=Max("day"))["day"]
    grouped: dict[int, list[SpendRecord]] = defaultdict(list)
    if latest is None:
        return grouped
    month = SpendRecord.objects.filter(
        budget__in=budgets, day__year=latest.year, day__month=latest.month
    ).order_by("day")
    for record in month:
        grouped[record.budget_id].append(record)
    return grouped


def _costs(
    figures: dict[int, costs.CostFigure] | None = None,
) -> tuple[list[dict], list[costs.TeamCost]]:
    """This month's cost figure per service (the one every page shows), and per team."""
    figures = costs.month_costs() if figures is None else figures
    services = Service.objects.filter(pk__in=figures).only("name", "team").in_bulk()
    rows = [
        {"service": services[pk], "cost": figure}
        for pk, figure in figures.items()
        if pk in services
    ]
    rows.sort(key=lambda row: row["cost"].month_to_date, reverse=True)
    teams = costs.team_costs(figures, {pk: s.team for pk, s in services.items()})
    return rows, teams


@require_GET
def costs_csv(request: HttpRequest) -> HttpResponse:
    """This month's cost per service as CSV: the same figures as the pages."""
    rows, _ = _costs()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="service-costs.csv"'
    writer = csv.writer(response)
    writer.writerow(
        ["service", "team", "month", "month_to_date", "forecast", "currency", "source", "as_of"]
    )
    for row in rows:
        figure = row["cost"].as_dict()
        writer.writerow(
            [row["service"].name, row["service"].team]
            + [
                figure[k]
                for k in ("month", "month_to_date", "forecast", "currency", "source", "as_of")
            ]
        )
    return response


@require_GET
def budget_list(request: HttpRequest) -> HttpResponse:
    budgets = list(Budget.objects.all())
    figures = costs.month_costs()
    service_costs, team_costs = _costs(figures)
    in_scope = costs.scope_costs(budgets, figures)
    for budget in budgets:
        budget.scope_cost = in_scope.get(budget.pk)
    context = {
        "budgets": budgets,
        "pending": any(b.sync_status == SyncStatus.PENDING for b in budgets),
        "service_costs": service_costs,
        "team_costs": team_costs,
        "largest_service_cost": max((r["cost"].month_to_date for r in service_costs), default=0),
        "largest_team_cost": max((t.month_to_date for t in team_costs), default=0),
    }
    return render_page(request, "budgets/budget_list.html", "budget-table", context)


@require_GET
def budget_detail(request: HttpRequest, pk: int) -> HttpResponse:
    budget = get_object_or_404(Budget, pk=pk)
    records = _records_by_budget([budget]).get(budget.pk, [])
    budget.scope_cost = costs.scope_costs([budget], costs.month_costs()).get(budget.pk)
    context = {
        "budget": budget,
        "records": records,
        "sc": budget_charts.spend_chart(budget, records),
        "copies": budget.cloud_budgets.select_related("account"),
        "alerts": budget.alerts.all()[:50],
        "channels": list(budget.channels.all()),
        "services": budget_services.services_in_scope(budget).select_related("account")[:200],
    }
    return render_page(request, "budgets/budget_detail.html", "budget-sync", context)


def _save(request: HttpRequest, form: BudgetForm, instance: Budget | None) -> Budget | None:
    """Validate through the service layer; errors land on the form's fields."""
    if not form.is_valid():
        return None
    try:
        return budget_services.save_budget(
            actor=request.user, source="ui", spec=form.spec(), instance=instance
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return None


@role_required("operator")
@require_http_methods(["GET", "POST"])
def budget_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    instance = get_object_or_404(Budget, pk=pk) if pk else None
    if request.method == "POST":
        form = BudgetForm(request.POST)
        saved = _save(request, form, instance)
        if saved is not None:
            messages.success(request, f"Saved budget {saved.name}; syncing it to the cloud.")
            return redirect("budget-detail", saved.pk)
    elif instance:
        state = budget_services.budget_state(instance)
        form = BudgetForm(
            initial={
                **state,
                "thresholds": thresholds_text(instance.thresholds),
                "gcp_notification_channels": ", ".join(state["gcp_notification_channels"]),
            }
        )
    else:
        form = BudgetForm(initial=_initial_from_query(request))
    status = 422 if request.method == "POST" and form.errors else 200
    return render(
        request, "budgets/budget_form.html", {"form": form, "budget": instance}, status=status
    )


def _initial_from_query(request: HttpRequest) -> dict:
    """ "Set budget alert" on a service page links here with ?scope=service&scope_value=NAME."""
    scope, value = request.GET.get("scope", ""), request.GET.get("scope_value", "")
    initial = {"currency": "USD", "thresholds": "50, 90, 100"}
    if scope:
        initial.update(scope=scope, scope_value=value, name=f"{value or 'fleet'}-monthly"[:54])
    return initial


@role_required("operator")
@require_POST
def budget_delete(request: HttpRequest, pk: int) -> HttpResponse:
    budget = get_object_or_404(Budget, pk=pk)
    budget_services.delete_budget(actor=request.user, source="ui", budget=budget)
    messages.success(request, f"Deleted budget {budget.name}.")
    return redirect("budget-list")


@role_required("operator")
@require_POST
def budget_sync(request: HttpRequest, pk: int) -> HttpResponse:
    budget = get_object_or_404(Budget, pk=pk)
    force = request.POST.get("force") == "1"
    job = budget_services.sync_budget(actor=request.user, source="ui", budget=budget, force=force)
    messages.success(request, f"Sync of {budget.name} queued (job {job.pk}).")
    return redirect("budget-detail", budget.pk)


@role_required("operator")
@require_POST
def spend_ingest(request: HttpRequest) -> HttpResponse:
    job = enqueue("Ingest budget spend", ingest_spend_task, user=request.user)
    messages.success(request, "Spend refresh queued.")
    return redirect(job_url(job.pk, reverse("budget-list")))


@require_GET
def service_cost_estimate(request: HttpRequest, name: str) -> HttpResponse:
    """The what-if: price the service with the scaling settings in the form (GET, no changes)."""
    service = get_object_or_404(Service.objects.select_related("account"), name=name)
    current = whatif.known_scaling(service)
    pending = whatif.pending_scaling(service)
    estimate, current_estimate = None, None
    if "provider" in request.GET:
        form = WhatIfForm(request.GET)
        estimate = _estimate(form)
    else:
        form, estimate = _first_look(service, pending or current)
    if current is not None and estimate is not None:
        try:
            current_estimate = whatif.estimate(form.cleaned_data["provider"], current)
        except ValidationError:
            current_estimate = None
    context = {
        "service": service,
        "form": form,
        "estimate": estimate,
        "current": current,
        "pending": pending is not None and "provider" not in request.GET,
        "current_estimate": current_estimate,
        "month_cost": costs.month_cost(service.pk),
        "reported_instead": costs.reported_instead(service, budget_services.budgets_for(service)),
        "delta": estimate.amount - current_estimate.amount
        if estimate is not None and current_estimate is not None
        else None,
    }
    status = 422 if form.is_bound and form.errors and not wants_fragment(request) else 200
    return render_page(request, "budgets/whatif.html", "whatif", context, status=status)


def _first_look(service: Service, scaling: ScalingSettings | None) -> tuple[WhatIfForm, object]:
    """Prefill with the scaling waiting for Apply (or the one in the cloud) and price it.

    The form is shown unbound, without errors, when those settings cannot be priced yet.
    """
    data = {"provider": whatif.default_provider(service)}
    data.update({k: v for k, v in (scaling.as_dict() if scaling else {}).items() if v is not None})
    if scaling is not None:
        bound = WhatIfForm(data)
        estimate = _estimate(bound)
        if estimate is not None:
            return bound, estimate
    return WhatIfForm(initial=data), None


def _estimate(form: WhatIfForm):
    if not form.is_valid():
        return None
    data = form.cleaned_data
    scaling = ScalingSettings(
        min_instances=data["min_instances"],
        max_instances=data["max_instances"],
        concurrency=data["concurrency"],
        cpu=data["cpu"] or None,
        memory=data["memory"] or None,
    )
    try:
        return whatif.estimate(
            data["provider"],
            scaling,
            requests_per_month=data["requests_per_month"],
            request_seconds=data["request_seconds"],
            avg_instances=data["avg_instances"],
        )
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None
