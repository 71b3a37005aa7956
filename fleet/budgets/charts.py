"""The budget page's chart: month-to-date spend against the budget, what is left (the burn-down)
and the forecast to the month's end.

It draws the stored daily `SpendRecord` rows, which the spend ingest writes from the one cost
figure (`fleet.budgets.costs` / `fleet.budgets.spend.budget_spend`); the forecast is the record's
own (the same number the page and the threshold alerts use), so the chart adds no figure of its own.
"""

from __future__ import annotations

import calendar
from decimal import Decimal

from fleet.budgets.models import Budget, SpendRecord, SpendSource

SHORT_SOURCES = {
    SpendSource.REPORTED: "reported",
    SpendSource.ESTIMATED: "estimated",
    SpendSource.REQUESTED: "estimated",
}


def _number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def spend_chart(budget: Budget, records: list[SpendRecord]) -> dict | None:
    """Chart data and table rows for the month of the latest record; None when there is none."""
    if not records:
        return None
    last = max(records, key=lambda r: r.day)
    month = last.day.replace(day=1)
    days = calendar.monthrange(month.year, month.month)[1]
    in_month = sorted(
        (r for r in records if (r.day.year, r.day.month) == (month.year, month.month)),
        key=lambda r: r.day,
    )
    by_day = {r.day.day: r for r in in_month}
    spend: list[float | None] = [None] * days
    remaining: list[float | None] = [None] * days
    sources: list[str | None] = [None] * days
    for day, record in by_day.items():
        spend[day - 1] = _number(record.amount)
        remaining[day - 1] = _number(budget.amount - record.amount)
        sources[day - 1] = SHORT_SOURCES.get(record.source, record.source)
    forecast: list[float | None] = [None] * days
    if last.forecast is not None:
        # A straight line from the latest spend to the month-end forecast, at the month's rate.
        span = days - last.day.day
        for day in range(last.day.day, days + 1):
            share = Decimal(day - last.day.day) / span if span else Decimal(1)
            forecast[day - 1] = _number(last.amount + (last.forecast - last.amount) * share)
    percent = (last.amount / budget.amount * 100) if budget.amount else None
    return {
        "month": month,
        "days": days,
        "last": last,
        "last_source": SHORT_SOURCES.get(last.source, last.source),
        "percent": percent,
        "over_by": (last.forecast - budget.amount) if last.forecast is not None else None,
        "forecast_left": (budget.amount - last.forecast) if last.forecast is not None else None,
        "rows": [
            {
                "day": r.day,
                "amount": r.amount,
                "left": budget.amount - r.amount,
                "source": SHORT_SOURCES.get(r.source, r.source),
            }
            for r in in_month
        ],
        "data": {
            "labels": [str(d) for d in range(1, days + 1)],
            "month": month.strftime("%B %Y"),
            "currency": budget.currency,
            "spend": spend,
            "sources": sources,
            "remaining": remaining,
            "forecast": forecast,
            "budget": [_number(budget.amount)] * days,
        },
    }
