"""Status transitions against a real SDK server switched down, up and slowed, with thresholds,
incidents with durations, and the alert payloads a webhook receives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks import sweep_db
from checks.models import CheckConfig, Incident, ProbeResult, StateChange
from fleet.models import Service
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def notes(knob_server) -> Service:
    url, _ = knob_server
    service = ServiceFactory(name="notes", url=url, team="platform")
    CheckConfig.objects.create(
        service=service, failure_threshold=2, recovery_threshold=2, slow_ms=150
    )
    return service


def check(service: Service, at):
    item = sweep_db.check_now(service, at=at)
    service.refresh_from_db()
    return item


def test_a_healthy_server_is_up_after_one_check(notes, knob):
    item = check(notes, timezone.now())
    assert notes.status == "up"
    assert item.result.ok and item.result.server_name == "knob"
    assert notes.last_latency_ms is not None and notes.last_error == ""


def test_down_after_n_failures_and_up_after_m_successes_with_an_incident(notes, knob):
    t0 = timezone.now()
    check(notes, t0)
    knob.down = True
    # one failure below the threshold does not flap the status
    check(notes, t0 + timedelta(minutes=1))
    assert notes.status == "up"
    assert "503" in notes.last_error
    check(notes, t0 + timedelta(minutes=2))
    assert notes.status == "down"
    incident = Incident.objects.get(service=notes)
    assert incident.is_open and incident.status == "down" and "503" in incident.first_error
    knob.down = False
    check(notes, t0 + timedelta(minutes=3))
    assert notes.status == "down"  # one good answer is not a recovery yet
    check(notes, t0 + timedelta(minutes=12))
    assert notes.status == "up"
    incident.refresh_from_db()
    assert incident.closed_at == t0 + timedelta(minutes=12)
    assert incident.duration == timedelta(minutes=10)
    changes = list(StateChange.objects.filter(service=notes).order_by("at"))
    assert [(c.from_status, c.to_status) for c in changes] == [
        ("unknown", "up"),
        ("up", "down"),
        ("down", "up"),
    ]
    assert changes[1].incident == incident


def test_slow_answers_degrade_and_fast_ones_recover(notes, knob):
    t0 = timezone.now()
    check(notes, t0)
    knob.delay_s = 0.2
    check(notes, t0 + timedelta(minutes=1))
    assert notes.status == "up"
    check(notes, t0 + timedelta(minutes=2))
    assert notes.status == "degraded"
    assert Incident.objects.get(service=notes, closed_at=None).status == "degraded"
    knob.delay_s = 0
    check(notes, t0 + timedelta(minutes=3))
    assert notes.status == "degraded"
    check(notes, t0 + timedelta(minutes=4))
    assert notes.status == "up"
    assert not Incident.objects.filter(service=notes, closed_at=None).exists()


def test_scale_to_zero_first_slow_answer_is_a_cold_start(notes, knob):
    CheckConfig.objects.filter(service=notes).update(scales_to_zero=True, failure_threshold=1)
    t0 = timezone.now()
    check(notes, t0)
    knob.delay_s = 0.2
    item = check(notes, t0 + timedelta(minutes=20))
    assert item.result.cold_start and not item.result.slow
    assert notes.status == "up"  # with N=1 a slow answer would have degraded it at once
    item = check(notes, t0 + timedelta(minutes=21))
    assert item.result.slow and not item.result.cold_start
    assert notes.status == "degraded"


def test_a_status_changed_elsewhere_is_not_overwritten(notes, knob):
    # given the service became up, and then someone else moved it to down meanwhile
    check(notes, timezone.now())
    Service.objects.filter(pk=notes.pk).update(status="down")
    CheckConfig.objects.filter(service=notes).update(consecutive_failures=5)
    knob.down = True
    check(notes, timezone.now())
    # the conditional update saw "down" (no transition written twice)
    assert StateChange.objects.filter(service=notes, to_status="down").count() == 0
    assert ProbeResult.objects.filter(service=notes).count() == 2


def test_alert_payloads_for_down_and_recovery_reach_the_webhook(
    notes, knob, webhook, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        check(notes, t0)
        knob.down = True
        check(notes, t0 + timedelta(minutes=1))
        check(notes, t0 + timedelta(minutes=2))
    assert len(webhook.requests) == 1
    down = webhook.requests[0].json()
    assert webhook.requests[0].path == "/hook"
    assert down["event"] == "opened"
    assert down["alert"]["kind"] == "down" and down["alert"]["severity"] == "critical"
    assert down["alert"]["title"] == "notes is DOWN"
    assert down["alert"]["service"] == "notes"
    assert "503" in down["alert"]["details"]["error"]
    incident = Incident.objects.get(service=notes)
    assert down["alert"]["dedupe_key"] == f"incident:{incident.pk}"
    # still down: no second message
    with django_capture_on_commit_callbacks(execute=True):
        check(notes, t0 + timedelta(minutes=3))
    assert len(webhook.requests) == 1
    knob.down = False
    with django_capture_on_commit_callbacks(execute=True):
        check(notes, t0 + timedelta(minutes=4))
        check(notes, t0 + timedelta(minutes=7))
    assert len(webhook.requests) == 2
    recovered = webhook.requests[1].json()
    assert recovered["alert"]["kind"] == "recovered"
    assert recovered["alert"]["resolves"] == f"incident:{incident.pk}"
    assert recovered["alert"]["details"]["duration_seconds"] == 300
    assert "was down for 5m 00s" in recovered["alert"]["body"]


def test_degraded_then_down_sends_no_recovery_in_between(
    notes, knob, webhook, django_capture_on_commit_callbacks
):
    t0 = timezone.now()
    knob.delay_s = 0.2
    with django_capture_on_commit_callbacks(execute=True):
        check(notes, t0)
        check(notes, t0 + timedelta(minutes=1))
        assert notes.status == "degraded"
        knob.delay_s, knob.down = 0, True
        check(notes, t0 + timedelta(minutes=2))
        check(notes, t0 + timedelta(minutes=3))
        assert notes.status == "down"
    alerts = [r.json() for r in webhook.requests]
    assert [(a["event"], a["alert"]["kind"]) for a in alerts] == [
        ("opened", "degraded"),
        ("opened", "down"),
    ]
    # the degraded alert is closed (no reminders for it), the down one is open
    from console.notifications.models import Alert

    assert list(Alert.objects.filter(resolved_at=None).values_list("kind", flat=True)) == ["down"]
    # and when it comes back, one recovery for the down incident
    knob.down = False
    with django_capture_on_commit_callbacks(execute=True):
        check(notes, t0 + timedelta(minutes=4))
        check(notes, t0 + timedelta(minutes=5))
    assert notes.status == "up"
    last = webhook.requests[-1].json()["alert"]
    assert len(webhook.requests) == 3 and last["kind"] == "recovered"
    assert "was down for 2m 00s" in last["body"]


@pytest.mark.parametrize("field", ["observed_min_instances", "desired_min_instances"])
def test_a_minimum_of_zero_instances_from_the_cloud_or_the_operator_means_cold_starts(
    notes, knob, field
):
    from fleet.operations.models import ServiceScaling

    # given the check settings do not say "scales to zero", but the scaling minimum is 0
    ServiceScaling.objects.create(service=notes, **{field: 0})
    CheckConfig.objects.filter(service=notes).update(failure_threshold=1)
    t0 = timezone.now()
    check(notes, t0)
    knob.delay_s = 0.2
    item = check(notes, t0 + timedelta(minutes=30))
    assert item.result.cold_start and notes.status == "up"


def test_switching_checks_off_ends_the_incident_quietly_and_the_status_is_unknown(
    notes, knob, webhook, operator_client, django_capture_on_commit_callbacks
):
    from console.notifications.models import Alert

    # given notes is down with an open incident and an alert that was sent
    t0 = timezone.now() - timedelta(minutes=10)
    knob.down = True
    with django_capture_on_commit_callbacks(execute=True):
        check(notes, t0)
        check(notes, t0 + timedelta(minutes=1))
    assert notes.status == "down" and len(webhook.requests) == 1
    # when an operator switches its checks off
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.patch(
            "/api/v1/services/notes/checks/settings", {"enabled": False}, "application/json"
        )
    assert response.status_code == 200
    # then the status is unknown, the incident is closed, the alert resolved without a message
    notes.refresh_from_db()
    assert notes.status == "unknown"
    assert not Incident.objects.filter(service=notes, closed_at=None).exists()
    assert not Alert.objects.filter(resolved_at=None).exists()
    assert len(webhook.requests) == 1
    change = StateChange.objects.filter(service=notes).first()
    assert (change.from_status, change.to_status) == ("down", "unknown")
    assert change.reason == "checks disabled by otto"
    page = operator_client.get("/services/notes/").content.decode()
    assert "Scheduled checks are off for this service" in page


@pytest.mark.django_db(transaction=True)
def test_a_state_change_recorded_outside_a_transaction_closes_its_incident():
    """Callers outside the sweep (the demo, a CLI) get the same all-or-nothing change; on
    PostgreSQL the incident lock used to refuse with "select_for_update outside a transaction"."""
    from checks.state import record_state_change

    service = ServiceFactory(name="alone", status="unknown")
    now = timezone.now()
    record_state_change(service, "unknown", "down", "connection refused", at=now, live={})
    record_state_change(
        service, "down", "up", "answers again", at=now + timedelta(minutes=5), live={}
    )

    incident = Incident.objects.get(service=service)
    assert incident.closed_at == now + timedelta(minutes=5)
    assert [c.to_status for c in StateChange.objects.filter(service=service).order_by("at")] == [
        "down",
        "up",
    ]
