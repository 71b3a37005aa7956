"""AWS budgets through boto3 against moto in server mode (ThreadedMotoServer on 127.0.0.1).

moto 5.2's Budgets supports create/describe/delete budgets, create/delete/describe notifications
and returns CalculatedSpend verbatim when given (0/0 otherwise), but has no UpdateBudget: the
tests that change a limit install it from `moto_update_budget`.
"""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest

from fleet.costs.aws_budgets import (
    budgets_client,
    delete_budget,
    get_budget,
    reported_spend,
    upsert_budget,
)
from fleet.costs.errors import CostInputError, CostSyncError
from fleet.costs.spec import BudgetSpec
from fleet.costs.thresholds import ThresholdRule, crossed_thresholds
from tests.costs import moto_update_budget
from tests.costs.conftest import FAST_RETRY

ACCOUNT = "123456789012"
SNS = "arn:aws:sns:us-east-1:123456789012:budget-alerts"


def agents_budget(**changes) -> BudgetSpec:
    fields = dict(
        display_name="fleet-agents",
        amount=Decimal(300),
        currency="USD",
        thresholds=(ThresholdRule(Decimal(80)), ThresholdRule(Decimal(100), "forecast")),
        labels={"team": "agents"},
        email_subscribers=("ops@example.com",),
        sns_topic_arn=SNS,
    )
    return BudgetSpec(**{**fields, **changes})


def notifications(client, name: str) -> list[dict]:
    found = client.describe_notifications_for_budget(AccountId=ACCOUNT, BudgetName=name)
    return sorted(found["Notifications"], key=lambda n: n["Threshold"])


def test_create_a_cost_budget_with_tag_filter_and_notifications(aws_client):
    synced = upsert_budget(ACCOUNT, agents_budget(), client=aws_client, retry=FAST_RETRY)

    stored = aws_client.describe_budget(AccountId=ACCOUNT, BudgetName="fleet-agents")["Budget"]
    assert stored["BudgetLimit"] == {"Amount": "300", "Unit": "USD"}
    assert (stored["BudgetType"], stored["TimeUnit"]) == ("COST", "MONTHLY")
    assert stored["CostFilters"] == {"TagKeyValue": ["user:team$agents"]}
    assert notifications(aws_client, "fleet-agents") == [
        {
            "NotificationType": "ACTUAL",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": 80.0,
            "ThresholdType": "PERCENTAGE",
        },
        {
            "NotificationType": "FORECASTED",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": 100.0,
            "ThresholdType": "PERCENTAGE",
        },
    ]
    assert (synced.name, synced.amount, synced.currency) == ("fleet-agents", Decimal(300), "USD")
    assert synced.thresholds == agents_budget().thresholds
    assert synced.labels == {"team": "agents"}


def test_without_subscribers_no_aws_notifications_are_made(aws_client):
    spec = agents_budget(email_subscribers=(), sns_topic_arn="")

    synced = upsert_budget(ACCOUNT, spec, client=aws_client, retry=FAST_RETRY)

    assert notifications(aws_client, "fleet-agents") == []
    assert synced.thresholds == ()  # the console alerts itself (fleet.costs.thresholds)


def test_changing_thresholds_adds_and_removes_notifications(aws_client):
    upsert_budget(ACCOUNT, agents_budget(), client=aws_client, retry=FAST_RETRY)
    changed = agents_budget(
        thresholds=(ThresholdRule(Decimal(50)), ThresholdRule(Decimal(100), "forecast"))
    )

    synced = upsert_budget(ACCOUNT, changed, client=aws_client, retry=FAST_RETRY)

    assert [
        (n["NotificationType"], n["Threshold"]) for n in notifications(aws_client, "fleet-agents")
    ] == [
        ("ACTUAL", 50.0),
        ("FORECASTED", 100.0),
    ]
    assert set(synced.thresholds) == set(changed.thresholds)


def test_changing_the_limit_updates_the_budget(aws_client, monkeypatch):
    moto_update_budget.install(monkeypatch)
    first = upsert_budget(ACCOUNT, agents_budget(), client=aws_client, retry=FAST_RETRY)

    synced = upsert_budget(
        ACCOUNT, agents_budget(amount=Decimal("450.75")), client=aws_client, retry=FAST_RETRY
    )

    stored = aws_client.describe_budget(AccountId=ACCOUNT, BudgetName="fleet-agents")["Budget"]
    assert stored["BudgetLimit"] == {"Amount": "450.75", "Unit": "USD"}
    assert synced.amount == Decimal("450.75")
    assert len(notifications(aws_client, "fleet-agents")) == 2  # notifications survive
    assert synced.changed_since(first.fingerprint)


