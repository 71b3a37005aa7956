"""The budget page's spend chart: month-to-date spend per day against the budget, the burn-down,
the forecast to the month's end, estimated and reported days told apart, one figure throughout."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fleet.budgets.charts import spend_chart
from fleet.budgets.models import Budget, Scope, SpendRecord, SpendSource
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget() -> Budget:
    ServiceFactory(name="weather", team="core")
    return Budget.objects.create(
        name="weather-monthly",
        scope=Scope.SERVICE,
        scope_value="weather",
        amount=Decimal("300"),
        currency="USD",
        thresholds=[{"percent": "90", "basis": "actual"}],
        spend_actual=Decimal("120.00"),
        spend_forecast=Decimal("372.00"),
        spend_currency="USD",
        spend_source=SpendSource.ESTIMATED,
        spend_as_of=date(2026, 11, 10),
    )


def record(budget, day, amount, forecast, source=SpendSource.ESTIMATED):
    return SpendRecord.objects.create(
        budget=budget,
        day=day,
        amount=Decimal(amount),
        forecast=None if forecast is None else Decimal(forecast),
        currency="USD",
        source=source,
    )


def test_a_month_of_spend_with_burn_down_forecast_and_budget(budget):
    records = [
        record(budget, date(2026, 11, 1), "10.00", "300.00", SpendSource.REPORTED),
        record(budget, date(2026, 11, 4), "50.00", "375.00", SpendSource.REQUESTED),
        record(budget, date(2026, 11, 10), "120.00", "360.00"),
    ]

    sc = spend_chart(budget, records)

    data = sc["data"]
    assert data["labels"] == [str(d) for d in range(1, 31)] and data["month"] == "November 2026"
    assert data["spend"][0] == 10.0 and data["spend"][3] == 50.0 and data["spend"][9] == 120.0
    assert data["spend"][1] is None  # no record that day: a gap, not a zero
    assert data["sources"][0] == "reported" and data["sources"][3] == "estimated"
    assert data["remaining"][9] == 180.0  # burn-down: the budget less spend so far
    assert data["budget"] == [300.0] * 30
    # The forecast runs from the latest spend to the record's own month-end forecast.
    assert data["forecast"][:9] == [None] * 9
    assert data["forecast"][9] == 120.0 and data["forecast"][29] == 360.0
    assert data["forecast"][19] == pytest.approx(120 + 240 * 10 / 20)
    assert sc["over_by"] == Decimal("60.00") and sc["last_source"] == "estimated"


def test_only_the_latest_month_is_drawn():
    budget = Budget.objects.create(name="b", scope=Scope.TEAM, scope_value="core", amount=100)
    records = [
        record(budget, date(2026, 10, 30), "90.00", "93.00"),
        record(budget, date(2026, 11, 2), "4.00", "60.00"),
    ]
    sc = spend_chart(budget, records)
    assert sc["data"]["month"] == "November 2026" and len(sc["rows"]) == 1


def test_the_page_draws_the_same_figure_the_budget_shows(viewer_client, budget):
    for day, amount, forecast in ((1, "10.00", "300.00"), (10, "120.00", "372.00")):
        record(budget, date(2026, 11, day), amount, forecast)
    with CaptureQueriesContext(connection) as queries:
        page = viewer_client.get(f"/budgets/{budget.pk}/").content.decode()

    data = json.loads(re.search(r'id="spend-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert data["spend"][9] == float(budget.spend_actual)
    assert data["forecast"][-1] == float(budget.spend_forecast)
    assert 'data-chart="spend"' in page and 'aria-describedby="spend-summary"' in page
    assert "120.00 USD spent by 10 November (estimated), 40% of 300.00 USD" in page
    assert "<b>72.00 USD over</b> the budget" in page
    assert "<summary>Spend per day as a table</summary>" in page
    assert "<td>180.00 USD</td>" in page  # left of the budget on the 10th, in the table
    assert "style=" not in page
    # The chart reads the records the page already loaded (the latest day, then the month).
    assert len([q for q in queries.captured_queries if "spendrecord" in q["sql"].lower()]) == 2


def test_no_spend_yet_says_so(viewer_client, budget):
    page = viewer_client.get(f"/budgets/{budget.pk}/").content.decode()
    assert "No spend recorded this month yet." in page and 'data-chart="spend"' not in page
