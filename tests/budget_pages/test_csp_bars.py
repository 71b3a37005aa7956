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


def test_the_budgets_list_shows_each_budget_as_a_bar_with_its_burn_down_not_a_lone_dot(
    viewer_client, budget_at_40_percent
):
    """Early in the month the list drew a server-side chart of a single dot; now each budget
    has the same CSP-safe bar as its page, a mark for how much of the month is gone, what is
    left and the month-end forecast, and a link to the day-by-day chart."""
    day = date(2026, 11, 3)
    Budget.objects.filter(pk=budget_at_40_percent.pk).update(spend_as_of=day)

    html = viewer_client.get("/budgets/").content.decode()

    assert "style=" not in html and 'class="spend-chart"' not in html
    assert _fill_width(html) == "40.0"
    assert 'x1="10.0" x2="10.0"' in html and "10% of the month gone" in html  # day 3 of 30
    assert "60.00 USD" in html  # left this month
    assert "75.00 USD" in html and "(within)" in html
    assert f'href="/budgets/{budget_at_40_percent.pk}/#spend-chart"' in html


def test_a_forecast_over_the_budget_says_by_how_much_on_the_list(
    viewer_client, budget_at_40_percent
):
    Budget.objects.filter(pk=budget_at_40_percent.pk).update(spend_forecast=Decimal("130"))

    html = viewer_client.get("/budgets/").content.decode()

    assert "over by 30.00 USD" in html


def test_budget_pages_are_served_under_a_csp_that_refuses_inline_styles(
    viewer_client, budget_at_40_percent
):
    """The bars are only truthful because the policy forbids inline styles: keep it that way."""
    for url in ("/budgets/", f"/budgets/{budget_at_40_percent.pk}/", "/services/weather/"):
        policy = viewer_client.get(url)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
        assert directives["style-src"] == "'self'", url
        assert "unsafe-inline" not in policy, url
