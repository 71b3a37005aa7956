"""A cloud budget filtered on a label nothing carries sees $0: the budget page says so and why."""

from __future__ import annotations

import pytest

from fleet.budgets.models import Budget
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def _create(client, capture, scope_value: str = "weather") -> Budget:
    with capture(execute=True):
        client.post(
            "/budgets/new/",
            {
                "name": "weather-monthly",
                "scope": "service",
                "scope_value": scope_value,
                "amount": "100",
                "currency": "USD",
                "thresholds": "90",
            },
        )
    return Budget.objects.get(name="weather-monthly")


def test_budget_page_warns_when_no_resource_carries_the_filter_label(
    operator_client, weather, django_capture_on_commit_callbacks
):
    budget = _create(operator_client, django_capture_on_commit_callbacks)

    page = operator_client.get(f"/budgets/{budget.pk}/").content.decode()

    assert budget.sync_status == "synced"
    assert "carries the label service=weather" in page
    assert "the cloud budget will see $0" in page


def test_no_warning_when_the_service_carries_the_label(
    operator_client, gcp_account, cloudrun_fake, billing_fake, django_capture_on_commit_callbacks
):
    cloudrun_fake.add_service(
        "weather", project="demo-project", cpu="1", memory="512Mi", labels={"service": "weather"}
    )
    ServiceFactory(name="weather", account=gcp_account, resource="weather")

    budget = _create(operator_client, django_capture_on_commit_callbacks)
    page = operator_client.get(f"/budgets/{budget.pk}/").content.decode()

    assert budget.sync_status == "synced"
    assert "will see $0" not in page
