"""Budget charts drawn on the server: a progress bar and an SVG of daily spend against the budget."""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

from django import template
from django.utils.html import format_html, format_html_join

from fleet.budgets.costs import CostFigure, month_cost
from fleet.budgets.models import Budget, SpendRecord
from fleet.budgets.services import budgets_for

register = template.Library()


@register.filter
def money(value, currency: str = "") -> str:
    """1234.5 → "1,234.50 USD"; None → "—"."""
    if value is None or value == "":
        return "—"
    text = f"{Decimal(value):,.2f}"
    return f"{text} {currency}".strip()


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
    return format_html(
        '<svg class="budget-bar" viewBox="0 0 100 10" preserveAspectRatio="none" '
        'role="progressbar" aria-valuenow="{}" aria-valuemin="0" aria-valuemax="100" '
        'aria-label="{}% of {} spent"><title>{}% of {}</title>'
        '<rect x="0" y="0" width="100" height="10" class="budget-track"/>'
        '<rect x="0" y="0" width="{}" height="10" class="budget-fill budget-{}"/>{}</svg> '
        "<b>{}%</b>",
        f"{percent}",
        f"{percent}",
        money(budget.amount, budget.currency),
        f"{percent}",
        money(budget.amount, budget.currency),
        f"{width:.1f}",
        level,
        forecast,
        f"{percent}",
    )


@register.simple_tag
def spend_chart(budget: Budget, records: list[SpendRecord], width: int = 560, height: int = 180):
    """Month-to-date spend per day (line), the budget (dashed) and the month-end forecast (dots)."""
    if not records:
        return format_html('<p class="help">{}</p>', "No spend recorded this month yet.")
    first = records[-1].day
    days = calendar.monthrange(first.year, first.month)[1]
    month = [r for r in records if (r.day.year, r.day.month) == (first.year, first.month)]
    top = max(
        [budget.amount * Decimal("1.1")]
        + [r.amount for r in month]
        + [r.forecast or 0 for r in month]
    )
    pad_l, pad_b, pad_t = 56, 20, 8
    plot_w, plot_h = width - pad_l - 8, height - pad_b - pad_t

    def x(day: date) -> float:
        return pad_l + (day.day - 1) / max(days - 1, 1) * plot_w

    def y(value: Decimal) -> float:
        return pad_t + plot_h - float(value / top) * plot_h

    points = " ".join(f"{x(r.day):.1f},{y(r.amount):.1f}" for r in month)
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="2.5" class="chart-spend"><title>{}: {}</title></circle>',
        (
            (
                f"{x(r.day):.1f}",
                f"{y(r.amount):.1f}",
                r.day.isoformat(),
                money(r.amount, r.currency),
            )
            for r in month
        ),
    )
    last = month[-1]
    forecast = ""
    if last.forecast is not None:
        end = date(last.day.year, last.day.month, days)
        forecast = format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" class="chart-forecast">'
            "<title>forecast {}</title></line>",
            f"{x(last.day):.1f}",
            f"{y(last.amount):.1f}",
            f"{x(end):.1f}",
            f"{y(last.forecast):.1f}",
            money(last.forecast, last.currency),
        )
    budget_y = f"{y(budget.amount):.1f}"
    return format_html(
        '<svg class="spend-chart" viewBox="0 0 {w} {h}" width="100%" role="img" '
        'aria-label="Daily month-to-date spend of {name} against its budget of {amount}">'
        '<line x1="{l}" y1="{base}" x2="{r}" y2="{base}" class="chart-axis"/>'
        '<line x1="{l}" y1="{by}" x2="{r}" y2="{by}" class="chart-budget"><title>budget {amount}'
        "</title></line>"
        '<text x="{tl}" y="{by}" class="chart-label" dominant-baseline="middle" '
        'text-anchor="end">{short}</text>'
        '<polyline points="{points}" class="chart-spend-line"/>{dots}{forecast}'
        '<text x="{l}" y="{h}" class="chart-label">1</text>'
        '<text x="{r}" y="{h}" class="chart-label" text-anchor="end">{days}</text>'
        "</svg>",
        w=width,
        h=height - 4,
        name=budget.name,
        amount=money(budget.amount, budget.currency),
        l=pad_l,
        r=pad_l + plot_w,
        base=f"{pad_t + plot_h:.1f}",
        by=budget_y,
        tl=pad_l - 4,
        short=f"{budget.amount:,.0f}",
        points=points,
        dots=dots,
        forecast=forecast,
        days=days,
    )


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
