"""Budget bars drawn on the server (SVG sized by attributes, so the CSP's style-src 'self' holds).

The budget page's daily chart is `fleet.budgets.charts` (Chart.js, from a JSON data island)."""

from __future__ import annotations

import calendar
from decimal import Decimal

from django import template
from django.utils.html import format_html

from fleet.budgets.costs import CostFigure, month_cost, reported_instead
from fleet.budgets.models import Budget
from fleet.budgets.services import budgets_for

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    """1234.5 → "1,234.50 USD"; None → "—"."""
    if value is None or value == "":
        return "—"
    text = f"{Decimal(value):,.2f}"
    return f"{text} {currency}".strip()


@register.filter
def sub(value, other):
    """value - other for the burn-down figures; None when either is unknown."""
    if value is None or other is None or value == "" or other == "":
        return None
    return Decimal(value) - Decimal(other)


@register.simple_tag
def budget_bar(budget: Budget) -> str:
    """A progress bar of month-to-date spend, with the forecast as a mark.

    Drawn as SVG whose sizes are attributes: the Content Security Policy refuses inline styles,
    so a `style="width: …"` bar would render full width whatever the spend.
    """
    percent = budget.percent_used
    if percent is None:
        return format_html('<span class="help">{}</span>', "no spend known yet")
    width = min(percent, Decimal(100))
    level = "over" if percent >= 100 else "high" if percent >= 90 else "ok"
    forecast = ""
    if budget.spend_forecast is not None:
        at = min(budget.spend_forecast / budget.amount * 100, Decimal(100))
        forecast = format_html(
            '<line x1="{at}" x2="{at}" y1="0" y2="10" class="budget-forecast">'
            "<title>forecast {}</title></line>",
            money(budget.spend_forecast, budget.currency),
            at=f"{at:.1f}",
        )
    pace = month_pace(budget)
    pace_mark = ""
    if pace is not None:
        pace_mark = format_html(
            '<line x1="{at}" x2="{at}" y1="0" y2="10" class="budget-pace">'
            "<title>{} of the month gone</title></line>",
            f"{pace:.0f}%",
            at=f"{pace:.1f}",
        )
    return format_html(
        '<svg class="budget-bar" viewBox="0 0 100 10" preserveAspectRatio="none" '
        'role="progressbar" aria-valuenow="{}" aria-valuemin="0" aria-valuemax="100" '
        'aria-label="{}% of {} spent"><title>{}% of {}</title>'
        '<rect x="0" y="0" width="100" height="10" class="budget-track"/>'
        '<rect x="0" y="0" width="{}" height="10" class="budget-fill budget-{}"/>{}{}</svg> '
        "<b>{}%</b>",
        f"{percent}",
        f"{percent}",
        money(budget.amount, budget.currency),
        f"{percent}",
        money(budget.amount, budget.currency),
        f"{width:.1f}",
        level,
        pace_mark,
        forecast,
        f"{percent}",
    )


@register.simple_tag
def month_pace(budget: Budget) -> Decimal | None:
    """How much of the month had gone by the day of the spend figure, in percent.

    Spend to the left of this mark is on pace to stay within the budget; past it, ahead of pace.
    """
    day = budget.spend_as_of
    if day is None:
        return None
    days = calendar.monthrange(day.year, day.month)[1]
    return Decimal(day.day) / days * 100


@register.simple_tag
def share_bar(value, largest, label: str = "") -> str:
    """A small SVG bar of `value` against the largest figure in its table (CSP-safe: no styles)."""
    if value is None or not largest:
        return ""
    width = min(Decimal(value) / Decimal(largest) * 100, Decimal(100))
    return format_html(
        '<svg class="share-bar" viewBox="0 0 100 6" preserveAspectRatio="none" role="img" '
        'aria-label="{}"><rect x="0" y="0" width="{}" height="6" class="share-fill"/></svg>',
        label or f"{width:.0f}% of the largest",
        f"{width:.1f}",
    )


@register.simple_tag
def service_month_cost(service) -> CostFigure:
    """This month's cost figure of the service (the same one the budgets page shows)."""
    return month_cost(service.pk)


@register.simple_tag
def service_budgets(service) -> list[Budget]:
    """The budgets whose scope includes this service (for the service page)."""
    return budgets_for(service)


@register.simple_tag
def budgets_reported_instead(service, budgets: list[Budget]) -> list[Budget]:
    """Of `budgets`, those alerting on AWS's reported spend instead of this service's figure."""
    return reported_instead(service, budgets)
