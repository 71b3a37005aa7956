"""Done when: a budget alert set in the UI exists in the (emulated) cloud, spend shows against it,
and a crossed threshold alerts exactly once, delivered to a real local webhook receiver."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest

from console.models import AuditLogEntry
from fleet.budgets import spend
from fleet.budgets.models import Budget, SpendRecord, ThresholdAlert
from tests.budget_console.conftest import AWS_ACCOUNT, NOV_10, seed_usage

pytestmark = pytest.mark.django_db


def form(**changes) -> dict:
    data = {
        "name": "weather-monthly",
        "scope": "service",
        "scope_value": "weather",
        "amount": "100",
        "currency": "USD",
        "thresholds": "50, 90, 100, forecast:100",
    }
    return {**data, **changes}


def test_set_budget_alert_in_the_ui_creates_it_in_google_cloud(
    operator_client, weather, billing_fake, django_capture_on_commit_callbacks
):
    page = operator_client.get("/budgets/new/?scope=service&scope_value=weather").content.decode()
    assert 'value="weather"' in page and 'value="weather-monthly"' in page

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/budgets/new/", form())

    budget = Budget.objects.get(name="weather-monthly")
    assert response.status_code == 302 and response["Location"] == f"/budgets/{budget.pk}/"
    [cloud] = billing_fake.budgets.values()
    assert cloud["displayName"] == "fleet-weather-monthly"
    assert cloud["amount"]["specifiedAmount"] == {"currencyCode": "USD", "units": "100"}
    assert cloud["budgetFilter"]["projects"] == ["projects/demo-project"]
    assert cloud["budgetFilter"]["labels"] == {"service": ["weather"]}
    assert sorted((r["spendBasis"], r["thresholdPercent"]) for r in cloud["thresholdRules"]) == [
        ("CURRENT_SPEND", 0.5),
        ("CURRENT_SPEND", 0.9),
        ("CURRENT_SPEND", 1.0),
        ("FORECASTED_SPEND", 1.0),
    ]
    budget.refresh_from_db()
    assert budget.sync_status == "synced"
    detail = operator_client.get(f"/budgets/{budget.pk}/").content.decode()
    assert cloud["name"] in detail and "Synced" in detail
    entry = AuditLogEntry.objects.get(object_type="budget", action="create")
    assert entry.actor_label == "otto" and entry.after["amount"] == "100.00"


def test_spend_shows_and_each_crossed_threshold_alerts_exactly_once(
    operator_client,
    weather,
    billing_fake,
    monitoring_fake,
    webhook,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/budgets/new/", form())
    # 2,000,000 billable seconds at 1 vCPU + 0.5 GiB, 1,000,000 requests:
    # 2e6 x 0.000024 + 1e6 x 0.0000025 + 1 x 0.40 = 48.00 + 2.50 + 0.40 = 50.90 USD
    seed_usage(monitoring_fake, "weather", NOV_10, 2_000_000, 1_000_000)

    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)

    budget = Budget.objects.get(name="weather-monthly")
    assert budget.spend_actual == Decimal("50.90")
    assert budget.spend_forecast == Decimal("152.70")  # 50.90 / 10 days x 30 days
    assert budget.spend_source == "estimated"
    assert SpendRecord.objects.get(budget=budget).amount == Decimal("50.90")
    assert sorted(ThresholdAlert.objects.values_list("rule_key", flat=True)) == [
        "actual:50",
        "forecast:100",
    ]
    titles = sorted(r.json()["alert"]["title"] for r in webhook.requests)
    assert titles == [
        "Budget weather-monthly: forecast spend reached 100% of 100.00 USD",
        "Budget weather-monthly: spend reached 50% of 100.00 USD",
    ]
    page = operator_client.get("/budgets/").content.decode()
    assert "50.90 USD of 100.00 USD" in page and "estimated" in page and "<svg" in page
    assert "weather" in page and "maps" in page  # cost per service and per team

    # The same spend again: nothing new is sent.
    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)
    assert len(webhook.requests) == 2

    # More usage crosses 90 %: exactly one more alert.
    seed_usage(monitoring_fake, "weather", NOV_10, 1_600_000, 0)  # +40.40 USD = 91.30
    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)
    assert len(webhook.requests) == 3
    assert webhook.requests[-1].json()["alert"]["title"].endswith("reached 90% of 100.00 USD")


def test_aws_budget_is_created_in_moto_and_its_reported_spend_alerts(
    operator_client, ledger, webhook, django_capture_on_commit_callbacks
):
    payload = {"name": "finance", "scope": "team", "scope_value": "finance", "amount": "100"}
    with django_capture_on_commit_callbacks(execute=True):
        created = operator_client.post("/api/v1/budgets", payload, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["sync_status"] == "pending"  # the sync runs after commit
    budget_url = f"/api/v1/budgets/{created.json()['id']}"
    [copy] = operator_client.get(budget_url).json()["cloud_budgets"]
    assert (copy["status"], copy["provider_budget_id"]) == ("synced", "fleet-finance")

    aws = boto3.client(
        "budgets",
        endpoint_url=ledger.account.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    stored = aws.describe_budget(AccountId=AWS_ACCOUNT, BudgetName="fleet-finance")["Budget"]
    assert stored["BudgetLimit"] == {"Amount": "100.00", "Unit": "USD"}
    assert stored["CostFilters"] == {"TagKeyValue": ["user:team$finance"]}
    # AWS computes spend on the budget itself.
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

    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)

    budget = Budget.objects.get(name="finance")
    assert (budget.spend_actual, budget.spend_forecast) == (Decimal("95"), Decimal("98"))
    assert budget.spend_source == "reported" and budget.sync_status == "synced"
    assert sorted(r.json()["alert"]["title"] for r in webhook.requests) == [
        "Budget finance: spend reached 50% of 100.00 USD",
        "Budget finance: spend reached 90% of 100.00 USD",
    ]


def test_refresh_spend_now_runs_the_ingest_as_a_job(
    operator_client, weather, billing_fake, monitoring_fake, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    from console.models import Job

    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/budgets/new/", form())
    seed_usage(monitoring_fake, "weather", timezone.now(), 400_000, 0)  # 10.10 USD

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/budgets/ingest/")

    job = Job.objects.get(name="Ingest budget spend")
    assert response["Location"] == f"/jobs/{job.pk}/?from=%2Fbudgets%2F"
    assert job.status == "succeeded"
    assert "budget weather-monthly: 10.10 USD month to date (estimated)" in job.log
    assert Budget.objects.get().spend_actual == Decimal("10.10")
