"""Budget progress bars under the Content Security Policy (style-src 'self': no inline styles).

Before: the bar's width was an inline `style="width: 40%"`, which the browser refuses under the
CSP, so every bar rendered full width whatever the spend.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from fleet.budgets.models import Budget, Scope
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget_at_40_percent() -> Budget:
    service = ServiceFactory(name="weather", team="core")
    return Budget.objects.create(
        name="weather-monthly",
        scope=Scope.SERVICE,
        scope_value=service.name,
        amount=Decimal("100"),
        currency="USD",
        thresholds=[{"percent": "90", "basis": "actual"}],
        spend_actual=Decimal("40"),
        spend_forecast=Decimal("75"),
        spend_currency="USD",
        spend_source="estimated",
        spend_as_of=date.today(),
    )


def _fill_width(html: str) -> str:
    match = re.search(r'class="budget-fill[^"]*"[^>]*width="([^"]+)"', html) or re.search(
        r'width="([^"]+)"[^>]*class="budget-fill', html
    )
    assert match, "no budget fill drawn"
    return match.group(1)


@pytest.mark.parametrize("url", ["/budgets/", "/services/weather/"])
def test_budget_bar_is_as_wide_as_the_spend_without_inline_styles(
    viewer_client, budget_at_40_percent, url
):
    html = viewer_client.get(url).content.decode()

    assert "style=" not in html  # the CSP would refuse it; the bar would lie
    assert _fill_width(html) == "40.0"
    assert 'aria-valuenow="40.0"' in html
    assert "forecast 75.00 USD" in html


def test_budget_detail_page_has_no_inline_styles(viewer_client, budget_at_40_percent):
    html = viewer_client.get(f"/budgets/{budget_at_40_percent.pk}/").content.decode()

    assert "style=" not in html
    assert _fill_width(html) == "40.0"


def test_a_bar_over_budget_is_full_and_marked_over(viewer_client, budget_at_40_percent):
    Budget.objects.filter(pk=budget_at_40_percent.pk).update(spend_actual=Decimal("130"))

    html = viewer_client.get("/budgets/").content.decode()

    assert _fill_width(html) == "100.0"
    assert "budget-over" in html
    assert "130.0%" in html
