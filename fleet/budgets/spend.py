"""Month-to-date spend per service and per budget, always labelled "reported" or "estimated".

- AWS reports spend on the budget itself (`CalculatedSpend`), so an AWS account with a synced
  cloud budget contributes reported actual and forecast spend.
- Cloud Run spend is estimated from Cloud Monitoring (billable instance time, requests) and the
  service's cpu/memory, priced with the price table.
- ECS, Container Apps and Kubernetes spend is estimated from requested cpu/memory x running
  instances x hours elapsed this month.
A budget total with any estimated part is labelled "estimated". Plain-URL services have no cost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from fleet.budgets import clients
from fleet.budgets.alerts import check_thresholds
from fleet.budgets.costs import month_costs
from fleet.budgets.models import (
    Budget,
    CloudBudget,
    ServiceSpend,
    SpendRecord,
    SpendSource,
    SyncStatus,
)
from fleet.budgets.services import current_prices, services_in_scope
from fleet.budgets.sync import check_drift
from fleet.costs import aws_budgets
from fleet.costs.errors import CostInputError, CostSyncError
from fleet.costs.estimate import estimate_from_usage, forecast_month
from fleet.costs.pricing import PriceTable
from fleet.costs.usage import cloud_run_usage, requested_usage
from fleet.models import Service
from fleet.operations.clouds.errors import CloudError
from fleet.operations.clouds.registry import adapter_for

logger = logging.getLogger(__name__)
PRICED_PROVIDERS = ("gcp", "aws", "azure", "kubernetes")


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def service_cost(service: Service, prices: PriceTable, now: datetime) -> tuple[Decimal, str]:
    """Estimated month-to-date cost of one service and its source (a SpendSource value).

    Cloud Run: measured usage from Cloud Monitoring. Other platforms: requested CPU/memory x
    running instances, counted from the later of the 1st and the resource's creation, so a
    service deployed this morning is not charged for the whole month so far.
    Raises CloudError / CostSyncError / CostInputError.
    """
    account = service.account
    provider = account.provider
    snapshot = adapter_for(account.to_ref()).describe(service.to_ref())
    start = month_start(now)
    if provider == "gcp":
        usage = cloud_run_usage(
            account.project,
            (service.resource or service.name).rsplit("/", 1)[-1],
            start,
            now,
            scaling=snapshot.scaling,
            client=clients.gcp_metric_client(account),
        )
        source = SpendSource.ESTIMATED
    else:
        start = max(start, _created(snapshot.created) or start)
        hours = max((now - start).total_seconds() / 3600, 1 / 60)
        usage = requested_usage(
            snapshot.scaling,
            hours,
            provider=provider,
            instances=snapshot.ready_instances,
            start=start,
        )
        source = SpendSource.REQUESTED
    return estimate_from_usage(provider, usage, prices), source


def _created(value: str) -> datetime | None:
    try:
        created = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=timezone.get_current_timezone())
    return created


@dataclass
class BudgetSpend:
    actual: Decimal | None
    forecast: Decimal | None
    currency: str
    source: str
    notes: list[str] = field(default_factory=list)
    reported: Decimal | None = None  # the part a cloud reported (AWS Budgets)
    reported_from: list[str] = field(default_factory=list)  # account names


def budget_spend(
    budget: Budget,
    costs: dict[int, Decimal],
    currency: str,
    today: date,
    *,
    stale: dict[int, date] | None = None,
) -> BudgetSpend:
    """Reported spend where an AWS budget reports it, estimated service costs for the rest.

    `stale`: services whose figure is an earlier day's of the month (today's could not be read).
    """
    stale = stale or {}
    notes: list[str] = []
    reported_actual = reported_forecast = Decimal(0)
    reported_accounts: set[int] = set()
    reported_names: list[str] = []
    copies = CloudBudget.objects.filter(
        budget=budget,
        account__provider="aws",
        status__in=[SyncStatus.SYNCED, SyncStatus.DRIFTED],
    ).exclude(provider_budget_id="")
    for copy in copies.select_related("account"):
        account = copy.account
        try:
            actual, forecast, unit = aws_budgets.reported_spend(
                account.account_id,
                copy.provider_budget_id,
                client=clients.aws_budgets_client(account),
            )
        except CostSyncError as exc:
            notes.append(f"{account.name}: reported spend unavailable ({exc}); estimated instead")
            continue
        if unit != budget.currency:
            notes.append(f"{account.name}: AWS reports spend in {unit}, not {budget.currency}")
            continue
        reported_accounts.add(account.pk)
        reported_names.append(account.name)
        reported_actual += actual
        reported_forecast += forecast if forecast is not None else forecast_month(actual, today)
    estimated, priced, unpriced, older = Decimal(0), 0, [], []
    for service in services_in_scope(budget).exclude(account_id__in=reported_accounts):
        if service.pk in costs:
            estimated += costs[service.pk]
            priced += 1
            if service.pk in stale:
                older.append(f"{service.name} as of {stale[service.pk]:%d %b}")
        else:
            unpriced.append(service.name)
    if older:
        notes.append(f"today's cost could not be read; using {', '.join(sorted(older)[:5])}")
    if unpriced:
        notes.append(f"no cost known for {', '.join(sorted(unpriced)[:5])}")
    if priced and currency != budget.currency:
        notes.append(f"estimates are in {currency} (price table), the budget in {budget.currency}")
        priced, estimated = 0, Decimal(0)
    if not reported_accounts and not priced:
        return BudgetSpend(None, None, budget.currency, "", notes)
    return BudgetSpend(
        actual=reported_actual + estimated,
        forecast=reported_forecast + forecast_month(estimated, today),
        currency=budget.currency,
        source=SpendSource.ESTIMATED if priced else SpendSource.REPORTED,
        notes=notes,
        reported=reported_actual if reported_accounts else None,
        reported_from=sorted(reported_names),
    )


def ingest(now: datetime | None = None, log: Callable[[str], None] = logger.info) -> dict:
    """Ingest today's spend for every service and budget, then alert on crossed thresholds."""
    now = now or timezone.now()
    today = now.date()
    prices = current_prices()
    priced_today = _service_costs(prices, now, today, log)
    summary = {"services": len(priced_today), "budgets": 0, "alerts": 0}
    # The budgets add up the same per-service figures every page shows (`month_costs`): a
    # service that could not be priced today keeps its latest figure of the month, said so.
    figures = month_costs(today=today)
    costs = {pk: f.month_to_date for pk, f in figures.items() if f.currency == prices.currency}
    stale = {pk: f.as_of for pk, f in figures.items() if pk not in priced_today}
    for budget in Budget.objects.all():
        _refresh_drift(budget, log)
        spend = budget_spend(budget, costs, prices.currency, today, stale=stale)
        _store_budget_spend(budget, spend, today)
        for note in spend.notes:
            log(f"budget {budget.name}: {note}")
        summary["budgets"] += 1
        if spend.actual is not None:
            label = spend.source
            log(f"budget {budget.name}: {spend.actual} {spend.currency} month to date ({label})")
            summary["alerts"] += len(check_thresholds(budget, spend.actual, spend.forecast, today))
    return summary


