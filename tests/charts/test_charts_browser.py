"""Debian's chromium draws the latency, phase and spend charts under the console's Content Security Policy: axes,
a value on hover, the range picker, and not one CSP violation or console error."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from checks.models import ProbeResult
from fleet.budgets.models import Budget, Scope, SpendRecord, SpendSource
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTEFACTS = Path(os.environ.get("BROWSER_ARTEFACTS", "var/test-artefacts"))

WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " from " + e.sourceFile + ":" + e.lineNumber);
});
"""


def pre_existing(problem: str) -> bool:
    """What every page logs until the layout branch lands (not the charts): htmx's indicator
    <style> refused by the CSP, and the missing favicon."""
    return "/django_htmx/htmx-2.min.js" in problem or "/favicon.ico" in problem


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


def log_in(page, base: str) -> None:
    page.goto(base + "/login/")
    page.fill("input[name=username]", "otto")
    page.fill("input[name=password]", "otto-pass-123")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


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


def test_latency_chart_has_axes_hover_values_and_a_range_picker_under_the_csp(
    page, live_server, operator
):
    service = ServiceFactory(name="notes")
    seed_week_of_checks(service)
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text} at {m.location.get('url')}")
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.add_init_script(WATCH_CSP)
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, live_server.url)
    expect(page.locator("table.services svg.row-spark")).to_have_count(1)  # server-drawn
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("table.services").screenshot(path=str(ARTEFACTS / "dashboard-sparklines.png"))

    page.goto(live_server.url + "/services/notes/")
    canvas = "#latency-chart canvas[data-chart=latency]"
    page.wait_for_selector(f"{canvas}[data-drawn=true]")
    facts = chart_facts(page, canvas)
    assert facts["xTicks"] > 2 and facts["yTicks"] > 2, facts
    assert facts["yTitle"] == "Latency (ms)" and facts["xTitle"].startswith("Time (")
    assert facts["labels"] == 24 and facts["datasets"] == 3

    point = point_of(page, canvas, 1)
    page.locator(canvas).scroll_into_view_if_needed()
    point = point_of(page, canvas, 1)
    page.mouse.move(point["x"], point["y"])
    readout = page.locator("#latency-chart .chart-readout")
    expect(readout).to_contain_text(point["label"] + ": p50 ")
    expect(readout).to_contain_text(" ms · p95 ")
    assert page.evaluate(f"Chart.getChart(document.querySelector('{canvas}')).tooltip.opacity") > 0
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("#latency-chart").screenshot(path=str(ARTEFACTS / "latency-24h.png"))

    page.click("#latency-chart .range-picker a:text-is('7 d')")
    expect(page.locator("#latency-title")).to_have_text("Latency percentiles, last 7 d")
    page.wait_for_selector(f"{canvas}[data-drawn=true]")
    assert chart_facts(page, canvas)["labels"] == 28
    assert page.url.endswith("/services/notes/?range=7d")
    assert page.locator("svg.uptime-bars rect").count() == 28
    expect(page.locator("h2:text-is('Health checks')")).to_be_visible()  # the rest stayed
    page.locator("#latency-chart").screenshot(path=str(ARTEFACTS / "latency-7d.png"))

    phases = "#phase-chart canvas[data-chart=phases]"
    page.wait_for_selector(f"{phases}[data-drawn=true]")
    assert chart_facts(page, phases)["datasets"] == 3
    page.locator("#phase-chart").screenshot(path=str(ARTEFACTS / "probe-phases.png"))

    budget = seed_budget()
    page.goto(f"{live_server.url}/budgets/{budget.pk}/")
    spend = "#spend-chart canvas[data-chart=spend]"
    page.wait_for_selector(f"{spend}[data-drawn=true]")
    facts = chart_facts(page, spend)
    assert facts["xTicks"] > 2 and facts["datasets"] == 4 and facts["yTitle"] == "Spend (USD)"
    point = point_of(page, spend, 0)
    page.mouse.move(point["x"], point["y"])
    expect(page.locator("#spend-chart .chart-readout")).to_contain_text(
        "spent 120.00 USD (estimated)"
    )
    page.locator("#spend-chart").screenshot(path=str(ARTEFACTS / "spend.png"))

    violations = page.evaluate("window.__cspViolations")
    assert [v for v in violations if not pre_existing(v)] == []
    assert [p for p in problems if not pre_existing(p)] == []
