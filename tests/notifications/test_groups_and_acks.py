"""Alert groups (one row per cause) and acknowledgements: rules, roles, audit rows, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from console.models import AuditLogEntry
from console.notifications import dispatch, services
from console.notifications.models import Alert, AlertGroup, Delivery
from tests.factories import ServiceFactory
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def flap(service, times: int) -> list[Alert]:
    """The service goes down and recovers `times` times: a new incident (dedupe key) each time."""
    alerts = []
    for i in range(times):
        key = f"incident:{service.pk}-{i}"
        alerts.append(dispatch.notify(event(service, dedupe_key=key)))
        dispatch.notify(
            event(service, kind="recovered", severity="info", title=f"{service.name} recovered",
                  dedupe_key=f"{key}:recovered", details={"resolves": key})
        )  # fmt: skip
    return alerts


# -- grouping rules -----------------------------------------------------------------------------


def test_repeats_of_one_cause_share_a_group_and_recoveries_join_it():
    notes = ServiceFactory(name="notes")
    alerts = flap(notes, 3)
    group = AlertGroup.objects.get()
    assert group.cause_key == "down:service:notes" and group.kind == "down"
    assert {a.group_id for a in Alert.objects.all()} == {group.pk}  # recoveries too
    assert Alert.objects.filter(group=group, kind="recovered").count() == 3
    assert [a.pk for a in alerts] == sorted(a.pk for a in alerts)


def test_service_kind_and_threshold_each_make_a_different_cause():
    notes, wiki = ServiceFactory(name="notes"), ServiceFactory(name="wiki")
    dispatch.notify(event(notes))
    dispatch.notify(event(wiki))
    dispatch.notify(event(notes, kind="degraded", severity="warning", dedupe_key="incident:d"))
    for period in ("2026-10", "2026-11"):  # the same threshold, two months: one cause
        for rule in ("actual:90", "actual:100"):
            dispatch.notify(
                event(None, kind="budget", severity="warning", cause=f"budget:7:{rule}",
                      dedupe_key=f"budget:7:{period}:{rule}", team="search")
            )  # fmt: skip
    dispatch.notify(event(None, kind="drift", dedupe_key="drift:orphan:abc"))
    causes = dict(AlertGroup.objects.values_list("cause_key", "alerts__dedupe_key"))
    counts = {g.cause_key: g.alerts.count() for g in AlertGroup.objects.all()}
    assert counts == {
        "down:service:notes": 1,
        "down:service:wiki": 1,
        "degraded:service:notes": 1,
        "budget:7:actual:90": 2,
        "budget:7:actual:100": 2,
        "drift:key:drift:orphan:abc": 1,  # no service and no cause: its own cause
    }
    assert causes  # every group has its alerts


def test_the_alert_page_shows_one_row_per_cause_with_count_and_first_last_seen(viewer_client):
    notes = ServiceFactory(name="notes")
    ChannelFactory(name="ops")
    flap(notes, 2)
    still = dispatch.notify(event(notes, dedupe_key="incident:now"))
    Alert.objects.filter(pk=still.pk).update(last_seen_at=timezone.now() + timedelta(minutes=5))
    html = viewer_client.get("/alerts/").content.decode()
    assert html.count('class="alert-group ') == 1
    assert "3 alerts" in html and "<details" in html and "first notice → ops" in html
    group = AlertGroup.objects.get()
    assert f'href="/alerts/groups/{group.pk}/"' in html
    page = viewer_client.get(f"/alerts/groups/{group.pk}/").content.decode()
    assert page.count('class="alert-line"') == 5  # 3 problems and 2 recoveries


def test_the_alert_page_stays_within_a_fixed_number_of_queries(
    viewer_client, django_assert_max_num_queries
):
    ChannelFactory()
    for i in range(8):
        service = ServiceFactory()
        flap(service, 2)
        dispatch.notify(event(service, dedupe_key=f"open-{i}"))
    with django_assert_max_num_queries(12):
        assert viewer_client.get("/alerts/").status_code == 200


# -- acknowledging ------------------------------------------------------------------------------


def test_an_operator_acknowledges_a_group_who_when_and_note_audited(operator_client, operator):
    notes = ServiceFactory(name="notes")
    alert = dispatch.notify(event(notes))
    group = AlertGroup.objects.get()
    response = operator_client.post(
        f"/alerts/groups/{group.pk}/acknowledge/", {"note": "  on it, DB failover  "}
    )
    assert response.status_code == 302
    group.refresh_from_db()
    alert.refresh_from_db()
    assert group.acknowledged_by == operator and group.acknowledged_by_name == "otto"
    assert group.ack_note == "on it, DB failover" and group.acknowledged_at is not None
    assert alert.acknowledged_at == group.acknowledged_at and alert.ack_note == group.ack_note
    entry = AuditLogEntry.objects.get()
    assert (entry.action, entry.object_type, entry.actor) == ("acknowledge", "alertgroup", operator)
    assert entry.after["note"] == "on it, DB failover" and "1 open alert" in entry.detail
    html = operator_client.get("/alerts/").content.decode()
    assert 'class="alert-group severity-critical acknowledged"' in html
    assert 'by <strong class="ack-by">otto</strong>' in html and "on it, DB failover" in html


def test_acknowledged_and_unacknowledged_groups_can_be_filtered(operator_client, operator):
    notes, wiki = ServiceFactory(name="notes"), ServiceFactory(name="wiki")
    dispatch.notify(event(notes))
    dispatch.notify(event(wiki, title="wiki is DOWN"))
    services.acknowledge_group(
        actor=operator, source="ui", group=AlertGroup.objects.get(service_name="notes")
    )
    acked = operator_client.get("/alerts/?ack=acknowledged").content.decode()
    waiting = operator_client.get("/alerts/?ack=unacknowledged").content.decode()
    assert "notes is DOWN" in acked and "wiki is DOWN" not in acked
    assert "wiki is DOWN" in waiting and "notes is DOWN" not in waiting


def test_one_alert_can_be_acknowledged_on_its_own(operator_client, operator):
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    response = operator_client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": ""})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == operator and alert.ack_note == ""
    assert AuditLogEntry.objects.get().object_type == "alert"
    again = operator_client.post(f"/alerts/{alert.pk}/acknowledge/", {"note": "x"})
    assert again.status_code == 422 and "Already acknowledged by otto." in again.content.decode()


def test_viewers_and_anonymous_callers_cannot_acknowledge(viewer_client):
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    for path in (
        f"/alerts/{alert.pk}/acknowledge/",
        f"/alerts/groups/{alert.group_id}/acknowledge/",
    ):
        assert viewer_client.post(path, {"note": "mine"}).status_code == 403
        assert Client().post(path, {"note": "mine"}).status_code == 302  # to the login page
    assert not AlertGroup.objects.filter(acknowledged_at__isnull=False).exists()
    assert not Alert.objects.filter(acknowledged_at__isnull=False).exists()
    assert not AuditLogEntry.objects.exists()
    html = viewer_client.get("/alerts/").content.decode()
    assert "not acknowledged" in html and "/acknowledge/" not in html


def test_a_note_longer_than_the_limit_is_refused_naming_the_field(operator_client):
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    response = operator_client.post(
        f"/alerts/groups/{alert.group_id}/acknowledge/", {"note": "x" * 501}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Note: must be at most 500 characters (got 501)." in html and 'role="alert"' in html
    assert not AlertGroup.objects.filter(acknowledged_at__isnull=False).exists()
    assert not AuditLogEntry.objects.exists()
    ok = operator_client.post(f"/alerts/groups/{alert.group_id}/acknowledge/", {"note": "x" * 500})
    assert ok.status_code == 302


def test_nothing_open_or_resolved_alerts_cannot_be_acknowledged(operator_client):
    notes = ServiceFactory(name="notes")
    [alert] = flap(notes, 1)
    group = operator_client.post(f"/alerts/groups/{alert.group_id}/acknowledge/")
    single = operator_client.post(f"/alerts/{alert.pk}/acknowledge/")
    assert group.status_code == single.status_code == 422
    assert "nothing to acknowledge" in group.content.decode()
    assert "already resolved" in single.content.decode()


def test_acknowledging_needs_the_csrf_token():
    from django.contrib.auth.models import Group, User

    user = User.objects.create_user("olga", password="olga-pass-123")
    user.groups.add(Group.objects.get_or_create(name="operator")[0])
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    assert client.post(f"/alerts/groups/{alert.group_id}/acknowledge/").status_code == 403
    page = client.get("/alerts/")
    token = page.cookies["csrftoken"].value
    form = page.content.decode()
    assert f'action="/alerts/groups/{alert.group_id}/acknowledge/"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    ok = client.post(
        f"/alerts/groups/{alert.group_id}/acknowledge/", {"csrfmiddlewaretoken": token}
    )
    assert ok.status_code == 302


# -- what an acknowledgement silences ------------------------------------------------------------


def test_an_acknowledged_alert_gets_no_reminders(settings, operator):
    ChannelFactory(name="ops")
    alert = dispatch.notify(event(ServiceFactory(name="notes")))
    other = dispatch.notify(event(ServiceFactory(name="wiki"), title="wiki is DOWN"))
    services.acknowledge_alert(actor=operator, source="ui", alert=alert, note="mine")
    later = timezone.now() + timedelta(minutes=settings.ALERT_REMINDER_MINUTES + 1)
    assert dispatch.send_reminders(later) == 1
    assert not alert.deliveries.filter(purpose="reminder").exists()
    assert other.deliveries.filter(purpose="reminder").count() == 1


def test_a_new_alert_of_an_acknowledged_open_cause_is_held_and_its_recovery_still_goes(operator):
    ChannelFactory(name="ops")
    drift = dict(kind="drift", severity="warning", title="notes: tool list changed")
    first = dispatch.notify(event(ServiceFactory(name="notes"), dedupe_key="drift:1", **drift))
    services.acknowledge_group(actor=operator, source="ui", group=first.group, note="reviewing")
    # the tool list changes again while the first change is still open and acknowledged
    second = dispatch.notify(event(first.service, dedupe_key="drift:2", **drift))
    assert second.group_id == first.group_id
    assert second.acknowledged_by_name == "otto" and second.ack_note == "reviewing"
    assert not second.deliveries.exists()
    # recoveries are always sent to the channels that were told
    recovery = dispatch.notify(
        event(first.service, kind="recovered", severity="info", dedupe_key="drift:1:ok",
              details={"resolves": "drift:1"})
    )  # fmt: skip
    assert recovery.deliveries.get().purpose == "recovered"


def test_once_the_acknowledged_problem_resolves_the_next_one_is_sent(operator):
    ChannelFactory(name="ops")
    notes = ServiceFactory(name="notes")
    first = dispatch.notify(event(notes, dedupe_key="incident:1"))
    services.acknowledge_group(actor=operator, source="ui", group=first.group)
    dispatch.resolve("incident:1")
    second = dispatch.notify(event(notes, dedupe_key="incident:2"))
    assert not second.is_acknowledged and second.deliveries.count() == 1
    second.group.refresh_from_db()
    assert not second.group.is_acknowledged
    assert Delivery.objects.filter(alert=second, purpose="opened").exists()
