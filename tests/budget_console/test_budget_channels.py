"""The alert channels a budget notifies, and "once per threshold per period" against reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import AuditLogEntry, Job
from console.notifications.dispatch import send_reminders
from console.notifications.models import Alert, AlertChannel
from fleet.budgets import spend
from fleet.budgets.models import Budget
from tests.budget_console.conftest import NOV_10, seed_usage
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def form(**changes) -> dict:
    data = {
        "name": "weather-monthly",
        "scope": "service",
        "scope_value": "weather",
        "amount": "100",
        "currency": "USD",
        "thresholds": "50",
    }
    return {**data, **changes}


@pytest.fixture
def two_channels(webhook):
    """ops-hook (from the `webhook` fixture, routes everything) and finops-hook, same receiver."""
    AlertChannel.objects.create(name="finops-hook", type="webhook", target=f"{webhook.url}/finops")
    return webhook


def test_a_budget_alert_goes_only_to_the_channels_chosen_in_the_form(
    operator_client,
    weather,
    billing_fake,
    monitoring_fake,
    two_channels,
    django_capture_on_commit_callbacks,
):
    page = operator_client.get("/budgets/new/?scope=service&scope_value=weather").content.decode()
    assert "Alert channels" in page and 'value="finops-hook"' in page

    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/budgets/new/", form(channels=["finops-hook"]))
    budget = Budget.objects.get()
    assert [c.name for c in budget.channels.all()] == ["finops-hook"]
    detail = operator_client.get(f"/budgets/{budget.pk}/").content.decode()
    assert "through these alert channels" in detail and "finops-hook" in detail

    seed_usage(monitoring_fake, "weather", NOV_10, 2_000_000, 1_000_000)  # 50.90 USD
    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)

    assert [r.path for r in two_channels.requests] == ["/finops"]
    assert two_channels.requests[0].json()["alert"]["title"].endswith("reached 50% of 100.00 USD")


def test_without_chosen_channels_the_routed_channels_get_it(
    operator_client,
    weather,
    billing_fake,
    monitoring_fake,
    two_channels,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/budgets/new/", form())
    seed_usage(monitoring_fake, "weather", NOV_10, 2_000_000, 1_000_000)
    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)

    assert sorted(r.path for r in two_channels.requests) == ["/finops", "/hook"]


def test_a_crossed_threshold_is_not_repeated_by_hourly_reminders(
    operator_client,
    weather,
    billing_fake,
    monitoring_fake,
    webhook,
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/budgets/new/", form())
    seed_usage(monitoring_fake, "weather", NOV_10, 2_000_000, 1_000_000)
    with django_capture_on_commit_callbacks(execute=True):
        spend.ingest(now=NOV_10)
    assert len(webhook.requests) == 1

    with django_capture_on_commit_callbacks(execute=True):
        send_reminders(now=timezone.now() + timedelta(hours=5))

    assert len(webhook.requests) == 1
    alert = Alert.objects.get(kind="budget")
    assert alert.resolved_at is not None  # listed under recent alerts, not as an open problem


def test_channels_in_the_api_unknown_names_are_a_422_and_changes_are_audited(
    operator_client, weather, billing_fake, webhook, django_capture_on_commit_callbacks
):
    body = {"name": "w", "scope": "service", "scope_value": "weather", "amount": "10"}
    response = operator_client.post(
        "/api/v1/budgets", {**body, "channels": ["nope"]}, content_type="application/json"
    )
    assert response.status_code == 422
    [error] = [e for e in response.json()["detail"] if e["loc"] == ["body", "channels"]]
    assert error["msg"] == "No alert channel named 'nope' (see Alerts → Channels)."

    with django_capture_on_commit_callbacks(execute=True):
        created = operator_client.post("/api/v1/budgets", body, content_type="application/json")
    assert created.status_code == 201 and created.json()["channels"] == []
    budget_id = created.json()["id"]
    syncs = Job.objects.filter(name__startswith="Sync budget").count()

    with django_capture_on_commit_callbacks(execute=True):
        updated = operator_client.put(
            f"/api/v1/budgets/{budget_id}",
            {**body, "channels": ["ops-hook"]},
            content_type="application/json",
        )

    assert updated.status_code == 200 and updated.json()["channels"] == ["ops-hook"]
    assert updated.json()["sync_status"] == "synced"  # a console-only change: no new cloud sync
    assert Job.objects.filter(name__startswith="Sync budget").count() == syncs
    entry = AuditLogEntry.objects.filter(object_type="budget", action="update").get()
    assert entry.before["channels"] == [] and entry.after["channels"] == ["ops-hook"]


def test_saving_the_same_budget_again_changes_nothing_and_syncs_nothing(
    operator_client, weather, billing_fake, django_capture_on_commit_callbacks
):
    body = {"name": "w", "scope": "service", "scope_value": "weather", "amount": 250}
    with django_capture_on_commit_callbacks(execute=True):
        created = operator_client.post("/api/v1/budgets", body, content_type="application/json")
    assert created.json()["amount"] == "250.00"

    with django_capture_on_commit_callbacks(execute=True):
        again = operator_client.put(
            f"/api/v1/budgets/{created.json()['id']}", body, content_type="application/json"
        )

    assert again.status_code == 200
    assert AuditLogEntry.objects.filter(object_type="budget").count() == 1  # the create only
    assert Job.objects.filter(name__startswith="Sync budget").count() == 1


def test_the_budgets_page_reads_a_fixed_number_of_queries(
    operator_client, django_assert_max_num_queries
):
    """Cost per service/team and each budget's bar come from a handful of queries, not per row."""
    from datetime import date

    from fleet.budgets.models import ServiceSpend, SpendRecord

    for i in range(6):
        service = ServiceFactory(name=f"svc-{i}", team=f"team-{i % 2}")
        budget = Budget.objects.create(
            name=f"b-{i}",
            scope="service",
            scope_value=service.name,
            amount=100,
            spend_actual=5,
            spend_forecast=50,
            spend_currency="USD",
            spend_as_of=date(2026, 11, 3),
        )
        SpendRecord.objects.create(
            budget=budget, day=date(2026, 11, 3), amount=5, currency="USD", source="estimated"
        )
        ServiceSpend.objects.create(
            service=service, day=date(2026, 11, 3), amount=5, currency="USD", source="estimated"
        )

    with django_assert_max_num_queries(9):
        page = operator_client.get("/budgets/").content.decode()

    assert page.count('class="budget-bar"') == 6 and "team-1" in page
