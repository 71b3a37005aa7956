"""Reported and estimated spend side by side, each labelled, and which one alerts.

Before: a team budget whose AWS account reports its spend showed AWS's figure (here $95) marked
"estimated", the cost-per-team table beside it showed the services' estimates (a different
figure for the same team), and the service page called its own estimate "the figure budget
alerts use" although the budget alerted on AWS's number.
"""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from django.utils import timezone

from fleet.budgets import spend
from fleet.budgets.models import Budget, ServiceSpend
from tests.budget_console.conftest import AWS_ACCOUNT, NOV_10

pytestmark = pytest.mark.django_db


@pytest.fixture
def finance_budget(operator_client, ledger, django_capture_on_commit_callbacks):
    """Team finance's budget, synced to AWS, where AWS reports $95 and the estimate is $40."""
    payload = {"name": "finance", "scope": "team", "scope_value": "finance", "amount": "100"}
    with django_capture_on_commit_callbacks(execute=True):
        created = operator_client.post("/api/v1/budgets", payload, content_type="application/json")
    assert created.status_code == 201, created.content
    aws = boto3.client(
        "budgets",
        endpoint_url=ledger.account.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    stored = aws.describe_budget(AccountId=AWS_ACCOUNT, BudgetName="fleet-finance")["Budget"]
    aws.update_budget(
        AccountId=AWS_ACCOUNT,
        NewBudget={
            **{k: stored[k] for k in ("BudgetName", "BudgetLimit", "TimeUnit", "BudgetType")},
            "CostFilters": stored["CostFilters"],
            "CalculatedSpend": {
                "ActualSpend": {"Amount": "95", "Unit": "USD"},
                "ForecastedSpend": {"Amount": "98", "Unit": "USD"},
            },
        },
    )
    # The service's own figure, as the daily ingest stores it (estimated from requested capacity).
    ServiceSpend.objects.create(
        service=ledger,
        day=timezone.localdate(),
        amount=Decimal("40.00"),
        currency="USD",
        source="requested",
    )
    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)
    return Budget.objects.get(name="finance")


def test_the_budget_labels_aws_reported_spend_and_shows_the_estimate_beside_it(
    viewer_client, finance_budget
):
    assert (finance_budget.spend_reported, finance_budget.spend_reported_from) == (
        Decimal("95.00"),
        ["aws-prod"],
    )
    for url in (f"/budgets/{finance_budget.pk}/", "/budgets/"):
        html = viewer_client.get(url).content.decode()
        assert "95.00 USD of 100.00 USD" in html, url
        assert '<span class="tag">reported</span>' in html, url
        assert "the figure this budget's alerts use" in html, url
        assert "<b>reported by AWS Budgets</b> for aws-prod" in html, url
        assert "The services' own figures in this scope add up to 40.00 USD" in html, url
        assert "alerts use the reported figure above instead for aws-prod" in html, url


def test_the_service_page_and_what_if_say_the_budget_alerts_on_aws_figure_instead(
    viewer_client, finance_budget
):
    for url in ("/services/ledger/", "/services/ledger/cost-estimate/"):
        html = viewer_client.get(url).content.decode()
        assert "40.00 USD" in html, url
        assert "estimated from requested CPU/memory" in html, url
        assert "alerts on the spend <b>reported by AWS Budgets</b> for aws-prod instead" in html
        assert "the figure budget alerts use" not in html, url

    body = viewer_client.get("/api/v1/services/ledger/cost").json()
    budget = viewer_client.get(f"/api/v1/budgets/{finance_budget.pk}").json()

    assert body["month_to_date"] == "40.00" and body["source"] == "requested"
    assert body["used_for_alerts"] is False and body["reported_instead_by"] == ["finance"]
    assert budget["spend_reported"] == "95.00" and budget["spend_reported_from"] == ["aws-prod"]


def test_a_service_not_priced_today_keeps_its_figure_of_the_month_in_its_budget(
    operator_client, weather, monitoring_fake, billing_fake, django_capture_on_commit_callbacks
):
    """Before: the budget dropped a service whose estimate failed today ("no cost known") while
    its service page still showed its latest figure of the month: two totals for the same team."""
    from datetime import timedelta

    from tests.budget_console.conftest import seed_usage
    from tests.factories import ServiceFactory

    tiles = ServiceFactory(name="tiles", account=weather.account, resource="tiles", team="maps")
    ServiceSpend.objects.create(
        service=tiles,
        day=NOV_10.date() - timedelta(days=1),
        amount=Decimal("7.00"),
        currency="USD",
        source="estimated",
    )
    payload = {"name": "maps", "scope": "team", "scope_value": "maps", "amount": "100"}
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/api/v1/budgets", payload, content_type="application/json")
    seed_usage(monitoring_fake, "weather", NOV_10, 2_000_000, 1_000_000)  # 50.90 USD

    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)  # tiles is not in the cloud any more: no estimate today

    budget = Budget.objects.get(name="maps")
    assert budget.spend_actual == Decimal("57.90")  # 50.90 + tiles' 7.00 of the 9th
    assert "using tiles as of 09 Nov" in budget.spend_note
