"""Withdrawing an acknowledgement: reminders resume, roles, refusals, audit rows, UI and API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from console.models import ApiToken, AuditLogEntry
from console.notifications import dispatch, services
from console.notifications.models import Alert, AlertGroup
from tests.factories import ServiceFactory
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def reminders(alert: Alert) -> int:
    return alert.deliveries.filter(purpose="reminder").count()


def later(settings) -> timezone.datetime:
    return timezone.now() + timedelta(minutes=settings.ALERT_REMINDER_MINUTES + 1)


def test_withdrawing_a_group_ack_resumes_reminders_and_sends_held_alerts(
    settings, operator_client, operator
):
    # given a cause acknowledged while down, and a second alert of it held back by that ack
    ChannelFactory(name="ops")
    notes = ServiceFactory(name="notes")
    first = dispatch.notify(event(notes, dedupe_key="incident:1"))
    services.acknowledge_group(actor=operator, source="ui", group=first.group, note="mine")
    held = dispatch.notify(event(notes, dedupe_key="incident:2"))
    assert held.is_acknowledged and not held.deliveries.exists()
    assert dispatch.send_reminders(later(settings)) == 0
    # when an operator withdraws the group's acknowledgement
    response = operator_client.post(f"/alerts/groups/{first.group_id}/withdraw-acknowledgement/")
    # then the group and both open alerts are unacknowledged, with an audit row of what was taken
    assert response.status_code == 302
    group = AlertGroup.objects.get()
    assert not group.is_acknowledged and group.ack_note == ""
    assert not Alert.objects.filter(acknowledged_at__isnull=False).exists()
    entry = AuditLogEntry.objects.get(action="unacknowledge")
    assert (entry.object_type, entry.actor, entry.source) == ("alertgroup", operator, "ui")
    assert entry.before["acknowledged_by"] == "otto" and entry.before["note"] == "mine"
    assert entry.after is None and "2 open alerts" in entry.detail
    # and the reminder run sends again: a reminder for the first, the held one for the first time
    assert dispatch.send_reminders(later(settings)) == 2
    assert reminders(first) == 1
    assert held.deliveries.get().purpose == "opened"


def test_withdrawing_one_alert_resumes_its_reminders_and_clears_the_group_when_last(
    settings, operator_client, operator
):
    ChannelFactory(name="ops")
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    services.acknowledge_group(actor=operator, source="ui", group=alert.group)
    response = operator_client.post(
        f"/alerts/{alert.pk}/withdraw-acknowledgement/", {"group": alert.group_id}
    )
    assert response.status_code == 302 and response.url == f"/alerts/groups/{alert.group_id}/"
    alert.refresh_from_db()
    alert.group.refresh_from_db()
    assert not alert.is_acknowledged and not alert.group.is_acknowledged
    entry = AuditLogEntry.objects.get(action="unacknowledge")
    assert entry.object_type == "alert" and entry.before["acknowledged_by"] == "otto"
    assert dispatch.send_reminders(later(settings)) == 1
    assert reminders(alert) == 1


def test_withdrawing_one_of_two_acknowledged_alerts_keeps_the_group_acknowledged(operator):
    notes = ServiceFactory(name="notes")
    first = dispatch.notify(event(notes, dedupe_key="incident:1"))
    services.acknowledge_group(actor=operator, source="ui", group=first.group)
    second = dispatch.notify(event(notes, dedupe_key="incident:2"))  # inherits the ack
    services.withdraw_alert_acknowledgement(actor=operator, source="ui", alert=first)
    second.refresh_from_db()
    second.group.refresh_from_db()
    assert second.is_acknowledged and second.group.is_acknowledged


def test_nothing_to_withdraw_is_refused_saying_why(operator_client, operator):
    notes = ServiceFactory(name="notes")
    alert = dispatch.notify(event(notes, dedupe_key="incident:1"))
    not_acked = operator_client.post(f"/alerts/{alert.pk}/withdraw-acknowledgement/")
    group_not_acked = operator_client.post(
        f"/alerts/groups/{alert.group_id}/withdraw-acknowledgement/"
    )
    assert not_acked.status_code == group_not_acked.status_code == 422
    assert "This alert is not acknowledged" in not_acked.content.decode()
    assert "This group is not acknowledged" in group_not_acked.content.decode()
    services.acknowledge_group(actor=operator, source="ui", group=alert.group)
    dispatch.resolve("incident:1")
    resolved = operator_client.post(f"/alerts/{alert.pk}/withdraw-acknowledgement/")
    group_resolved = operator_client.post(
        f"/alerts/groups/{alert.group_id}/withdraw-acknowledgement/"
    )
    assert resolved.status_code == group_resolved.status_code == 422
    assert "already resolved" in resolved.content.decode()
    assert "Everything in this group is resolved" in group_resolved.content.decode()
    assert not AuditLogEntry.objects.filter(action="unacknowledge").exists()
    alert.refresh_from_db()
    assert alert.is_acknowledged  # the stamp of a resolved alert is history, left as it was


def test_viewers_see_no_withdraw_button_and_cannot_post(viewer_client, operator):
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    services.acknowledge_group(actor=operator, source="ui", group=alert.group)
    for path in (
        f"/alerts/{alert.pk}/withdraw-acknowledgement/",
        f"/alerts/groups/{alert.group_id}/withdraw-acknowledgement/",
    ):
        assert viewer_client.post(path).status_code == 403
        assert Client().post(path).status_code == 302  # to the login page
    alert.refresh_from_db()
    assert alert.is_acknowledged and not AuditLogEntry.objects.filter(action="unacknowledge")
    for page in ("/alerts/", f"/alerts/groups/{alert.group_id}/"):
        html = viewer_client.get(page).content.decode()
        assert "acknowledged" in html and "withdraw-acknowledgement" not in html


def test_the_withdraw_forms_carry_the_csrf_token_and_need_it(operator):
    user = User.objects.create_user("olga", password="olga-pass-123")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    services.acknowledge_group(actor=operator, source="ui", group=alert.group)
    path = f"/alerts/groups/{alert.group_id}/withdraw-acknowledgement/"
    assert client.post(path).status_code == 403
    page = client.get(f"/alerts/groups/{alert.group_id}/")
    html = page.content.decode()
    assert f'action="{path}"' in html
    assert f'action="/alerts/{alert.pk}/withdraw-acknowledgement/"' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 2
    token = page.cookies["csrftoken"].value
    ok = client.post(path, {"csrfmiddlewaretoken": token, "group": alert.group_id})
    assert ok.status_code == 302 and ok.url == f"/alerts/groups/{alert.group_id}/"


def test_withdrawing_over_the_api(operator, viewer):
    operator_api = Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(operator, 'ci')[1]}")
    viewer_api = Client(HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(viewer, 'ci')[1]}")
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    group_path = f"/api/v1/alerts/groups/{alert.group_id}/withdraw-acknowledgement"
    alert_path = f"/api/v1/alerts/{alert.pk}/withdraw-acknowledgement"
    refused = operator_api.post(group_path, content_type="application/json")
    assert refused.status_code == 422 and "not acknowledged" in json.dumps(refused.json())
    services.acknowledge_group(actor=operator, source="ui", group=alert.group, note="mine")
    assert viewer_api.post(group_path, content_type="application/json").status_code == 403
    done = operator_api.post(group_path, content_type="application/json")
    assert done.status_code == 200 and done.json()["acknowledged"] is None
    services.acknowledge_alert(actor=operator, source="ui", alert=alert)
    one = operator_api.post(alert_path, content_type="application/json")
    assert one.status_code == 200 and one.json()["acknowledged"] is None
    assert operator_api.post("/api/v1/alerts/999999/withdraw-acknowledgement").status_code == 404
    sources = set(AuditLogEntry.objects.filter(action="unacknowledge").values_list("source"))
    assert sources == {("api",)}