def test_a_server_error_is_retried_then_reported(aws_client):
    # Stock moto answers UpdateBudget with HTTP 500: a real 5xx, retried then given up on.
    upsert_budget(ACCOUNT, agents_budget(), client=aws_client, retry=FAST_RETRY)

    with pytest.raises(CostSyncError) as err:
        upsert_budget(
            ACCOUNT, agents_budget(amount=Decimal(500)), client=aws_client, retry=FAST_RETRY
        )

    assert (err.value.cause, err.value.attempts) == ("server", 3)
    assert str(err.value).startswith("aws budgets: update fleet-agents failed after 3 attempts")


def test_a_change_made_in_the_console_is_noticed(aws_client):
    synced = upsert_budget(ACCOUNT, agents_budget(), client=aws_client, retry=FAST_RETRY)
    assert not get_budget(ACCOUNT, "fleet-agents", client=aws_client).changed_since(
        synced.fingerprint
    )

    aws_client.create_notification(
        AccountId=ACCOUNT,
        BudgetName="fleet-agents",
        Notification={
            "NotificationType": "ACTUAL",
            "ComparisonOperator": "GREATER_THAN",
            "Threshold": 120.0,
            "ThresholdType": "PERCENTAGE",
        },
        Subscribers=[{"SubscriptionType": "EMAIL", "Address": "cfo@example.com"}],
    )

    seen = get_budget(ACCOUNT, "fleet-agents", client=aws_client, retry=FAST_RETRY)
    assert seen.changed_since(synced.fingerprint)
    assert ThresholdRule(Decimal(120)) in seen.thresholds


def test_spend_of_a_new_budget_is_zero(aws_client):
    upsert_budget(ACCOUNT, agents_budget(), client=aws_client, retry=FAST_RETRY)

    assert reported_spend(ACCOUNT, "fleet-agents", client=aws_client) == (
        Decimal(0),
        Decimal(0),
        "USD",
    )


def test_reported_spend_drives_the_alerts(aws_client):
    # A budget whose CalculatedSpend AWS has filled in (moto keeps what it is given).
    aws_client.create_budget(
        AccountId=ACCOUNT,
        Budget={
            "BudgetName": "fleet-agents",
            "BudgetLimit": {"Amount": "300", "Unit": "USD"},
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "CalculatedSpend": {
                "ActualSpend": {"Amount": "123.45", "Unit": "USD"},
                "ForecastedSpend": {"Amount": "310.00", "Unit": "USD"},
            },
        },
    )

    actual, forecast, currency = reported_spend(ACCOUNT, "fleet-agents", client=aws_client)
    fired = crossed_thresholds(Decimal(300), actual, forecast, agents_budget().thresholds, set())

    assert (actual, forecast, currency) == (Decimal("123.45"), Decimal("310.00"), "USD")
    # 80 % of 300 = 240 > 123.45 actual; 100 % = 300 <= 310 forecast
    assert [rule.key for rule in fired] == ["forecast:100"]


def test_a_missing_budget_is_named_in_the_error(aws_client):
    with pytest.raises(CostSyncError) as err:
        reported_spend(ACCOUNT, "no-such-budget", client=aws_client, retry=FAST_RETRY)
    assert err.value.cause == "not_found"
    assert "no-such-budget" in str(err.value)


def test_delete_is_idempotent(aws_client):
    upsert_budget(ACCOUNT, agents_budget(), client=aws_client, retry=FAST_RETRY)

    assert delete_budget(ACCOUNT, "fleet-agents", client=aws_client, retry=FAST_RETRY) is True
    assert delete_budget(ACCOUNT, "fleet-agents", client=aws_client, retry=FAST_RETRY) is False


def test_an_unreachable_endpoint_is_retried_then_reported():
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    client = budgets_client(endpoint="http://127.0.0.1:9", session=session)

    with pytest.raises(CostSyncError) as err:
        get_budget(ACCOUNT, "fleet-agents", client=client, retry=FAST_RETRY)

    assert (err.value.cause, err.value.attempts) == ("unavailable", 3)


def test_names_aws_refuses_are_caught_before_the_call(aws_client):
    with pytest.raises(CostInputError) as err:
        upsert_budget(ACCOUNT, agents_budget(display_name="fleet:agents"), client=aws_client)
    assert err.value.field == "display_name"
