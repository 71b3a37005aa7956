"""One cost figure per service and month, the same on every page, the API and the CSV export."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fleet.budgets.models import ServiceSpend
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def weather():
    service = ServiceFactory(name="weather", team="core")
    today = timezone.localdate()
    last_month = today.replace(day=1) - timedelta(days=1)
    # Last month's final figure must never be shown as this month's.
    ServiceSpend.objects.create(
        service=service,
        day=last_month,
        amount=Decimal("999.00"),
        currency="USD",
        source="estimated",
    )
    if today.day > 1:
        ServiceSpend.objects.create(
            service=service,
            day=today - timedelta(days=1),
            amount=Decimal("10.00"),
            currency="USD",
            source="estimated",
        )
    ServiceSpend.objects.create(
        service=service, day=today, amount=Decimal("12.34"), currency="USD", source="estimated"
    )
    return service


def _forecast(amount: Decimal, day: date) -> str:
    import calendar

    days = calendar.monthrange(day.year, day.month)[1]
    return f"{(amount / day.day * days).quantize(Decimal('0.01')):,}"


def test_service_page_budgets_page_and_whatif_show_the_same_figure(viewer_client, weather):
    today = timezone.localdate()
    forecast = _forecast(Decimal("12.34"), today)

    for url in ("/services/weather/", "/budgets/", "/services/weather/cost-estimate/"):
        html = viewer_client.get(url).content.decode()
        assert "12.34 USD" in html, url
        assert f"{forecast} USD" in html, url
        assert "estimated from measured usage and the price table" in html, url
        assert "999.00" not in html, url


def test_api_and_csv_give_the_same_figure(viewer_client, weather):
    today = timezone.localdate()

    body = viewer_client.get("/api/v1/services/weather/cost").json()
    csv_text = viewer_client.get("/budgets/costs.csv").content.decode()

    assert body["month_to_date"] == "12.34"
    assert body["forecast"] == _forecast(Decimal("12.34"), today).replace(",", "")
    assert body["source"] == "estimated"
    assert body["as_of"] == today.isoformat()
    assert f"weather,core,{today:%Y-%m},12.34,{body['forecast']},USD,estimated," in csv_text


def test_a_service_without_spend_this_month_says_so(viewer_client, db):
    ServiceFactory(name="quiet")

    html = viewer_client.get("/services/quiet/").content.decode()
    body = viewer_client.get("/api/v1/services/quiet/cost").json()

    assert "no cost recorded yet" in html
    assert body["month_to_date"] is None and body["source"] == ""


def test_whatif_labels_the_price_model_apart_from_the_alert_figure(viewer_client, weather):
    html = viewer_client.get(
        "/services/weather/cost-estimate/?provider=gcp&cpu=1&memory=512Mi&min_instances=1"
        "&max_instances=2&concurrency=80&requests_per_month=0"
    ).content.decode()

    assert "Price model:" in html
    assert "Budget alerts use this month" in html


def test_whatif_never_prices_traffic_from_a_missing_input(viewer_client, weather):
    base = "/services/weather/cost-estimate/?provider=gcp&cpu=1&memory=512Mi&min_instances=0"

    without_traffic = viewer_client.get(base).content.decode()
    without_duration = viewer_client.get(base + "&requests_per_month=1000000")
    api = viewer_client.get(
        "/api/v1/services/weather/cost-estimate?provider=gcp&cpu=1&memory=512Mi"
        "&requests_per_month=1000000"
    )

    assert "traffic not given" in without_traffic
    assert without_duration.status_code == 422
    assert "request_seconds is needed to price 1000000 requests a month" in (
        without_duration.content.decode()
    )
    assert api.status_code == 422 and "request_seconds" in api.content.decode()


def test_cost_breakdowns_draw_bars_relative_to_the_largest_without_inline_styles(
    viewer_client, weather
):
    other = ServiceFactory(name="search", team="core")
    ServiceSpend.objects.create(
        service=other,
        day=timezone.localdate(),
        amount=Decimal("6.17"),
        currency="USD",
        source="estimated",
    )

    html = viewer_client.get("/budgets/").content.decode()

    assert 'class="share-fill"' in html and "style=" not in html
    assert 'width="100.0" height="6" class="share-fill"' in html  # weather, the largest
    assert 'width="50.0" height="6" class="share-fill"' in html  # search, half of it