def _service_costs(
    prices: PriceTable, now: datetime, today: date, log: Callable[[str], None]
) -> dict[int, Decimal]:
    costs: dict[int, Decimal] = {}
    services = Service.objects.select_related("account").filter(
        account__provider__in=PRICED_PROVIDERS
    )
    for service in services:
        try:
            amount, source = service_cost(service, prices, now)
        except (CloudError, CostSyncError, CostInputError) as exc:
            log(f"service {service.name}: no estimate: {exc}")
            continue
        costs[service.pk] = amount
        ServiceSpend.objects.update_or_create(
            service=service,
            day=today,
            defaults={
                "amount": amount,
                "currency": prices.currency,
                "source": source,
            },
        )
    return costs


def _refresh_drift(budget: Budget, log: Callable[[str], None]) -> None:
    """Notice cloud-side edits between syncs (the budgets page warns about them)."""
    from fleet.budgets.sync import summarise

    copies = CloudBudget.objects.filter(budget=budget, status=SyncStatus.SYNCED).exclude(
        provider_budget_id=""
    )
    changed = False
    for copy in copies.select_related("account"):
        try:
            if check_drift(copy):
                log(f"budget {budget.name}: {copy.account.name}: changed in the cloud")
                changed = True
        except CostSyncError as exc:
            log(f"budget {budget.name}: {copy.account.name}: drift check failed: {exc}")
    if changed:
        summarise(budget)


def _store_budget_spend(budget: Budget, spend: BudgetSpend, today: date) -> None:
    with transaction.atomic():
        if spend.actual is not None:
            SpendRecord.objects.update_or_create(
                budget=budget,
                day=today,
                defaults={
                    "amount": spend.actual,
                    "forecast": spend.forecast,
                    "currency": spend.currency,
                    "source": spend.source,
                },
            )
        Budget.objects.filter(pk=budget.pk).update(
            spend_actual=spend.actual,
            spend_forecast=spend.forecast,
            spend_currency=spend.currency if spend.actual is not None else "",
            spend_source=spend.source,
            spend_as_of=today,
            spend_note="; ".join(spend.notes),
            spend_reported=spend.reported,
            spend_reported_from=spend.reported_from,
        )
