"""Budgets synced to a cloud carry their thresholds as the cloud's own notifications.

The cloud then alerts even while the console is down: Google Cloud publishes to the budget's
Pub/Sub topic; AWS Budgets notifies the budget's SNS topic and the addresses of its email channels.
A forced overwrite puts notifications removed in the cloud back.
"""

from __future__ import annotations

import boto3
import pytest

from console.notifications.models import AlertChannel
from fleet.budgets.models import Budget
from tests.budget_console.conftest import AWS_ACCOUNT

pytestmark = pytest.mark.django_db
TOPIC = "projects/demo-project/topics/budget-alerts"
SNS = f"arn:aws:sns:us-east-1:{AWS_ACCOUNT}:budget-alerts"
CHANNEL = "projects/demo-project/notificationChannels/1234567890"


def _post(client, capture, payload):
    with capture(execute=True):
        response = client.post("/api/v1/budgets", payload, content_type="application/json")
    assert response.status_code == 201, response.content
    return Budget.objects.get(pk=response.json()["id"])


def test_gcp_budget_publishes_to_its_pubsub_topic_and_overwrite_restores_it(
    operator_client, weather, billing_fake, django_capture_on_commit_callbacks
):
    payload = {"name": "weather", "scope": "service", "scope_value": "weather", "amount": "100"}
    budget = _post(
        operator_client, django_capture_on_commit_callbacks, {**payload, "gcp_pubsub_topic": TOPIC}
    )
    [name] = billing_fake.budgets
    assert billing_fake.budgets[name]["notificationsRule"]["pubsubTopic"] == TOPIC

    billing_fake.modify_in_cloud(name, {"notificationsRule": {}})
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/budgets/{budget.pk}/sync/", {"force": "1"})

    assert billing_fake.budgets[name]["notificationsRule"]["pubsubTopic"] == TOPIC
    assert "Give the budget a Pub/Sub topic" not in (
        operator_client.get(f"/budgets/{budget.pk}/").content.decode()
    )


def test_gcp_budget_emails_its_monitoring_channels_and_overwrite_restores_them(
    operator_client, weather, billing_fake, django_capture_on_commit_callbacks
):
    """Google Cloud's budgets notify Cloud Monitoring email channels by themselves (besides
    a Pub/Sub topic); the form, API and fleet file take up to 5, and an overwrite restores them."""
    payload = {"name": "weather", "scope": "service", "scope_value": "weather", "amount": "100"}
    budget = _post(
        operator_client,
        django_capture_on_commit_callbacks,
        {**payload, "gcp_notification_channels": [CHANNEL]},
    )
    [name] = billing_fake.budgets
    rule = billing_fake.budgets[name]["notificationsRule"]
    assert rule["monitoringNotificationChannels"] == [CHANNEL] and "pubsubTopic" not in rule
    page = operator_client.get(f"/budgets/{budget.pk}/").content.decode()
    assert CHANNEL in page and "Give the budget a Pub/Sub topic" not in page

    billing_fake.modify_in_cloud(name, {"notificationsRule": {}})
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/budgets/{budget.pk}/sync/", {"force": "1"})

    rule = billing_fake.budgets[name]["notificationsRule"]
    assert rule["monitoringNotificationChannels"] == [CHANNEL]
    edit = operator_client.get(f"/budgets/{budget.pk}/edit/").content.decode()
    assert f'value="{CHANNEL}"' in edit


def test_aws_budget_notifies_its_email_channels_and_sns_topic(
    operator_client, ledger, django_capture_on_commit_callbacks
):
    AlertChannel.objects.create(name="finops", type="email", target="finops@example.com")
    payload = {
        "name": "finance",
        "scope": "team",
        "scope_value": "finance",
        "amount": "100",
        "thresholds": [{"percent": "90"}, {"percent": "100", "basis": "forecast"}],
        "channels": ["finops"],
        "aws_sns_topic_arn": SNS,
    }
    _post(operator_client, django_capture_on_commit_callbacks, payload)

    aws = boto3.client(
        "budgets",
        endpoint_url=ledger.account.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    notifications = aws.describe_notifications_for_budget(
        AccountId=AWS_ACCOUNT, BudgetName="fleet-finance"
    )["Notifications"]
    assert sorted((n["NotificationType"], n["Threshold"]) for n in notifications) == [
        ("ACTUAL", 90.0),
        ("FORECASTED", 100.0),
    ]
    # moto stores subscribers but does not serve DescribeSubscribersForNotification: read its store.
    from moto.budgets.models import budgets_backends

    backend = budgets_backends[AWS_ACCOUNT]["aws"]
    stored = backend.budgets[AWS_ACCOUNT]["fleet-finance"].notifications
    for notification in stored:
        assert sorted((s["SubscriptionType"], s["Address"]) for s in notification.subscribers) == [
            ("EMAIL", "finops@example.com"),
            ("SNS", SNS),
        ]


def test_aws_budget_without_a_subscriber_says_the_cloud_will_not_alert(
    operator_client, ledger, django_capture_on_commit_callbacks
):
    payload = {"name": "finance", "scope": "team", "scope_value": "finance", "amount": "100"}
    budget = _post(operator_client, django_capture_on_commit_callbacks, payload)

    page = operator_client.get(f"/budgets/{budget.pk}/").content.decode()

    assert "AWS will not alert by itself" in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gcp_pubsub_topic", "topics/budget-alerts"),
        ("gcp_pubsub_topic", "projects/demo-project/topics/a\nb"),
        ("aws_sns_topic_arn", "arn:aws:sqs:us-east-1:123456789012:q"),
        ("gcp_notification_channels", "projects/demo-project/topics/budget-alerts"),
    ],
)
def test_a_malformed_topic_is_refused_naming_the_field(operator_client, weather, field, value):
    payload = {"name": "weather", "scope": "service", "scope_value": "weather", "amount": "100"}

    response = operator_client.post(
        "/api/v1/budgets", {**payload, field: value}, content_type="application/json"
    )
    page = operator_client.post(
        "/budgets/new/", {**payload, "currency": "USD", "thresholds": "90", field: value}
    )

    assert response.status_code == 422 and field in response.content.decode()
    assert page.status_code == 422 and "is not a" in page.content.decode()
    assert not Budget.objects.exists()


