"""Debian's chromium draws the latency, phase and spend charts under the console's Content Security
Policy: axes, a value on hover, the range picker, times in the browser's zone, and (through the
harness) no CSP violation, console error, failed request, axe critical/serious or overflow."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from checks.models import ProbeResult
from fleet.budgets.models import Budget, Scope, SpendRecord, SpendSource
from tests.browser.harness import assert_clean
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed_week_of_checks(service) -> None:
    now = timezone.now()
    ProbeResult.objects.bulk_create(
        [
            ProbeResult(
                service=service,
                checked_at=now - timedelta(minutes=20 * i),
                ok=i % 37 != 5,
                latency_ms=None if i % 37 == 5 else 30.0 + (i * 7) % 90,
                phases={"connect": 4.0 + i % 3, "initialize": 12.0, "tools_list": 9.0},
                error="" if i % 37 != 5 else "timed out",
            )
            for i in range(7 * 72)
        ]
    )


def seed_budget() -> Budget:
    today = timezone.localdate()
    budget = Budget.objects.create(
        name="notes-monthly", scope=Scope.SERVICE, scope_value="notes", amount=Decimal("300")
    )
    days = sorted({max(today.day - 6, 1), max(today.day - 3, 1), today.day})
    for n, day in enumerate(days, start=1):
        SpendRecord.objects.create(
            budget=budget,
            day=today.replace(day=day),
            amount=Decimal(40 * n) if day != today.day else Decimal("120.00"),
            forecast=Decimal("372.00"),
            currency="USD",
            source=SpendSource.ESTIMATED if n > 1 or day == today.day else SpendSource.REPORTED,
        )
    return budget


def chart_facts(page, selector: str) -> dict:
    return page.evaluate(
        """(selector) => {
            const chart = Chart.getChart(document.querySelector(selector));
            return {
                xTicks: chart.scales.x.ticks.length, yTicks: chart.scales.y.ticks.length,
                xTitle: chart.options.scales.x.title.text, yTitle: chart.options.scales.y.title.text,
                labels: chart.data.labels.length, datasets: chart.data.datasets.length,
            };
        }""",
        selector,
    )


def point_of(page, selector: str, dataset: int) -> dict:
    """The page position of the last drawn point of a dataset (a bucket with data)."""
    return page.evaluate(
        """([selector, dataset]) => {
            const canvas = document.querySelector(selector);
            const chart = Chart.getChart(canvas);
            const values = chart.data.datasets[dataset].data;
            let i = values.length - 1;
            while (i > 0 && values[i] === null) i--;
            const p = chart.getDatasetMeta(dataset).data[i];
            const box = canvas.getBoundingClientRect();
            return {x: box.left + p.x, y: box.top + p.y, label: chart.data.labels[i]};
        }""",
        [selector, dataset],
    )


def test_charts_draw_with_axes_hover_values_and_a_range_picker(open_page, operator):
    service = ServiceFactory(name="notes")
    seed_week_of_checks(service)
    budget = seed_budget()
    console = open_page(operator, 1400)
    page = console.page

    console.goto("/")  # the first page tells the console the browser's zone (the tz cookie)
    expect(page.locator("table.services svg.row-spark")).to_have_count(1)  # server-drawn
    console.goto("/services/notes/")
    canvas = "#latency-chart canvas[data-chart=latency]"
    page.wait_for_selector(f"{canvas}[data-drawn=true]")
    facts = chart_facts(page, canvas)
    assert facts["xTicks"] > 2 and facts["yTicks"] > 2, facts
    assert facts["yTitle"] == "Latency (ms)" and facts["xTitle"] == "Time (Europe/Berlin)"
    assert facts["labels"] == 24 and facts["datasets"] == 3

    page.locator(canvas).scroll_into_view_if_needed()
    point = point_of(page, canvas, 1)
    page.mouse.move(point["x"], point["y"])
    readout = page.locator("#latency-chart .chart-readout")
    expect(readout).to_contain_text(point["label"] + ": p50 ")
    expect(readout).to_contain_text(" ms · p95 ")
    assert page.evaluate(f"Chart.getChart(document.querySelector('{canvas}')).tooltip.opacity") > 0

    page.click("#latency-chart .range-picker a:text-is('7 d')")
    expect(page.locator("#latency-title")).to_have_text("Latency percentiles, last 7 d")
    page.wait_for_selector(f"{canvas}[data-drawn=true]")
    assert chart_facts(page, canvas)["labels"] == 28
    assert page.url.endswith("/services/notes/?range=7d")
    assert page.locator("svg.uptime-bars rect").count() == 28
    expect(page.locator("h2:text-is('Health checks')")).to_be_visible()  # the rest stayed

    page.go_back()  # htmx restores the 24 h page from its history: the chart is drawn again
    expect(page.locator("#latency-title")).to_have_text("Latency percentiles, last 24 h")
    page.wait_for_function(
        "() => { const c = document.querySelector('#latency-chart canvas');"
        " return window.Chart && Chart.getChart(c) && Chart.getChart(c).data.labels.length === 24; }"
    )

    phases = "#phase-chart canvas[data-chart=phases]"
    page.wait_for_selector(f"{phases}[data-drawn=true]")
    assert chart_facts(page, phases)["datasets"] == 3
    checks = [console.check("Service charts")]

    console.goto(f"/budgets/{budget.pk}/")
    spend = "#spend-chart canvas[data-chart=spend]"
    page.wait_for_selector(f"{spend}[data-drawn=true]")
    facts = chart_facts(page, spend)
    assert facts["xTicks"] > 2 and facts["datasets"] == 4 and facts["yTitle"] == "Spend (USD)"
    page.locator(spend).scroll_into_view_if_needed()
    point = point_of(page, spend, 0)
    page.mouse.move(point["x"], point["y"])
    expect(page.locator("#spend-chart .chart-readout")).to_contain_text(
        "spent 120.00 USD (estimated)"
    )
    checks.append(console.check("Budget spend chart"))

    phone = open_page(operator, 390)
    phone.goto("/services/notes/?range=30d")
    phone.page.wait_for_selector(f"{canvas}[data-drawn=true]")
    checks.append(phone.check("Service charts, 30 d"))
    assert_clean(checks)
