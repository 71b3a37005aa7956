"""Bad input, failing syncs, cloud-side changes, permissions and deletion."""

from __future__ import annotations

import boto3
import pytest

from fleet.budgets import services as budget_services
from fleet.budgets import spend
from fleet.budgets.models import Budget
from tests.budget_console.conftest import AWS_ACCOUNT, NOV_10
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def spec(**changes) -> dict:
    base = {"name": "weather-monthly", "scope": "service", "scope_value": "weather"}
    return {**base, "amount": "100", "currency": "USD", **changes}


def create(actor, django_capture_on_commit_callbacks, **changes) -> Budget:
    with django_capture_on_commit_callbacks(execute=True):
        budget = budget_services.save_budget(actor=actor, source="ui", spec=spec(**changes))
    budget.refresh_from_db()
    return budget


def test_bad_input_in_the_form_names_each_field(operator_client):
    ServiceFactory(name="weather")
    response = operator_client.post(
        "/budgets/new/",
        {
            "name": "Bad Name!",
            "scope": "service",
            "scope_value": "nope",
            "amount": "-5",
            "currency": "XYZ",
            "thresholds": "50, 2000",
        },
    )
    page = response.content.decode()
    assert response.status_code == 422
    assert "is not a valid name" in page
    assert "No service matches service &#x27;nope&#x27;." in page
    assert "must be greater than zero, got -5" in page
    assert "&#x27;XYZ&#x27; is not an ISO 4217 currency code" in page
    assert "2000: must be between 1 and 1000, got 2000" in page
    assert not Budget.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"amount": "0"}, "amount", "must be greater than zero, got 0"),
        ({"amount": "ten"}, "amount", "'ten' is not a number"),
        ({"currency": "usd!"}, "currency", "is not an ISO 4217 currency code"),
        ({"thresholds": [{"percent": 0}]}, "thresholds", "must be between 1 and 1000, got 0"),
        ({"thresholds": [{"percent": 1001}]}, "thresholds", "must be between 1 and 1000"),
        (
            {"thresholds": [{"percent": 90, "basis": "hope"}]},
            "thresholds",
            "'actual' or 'forecast'",
        ),
        ({"scope": "team", "scope_value": "ghosts"}, "scope_value", "No service matches team"),
        ({"scope": "account", "scope_value": "nowhere"}, "scope_value", "No cloud account"),
        ({"scope": "galaxy"}, "scope", "'galaxy' is not a scope"),
    ],
)
def test_bad_input_in_the_api_is_a_422_naming_the_field(operator_client, changes, field, message):
    ServiceFactory(name="weather")
    response = operator_client.post(
        "/api/v1/budgets", spec(**changes), content_type="application/json"
    )
    assert response.status_code == 422
    [error] = [e for e in response.json()["detail"] if e["loc"] == ["body", field]]
    assert message in error["msg"]


def test_a_failing_sync_keeps_the_budget_and_marks_it_not_synced(
    operator_client, weather, billing_fake, django_capture_on_commit_callbacks
):
    billing_fake.fail_next(403)

    budget = create(None, django_capture_on_commit_callbacks)

    assert budget.amount == 100 and budget.sync_status == "not_synced"
    assert "gcp budgets: list billingAccounts/" in budget.sync_reason
    assert "permission denied" in budget.sync_reason
    page = operator_client.get("/budgets/").content.decode()
    assert "Not synced" in page and "permission denied" in page
    # The next sync (the fault is gone) succeeds.
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/budgets/{budget.pk}/sync/")
    budget.refresh_from_db()
    assert budget.sync_status == "synced" and len(billing_fake.budgets) == 1


def test_missing_billing_account_is_a_clear_reason(
    weather, billing_fake, django_capture_on_commit_callbacks
):
    weather.account.billing_account = ""
    weather.account.save()
    budget = create(None, django_capture_on_commit_callbacks)
    assert budget.sync_status == "not_synced"
    assert "account gcp-prod has no billing account id" in budget.sync_reason
    assert billing_fake.budgets == {}


def test_a_change_made_in_google_cloud_is_detected_and_only_overwritten_on_request(
    operator_client, weather, billing_fake, monitoring_fake, django_capture_on_commit_callbacks
):
    budget = create(None, django_capture_on_commit_callbacks)
    [name] = billing_fake.budgets
    billing_fake.modify_in_cloud(
        name, {"amount": {"specifiedAmount": {"currencyCode": "USD", "units": "500"}}}
    )

    spend.ingest(now=NOV_10)  # the periodic run re-reads synced budgets

    budget.refresh_from_db()
    assert budget.sync_status == "drifted"
    assert "Changed in the cloud since last sync" in budget.sync_reason
    page = operator_client.get(f"/budgets/{budget.pk}/").content.decode()
    assert "Changed in the cloud since last sync" in page and "Overwrite cloud changes" in page
    # A plain sync leaves the cloud's change alone...
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/budgets/{budget.pk}/sync/")
    assert billing_fake.budgets[name]["amount"]["specifiedAmount"]["units"] == "500"
    # ...overwriting puts the console's budget back.
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/budgets/{budget.pk}/sync/", {"force": "1"})
    assert billing_fake.budgets[name]["amount"]["specifiedAmount"]["units"] == "100"
    budget.refresh_from_db()
    assert budget.sync_status == "synced" and "Changed in the cloud" not in budget.sync_reason