def test_more_than_five_monitoring_channels_are_refused_naming_the_field(operator_client, weather):
    payload = {"name": "weather", "scope": "service", "scope_value": "weather", "amount": "100"}
    six = [f"projects/demo-project/notificationChannels/{i}" for i in range(6)]

    response = operator_client.post(
        "/api/v1/budgets",
        {**payload, "gcp_notification_channels": six},
        content_type="application/json",
    )

    assert response.status_code == 422
    assert "gcp_notification_channels" in response.content.decode()
    assert "at most 5 channels" in response.content.decode()
    assert not Budget.objects.exists()


def _aws_subscribers(name: str) -> list[list[tuple[str, str]]]:
    """Each notification's subscribers, read from moto's store (moto does not serve
    DescribeSubscribersForNotification)."""
    from moto.budgets.models import budgets_backends

    stored = budgets_backends[AWS_ACCOUNT]["aws"].budgets[AWS_ACCOUNT][name].notifications
    return [sorted((s["SubscriptionType"], s["Address"]) for s in n.subscribers) for n in stored]


def test_an_sns_topic_added_later_reaches_the_notifications_aws_already_has(
    operator_client, ledger, django_capture_on_commit_callbacks
):
    """Before: existing AWS notifications kept their first subscribers, so a topic (or channel)
    added to the budget afterwards was never alerted by AWS."""
    AlertChannel.objects.create(name="finops", type="email", target="finops@example.com")
    payload = {
        "name": "finance",
        "scope": "team",
        "scope_value": "finance",
        "amount": "100",
        "thresholds": [{"percent": "90"}, {"percent": "100"}],
        "channels": ["finops"],
    }
    budget = _post(operator_client, django_capture_on_commit_callbacks, payload)
    assert _aws_subscribers("fleet-finance") == [[("EMAIL", "finops@example.com")]] * 2

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.put(
            f"/api/v1/budgets/{budget.pk}",
            {**payload, "aws_sns_topic_arn": SNS},
            content_type="application/json",
        )
    assert response.status_code == 200, response.content

    assert (
        _aws_subscribers("fleet-finance") == [[("EMAIL", "finops@example.com"), ("SNS", SNS)]] * 2
    )
    budget.refresh_from_db()
    assert budget.sync_status == "synced"


def test_a_forced_overwrite_restores_subscribers_changed_in_aws(
    operator_client, ledger, django_capture_on_commit_callbacks
):
    payload = {
        "name": "finance",
        "scope": "team",
        "scope_value": "finance",
        "amount": "100",
        "thresholds": [{"percent": "90"}],
        "aws_sns_topic_arn": SNS,
    }
    budget = _post(operator_client, django_capture_on_commit_callbacks, payload)
    aws = boto3.client(
        "budgets",
        endpoint_url=ledger.account.endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    [notification] = aws.describe_notifications_for_budget(
        AccountId=AWS_ACCOUNT, BudgetName="fleet-finance"
    )["Notifications"]
    # Someone in AWS points the alert elsewhere (same threshold, other subscriber).
    aws.delete_notification(
        AccountId=AWS_ACCOUNT, BudgetName="fleet-finance", Notification=notification
    )
    aws.create_notification(
        AccountId=AWS_ACCOUNT,
        BudgetName="fleet-finance",
        Notification=notification,
        Subscribers=[{"SubscriptionType": "EMAIL", "Address": "someone@example.com"}],
    )

    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post(f"/budgets/{budget.pk}/sync/", {"force": "1"})

    assert _aws_subscribers("fleet-finance") == [[("SNS", SNS)]]


def test_removing_every_subscriber_removes_the_aws_notifications(
    operator_client, ledger, django_capture_on_commit_callbacks
):
    """AWS needs a subscriber per notification; the old topic must not keep being alerted."""
    payload = {"name": "finance", "scope": "team", "scope_value": "finance", "amount": "100"}
    budget = _post(
        operator_client, django_capture_on_commit_callbacks, {**payload, "aws_sns_topic_arn": SNS}
    )
    assert len(_aws_subscribers("fleet-finance")) == 3

    with django_capture_on_commit_callbacks(execute=True):
        operator_client.put(
            f"/api/v1/budgets/{budget.pk}", payload, content_type="application/json"
        )

    assert _aws_subscribers("fleet-finance") == []
    page = operator_client.get(f"/budgets/{budget.pk}/").content.decode()
    assert "AWS will not alert by itself" in page
