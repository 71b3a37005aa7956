"""One cost figure per service and month: what every page, the API and the export show.

The daily spend ingest (`fleet.budgets.spend.ingest`) stores each service's month-to-date cost
as a `ServiceSpend` row, labelled with where it came from. Everything that shows a service's
cost reads it through `month_costs()`, so the service page, the budgets page, the what-if, the API
and the CSV export cannot disagree. The what-if's price-model estimates answer a different
question ("what would these settings cost?") and are labelled as such where they are shown.

A budget alerts on its own total (`Budget.spend_actual`): where AWS Budgets reports the spend of
an account itself, that reported figure replaces the estimates of the account's services. Pages
then show both, labelled: the budget's total (what alerts use) and the sum of the services' own
figures in its scope (`scope_costs`); a service page says when a budget uses AWS's figure
instead of the service's own (`reported_instead`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils import timezone

from fleet.budgets.models import Budget, ServiceSpend, SpendSource
from fleet.budgets.services import budgets_covering
from fleet.costs.estimate import forecast_month
from fleet.models import Service

SOURCE_LABELS = {
    SpendSource.REPORTED: "reported by the cloud",
    SpendSource.ESTIMATED: "estimated from measured usage and the price table",
    SpendSource.REQUESTED: "estimated from requested CPU/memory x running instances since it "
    "started this month, and the price table",
}


@dataclass(frozen=True)
class CostFigure:
    """A service's cost for one month: spend so far and the month-end forecast at that rate."""

    month: date  # the first day of the month
    month_to_date: Decimal | None = None
    forecast: Decimal | None = None
    currency: str = ""
    source: str = ""  # a SpendSource value; "" when no cost is known
    as_of: date | None = None

    @property
    def known(self) -> bool:
        return self.month_to_date is not None

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, "no cost recorded this month")

    def as_dict(self) -> dict:
        return {
            "month": self.month.strftime("%Y-%m"),
            "month_to_date": None if self.month_to_date is None else f"{self.month_to_date}",
            "forecast": None if self.forecast is None else f"{self.forecast}",
            "currency": self.currency,
            "source": self.source,
            "as_of": self.as_of.isoformat() if self.as_of else None,
        }


def _today(today: date | None) -> date:
    return today or timezone.localdate()


def month_costs(
    service_ids: Iterable[int] | None = None, *, today: date | None = None
) -> dict[int, CostFigure]:
    """This month's latest cost figure per service (one query); services without one are absent."""
    today = _today(today)
    month = today.replace(day=1)
    rows = ServiceSpend.objects.filter(day__gte=month, day__lte=today).order_by(
        "service_id", "-day"
    )
    if service_ids is not None:
        rows = rows.filter(service_id__in=list(service_ids))
    figures: dict[int, CostFigure] = {}
    for row in rows.only("service_id", "day", "amount", "currency", "source"):
        if row.service_id in figures:
            continue  # an older day of the same month
        figures[row.service_id] = CostFigure(
            month=month,
            month_to_date=row.amount,
            forecast=forecast_month(row.amount, row.day),
            currency=row.currency,
            source=row.source,
            as_of=row.day,
        )
    return figures


def month_cost(service_id: int, *, today: date | None = None) -> CostFigure:
    """One service's figure; an unknown figure (not None) when nothing was recorded this month."""
    today = _today(today)
    return month_costs([service_id], today=today).get(service_id) or CostFigure(
        month=today.replace(day=1)
    )


@dataclass(frozen=True)
class TeamCost:
    team: str
    currency: str
    month_to_date: Decimal
    forecast: Decimal
    services: int
    estimated: bool  # any part of the total is an estimate


def team_costs(figures: dict[int, CostFigure], teams: dict[int, str]) -> list[TeamCost]:
    """The same figures summed per team and currency, largest first."""
    totals: dict[tuple[str, str], list] = {}
    for service_id, figure in figures.items():
        key = (teams.get(service_id, ""), figure.currency)
        total = totals.setdefault(key, [Decimal(0), Decimal(0), 0, False])
        total[0] += figure.month_to_date or 0
        total[1] += figure.forecast or 0
        total[2] += 1
        total[3] = total[3] or figure.source != SpendSource.REPORTED
    rows = [TeamCost(team, cur, *values) for (team, cur), values in totals.items()]
    return sorted(rows, key=lambda row: row.month_to_date, reverse=True)


@dataclass(frozen=True)
class ScopeCost:
    """The services' own figures summed over a budget's scope (in the budget's currency)."""

    month_to_date: Decimal
    forecast: Decimal
    priced: int  # services in scope with a figure this month
    services: int  # services in scope


def scope_costs(budgets: list[Budget], figures: dict[int, CostFigure]) -> dict[int, ScopeCost]:
    """Per budget id, the sum of this month's figures of the services in its scope (2 queries)."""
    services = list(
        Service.objects.select_related("account").only(
            "name", "team", "environment", "account__name"
        )
    )
    names = {s.account_id: s.account.name for s in services if s.account_id}
    covering = budgets_covering(services, names)
    totals: dict[int, list] = {b.pk: [Decimal(0), Decimal(0), 0, 0] for b in budgets}
    currency = {b.pk: b.currency for b in budgets}
    for service_id, found in covering.items():
        figure = figures.get(service_id)
        for budget in found:
            total = totals.get(budget.pk)
            if total is None:
                continue
            total[3] += 1
            if figure is not None and figure.known and figure.currency == currency[budget.pk]:
                total[0] += figure.month_to_date
                total[1] += figure.forecast or 0
                total[2] += 1
    return {pk: ScopeCost(*values) for pk, values in totals.items() if values[2]}


def reported_instead(service: Service, budgets: list[Budget]) -> list[Budget]:
    """The budgets covering `service` that alert on the spend AWS Budgets reports for its account
    rather than on the service's own figure (as the last spend ingest found)."""
    if service.account_id is None:
        return []
    account = service.account.name
    return [b for b in budgets if account in (b.spend_reported_from or [])]