def test_a_change_made_in_aws_is_detected(ledger, django_capture_on_commit_callbacks):
    budget = create(None, django_capture_on_commit_callbacks, scope="service", scope_value="ledger")
    assert budget.sync_status == "synced"
    aws = boto3.client(
        "budgets",
        endpoint_url=ledger.account.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    stored = aws.describe_budget(AccountId=AWS_ACCOUNT, BudgetName="fleet-weather-monthly")
    new = {k: stored["Budget"][k] for k in ("BudgetName", "TimeUnit", "BudgetType", "CostFilters")}
    aws.update_budget(
        AccountId=AWS_ACCOUNT, NewBudget={**new, "BudgetLimit": {"Amount": "999", "Unit": "USD"}}
    )

    with django_capture_on_commit_callbacks(execute=True):
        budget_services.sync_budget(actor=None, source="ui", budget=budget)

    budget.refresh_from_db()
    assert budget.sync_status == "drifted"
    assert "aws-prod: Changed in the cloud since last sync" in budget.sync_reason
    limit = aws.describe_budget(AccountId=AWS_ACCOUNT, BudgetName="fleet-weather-monthly")
    assert limit["Budget"]["BudgetLimit"]["Amount"] in ("999", "999.0")


def test_deleting_a_budget_deletes_its_cloud_copy(
    operator_client, weather, billing_fake, django_capture_on_commit_callbacks
):
    budget = create(None, django_capture_on_commit_callbacks)
    assert len(billing_fake.budgets) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/budgets/{budget.pk}/delete/")
    assert response.status_code == 302
    assert not Budget.objects.exists() and billing_fake.budgets == {}


def test_budgets_for_services_without_a_budget_api_live_in_the_console(
    django_capture_on_commit_callbacks,
):
    ServiceFactory(name="notes", team="search")  # plain URL
    budget = create(None, django_capture_on_commit_callbacks, scope="team", scope_value="search")
    assert budget.sync_status == "local"
    assert "No service in scope runs on a cloud with a budget API" in budget.sync_reason


def test_budget_covers_asks_every_scope(db):
    notes = ServiceFactory(name="notes", team="search", environment="staging")
    other = ServiceFactory(name="other", team="maps", environment="production")
    assert not budget_services.budget_covers(notes)
    Budget.objects.create(name="staging", scope="environment", scope_value="staging", amount=10)
    assert budget_services.budget_covers(notes) and not budget_services.budget_covers(other)
    Budget.objects.create(name="all", scope="fleet", amount=10)
    assert budget_services.budget_covers(other)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/budgets/new/"),
        ("post", "/budgets/new/"),
        ("post", "/budgets/{pk}/edit/"),
        ("post", "/budgets/{pk}/delete/"),
        ("post", "/budgets/{pk}/sync/"),
        ("post", "/budgets/ingest/"),
    ],
)
def test_viewers_see_budgets_but_change_nothing(viewer_client, method, url):
    ServiceFactory(name="weather")
    budget = Budget.objects.create(name="b", scope="service", scope_value="weather", amount=5)
    assert viewer_client.get("/budgets/").status_code == 200
    assert viewer_client.get(f"/budgets/{budget.pk}/").status_code == 200
    response = getattr(viewer_client, method)(url.format(pk=budget.pk), spec())
    assert response.status_code == 403
    assert Budget.objects.get().name == "b"


def test_viewers_get_403_from_the_api_and_anonymous_users_401(viewer_client, client):
    ServiceFactory(name="weather")
    budget = Budget.objects.create(name="b", scope="service", scope_value="weather", amount=5)
    api = "/api/v1/budgets"
    assert viewer_client.get(api).status_code == 200
    assert viewer_client.post(api, spec(), content_type="application/json").status_code == 403
    assert (
        viewer_client.put(f"{api}/{budget.pk}", spec(), content_type="application/json").status_code
        == 403
    )
    assert viewer_client.delete(f"{api}/{budget.pk}").status_code == 403
    assert viewer_client.post(f"{api}/{budget.pk}/sync").status_code == 403
    assert client.get(api).status_code == 401
    assert client.get("/budgets/").status_code == 302  # to the login page
