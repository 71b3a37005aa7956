"""Deliveries over real HTTP to a local receiver, email through locmem, retries and reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from console.notifications import dispatch
from console.notifications.models import Alert, Delivery
from console.notifications.tasks import send_reminders_task
from tests.factories import ServiceFactory
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory, SilenceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def notes():
    return ServiceFactory(name="notes", team="search", environment="production")


def notify_now(evt, capture):
    """notify() and run the queued delivery tasks, as the worker would after commit."""
    with capture(execute=True):
        return dispatch.notify(evt)


def test_webhook_gets_the_documented_json_with_the_secret_header(
    receiver, notes, monkeypatch, settings, django_capture_on_commit_callbacks
):
    # given a webhook channel whose secret header value lives in an environment variable
    monkeypatch.setenv("FLEET_SECRET_ALERT_HOOK_TOKEN", "s3cret-value")
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    channel = ChannelFactory(
        target=f"{receiver.url}/hooks/ops",
        secret_header="X-Alert-Token",
        secret_ref="env:FLEET_SECRET_ALERT_HOOK_TOKEN",
    )
    # when the service goes down
    alert = notify_now(event(notes, details={"probe": "mcp"}), django_capture_on_commit_callbacks)
    # then the receiver got one JSON POST with the token and the alert document
    [request] = receiver.requests
    assert request.path == "/hooks/ops"
    assert request.headers["x-alert-token"] == "s3cret-value"
    assert request.headers["content-type"] == "application/json"
    doc = request.json()
    assert doc["version"] == 1 and doc["event"] == "opened"
    assert doc["alert"] | {"opened_at": None} == {
        "id": alert.pk,
        "kind": "down",
        "severity": "critical",
        "title": "notes is DOWN",
        "body": "3 probes in a row failed: connection refused.",
        "dedupe_key": f"incident:{notes.pk}",
        "service": "notes",
        "team": "search",
        "environment": "production",
        "url": "https://console.example.com/incidents/1/",
        "opened_at": None,
        "resolved_at": None,
        "reminder_count": 0,
        "resolves": None,
        "details": {"probe": "mcp"},
    }
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 1, 200)
    assert delivery.channel == channel and delivery.sent_at is not None
    assert "s3cret-value" not in str(delivery.payload)


def test_secret_from_a_mounted_file(
    receiver, notes, secret_dir, django_capture_on_commit_callbacks
):
    secret = secret_dir / "alert-token"
    secret.write_text("Bearer from-file\n")
    ChannelFactory(target=receiver.url, secret_header="Authorization", secret_ref=f"file:{secret}")
    notify_now(event(notes), django_capture_on_commit_callbacks)
    assert receiver.requests[0].headers["authorization"] == "Bearer from-file"


def test_a_missing_secret_fails_at_once_and_says_which(
    receiver, notes, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.delenv("FLEET_SECRET_NO_SUCH_ALERT_TOKEN", raising=False)
    ChannelFactory(
        target=receiver.url,
        secret_header="X-Token",
        secret_ref="env:FLEET_SECRET_NO_SUCH_ALERT_TOKEN",
    )
    notify_now(event(notes), django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "environment variable FLEET_SECRET_NO_SUCH_ALERT_TOKEN is not set" in delivery.last_error
    assert receiver.requests == []


def test_slack_gets_text_and_blocks(
    receiver, notes, monkeypatch, django_capture_on_commit_callbacks
):
    # the Slack URL is itself a secret, so it comes from the environment
    monkeypatch.setenv("FLEET_SECRET_SLACK_OPS_WEBHOOK", f"{receiver.url}/services/T0/B0/xyz")
    ChannelFactory(type="slack", target="env:FLEET_SECRET_SLACK_OPS_WEBHOOK")
    notify_now(event(notes), django_capture_on_commit_callbacks)
    [request] = receiver.requests
    assert request.path == "/services/T0/B0/xyz"
    message = request.json()
    assert message["text"] == ":red_circle: [CRITICAL] notes is DOWN (production / search)"
    assert message["blocks"][0]["type"] == "section"
    assert "notes is DOWN" in message["blocks"][0]["text"]["text"]
    assert message["blocks"][1]["text"]["text"] == "3 probes in a row failed: connection refused."
    fields = [f["text"] for f in message["blocks"][2]["fields"]]
    assert "*Service*\nnotes" in fields and "*Team*\nsearch" in fields


def test_email_goes_through_django_mail(notes, django_capture_on_commit_callbacks):
    ChannelFactory(type="email", target="oncall@example.com, search-team@example.com")
    notify_now(event(notes), django_capture_on_commit_callbacks)
    [message] = mail.outbox
    assert message.to == ["oncall@example.com", "search-team@example.com"]
    assert message.subject == "[CRITICAL] notes is DOWN (production / search)"
    assert "3 probes in a row failed" in message.body and "Service: notes" in message.body
    assert Delivery.objects.get().status == "sent"


def test_a_500_is_retried_and_a_later_200_counts(
    receiver, notes, django_capture_on_commit_callbacks
):
    receiver.statuses = [500]
    ChannelFactory(target=receiver.url)
    notify_now(event(notes), django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 2
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 2, 200)
    assert delivery.last_error == ""


def test_retries_give_up_after_the_configured_attempts(
    receiver, notes, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    receiver.default_status = 500
    ChannelFactory(target=receiver.url)
    notify_now(event(notes), django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 3
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 3, 500)
    assert delivery.last_error == "Gave up after 3 attempt(s): HTTP 500 (no content type, 16 bytes)"


def test_429_is_retried_but_a_404_is_not(receiver, notes, django_capture_on_commit_callbacks):
    receiver.statuses = [429, 404]
    ChannelFactory(target=receiver.url)
    notify_now(event(notes), django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 2
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.response_code) == ("failed", 404)
    assert delivery.last_error == "HTTP 404 (no content type, 16 bytes)"


def test_connection_refused_is_retried_then_recorded(notes, django_capture_on_commit_callbacks):
    ChannelFactory(target="http://127.0.0.1:9/closed-port")
    notify_now(event(notes), django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert delivery.last_error.startswith("Gave up after 3 attempt(s): ConnectError")


def test_reminders_resend_open_alerts_when_due(
    receiver, notes, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_REMINDER_MINUTES = 30
    ChannelFactory(target=receiver.url)
    alert = notify_now(event(notes), django_capture_on_commit_callbacks)
    # not due yet: nothing more
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders_task.delay().get() == 0
    # 31 minutes later: one reminder
    Alert.objects.filter(pk=alert.pk).update(last_sent_at=timezone.now() - timedelta(minutes=31))
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders_task.delay().get() == 1
    assert [r.json()["event"] for r in receiver.requests] == ["opened", "reminder"]
    assert receiver.requests[1].json()["alert"]["reminder_count"] == 1
    alert.refresh_from_db()
    assert alert.reminder_count == 1
    # resolved alerts are never reminded
    dispatch.resolve(alert.dedupe_key)
    Alert.objects.filter(pk=alert.pk).update(last_sent_at=timezone.now() - timedelta(hours=5))
    assert dispatch.send_reminders() == 0


def test_an_alert_held_by_a_silence_is_sent_when_the_silence_ends(
    receiver, notes, django_capture_on_commit_callbacks
):
    ChannelFactory(target=receiver.url)
    silence = SilenceFactory(match_service="notes")
    alert = notify_now(event(notes), django_capture_on_commit_callbacks)
    assert dispatch.send_reminders() == 0  # still silenced
    silence.ends_at = timezone.now()
    silence.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.send_reminders() == 1
    assert [r.json()["event"] for r in receiver.requests] == ["opened"]
    alert.refresh_from_db()
    assert alert.silenced_by is None and alert.reminder_count == 0


def test_the_reminder_run_is_scheduled_with_beat():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="notifications.send_reminders_task")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "minutes"


def test_a_delivery_to_a_deleted_channel_is_not_sent(
    notes, receiver, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(target=receiver.url)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch.notify(event(notes))
    channel.delete()
    for callback in callbacks:
        callback()
    delivery = Delivery.objects.get()
    assert (
        delivery.status == "failed" and delivery.last_error == "Not sent: the channel was deleted."
    )
    assert delivery.channel_name == channel.name and receiver.requests == []


def test_alerts_of_a_deleted_service_are_resolved_not_reminded(
    receiver, notes, django_capture_on_commit_callbacks
):
    ChannelFactory(target=receiver.url)
    alert = notify_now(event(notes), django_capture_on_commit_callbacks)
    notes.delete()
    Alert.objects.filter(pk=alert.pk).update(last_sent_at=timezone.now() - timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch.send_reminders() == 0
    alert.refresh_from_db()
    assert not alert.is_open and alert.service_name == "notes"
    assert [r.json()["event"] for r in receiver.requests] == ["opened"]
