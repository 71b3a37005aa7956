"""Alert pages: what each role sees and may do, field errors, the in-place test send."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from console.models import AuditLogEntry
from console.notifications import dispatch
from console.notifications.models import AlertChannel, Delivery, Silence
from tests.factories import ServiceFactory
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory, SilenceFactory

pytestmark = pytest.mark.django_db

CHANNEL_POST = {
    "name": "ops-hook",
    "type": "webhook",
    "target": "https://hooks.example.com/fleet",
    "secret_header": "Authorization",
    "secret_ref": "env:FLEET_SECRET_OPS_HOOK_TOKEN",
    "enabled": "on",
    "match_teams": "search, payments",
    "match_environments": "production",
    "match_services": "",
    "match_kinds": ["down", "recovered"],
}


def test_alert_page_lists_open_alerts_with_their_deliveries(viewer_client, htmx_headers):
    notes = ServiceFactory(name="notes")
    ChannelFactory(name="ops")
    dispatch.notify(event(notes))
    page = viewer_client.get("/alerts/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "notes is DOWN" in html and "first notice → ops" in html and "<html" in html
    fragment = viewer_client.get("/alerts/", **htmx_headers).content.decode()
    assert "notes is DOWN" in fragment and "<html" not in fragment
    assert page.headers["Vary"].count("HX-Request") == 1


def test_alert_page_says_why_nothing_was_sent(viewer_client):
    notes = ServiceFactory(name="notes")
    SilenceFactory(match_service="notes", reason="db upgrade")
    dispatch.notify(event(notes))
    dispatch.notify(event(None, kind="drift", dedupe_key="drift:x", title="tools changed"))
    html = viewer_client.get("/alerts/").content.decode()
    assert "Held back by a silence (service notes" in html
    assert "No channel routes this alert." in html


def test_alert_page_query_count_does_not_grow_with_alerts(
    viewer_client, django_assert_max_num_queries
):
    ChannelFactory()
    for i in range(15):
        dispatch.notify(event(ServiceFactory(), dedupe_key=f"k{i}"))
    with django_assert_max_num_queries(12):
        assert viewer_client.get("/alerts/").status_code == 200


def test_viewers_read_but_never_change(viewer_client):
    channel = ChannelFactory(name="ops")
    silence = SilenceFactory()
    assert viewer_client.get("/alerts/channels/").status_code == 200
    assert viewer_client.get("/alerts/silences/").status_code == 200
    assert "Send test alert" not in viewer_client.get("/alerts/channels/").content.decode()
    for path, data in (
        ("/alerts/channels/new/", CHANNEL_POST),
        ("/alerts/channels/ops/edit/", CHANNEL_POST),
        ("/alerts/channels/ops/delete/", {}),
        ("/alerts/channels/ops/test/", {}),
        ("/alerts/silences/new/", {"reason": "x", "ends_at": "2099-01-01T00:00"}),
        (f"/alerts/silences/{silence.pk}/end/", {}),
    ):
        assert viewer_client.post(path, data).status_code == 403, path
    assert viewer_client.get("/alerts/channels/new/").status_code == 403
    assert AlertChannel.objects.get() == channel and Delivery.objects.count() == 0
    assert Silence.objects.get().is_active and AuditLogEntry.objects.count() == 0


def test_operator_creates_edits_and_deletes_a_channel_audited(operator_client):
    response = operator_client.post("/alerts/channels/new/", CHANNEL_POST)
    assert response.status_code == 302
    channel = AlertChannel.objects.get(name="ops-hook")
    assert channel.match_teams == ["search", "payments"]
    assert channel.match_kinds == ["down", "recovered"] and channel.enabled
    edit = {**CHANNEL_POST, "enabled": "", "match_teams": "search"}
    assert operator_client.post("/alerts/channels/ops-hook/edit/", edit).status_code == 302
    channel.refresh_from_db()
    assert not channel.enabled and channel.match_teams == ["search"]
    assert operator_client.post("/alerts/channels/ops-hook/delete/").status_code == 302
    assert not AlertChannel.objects.exists()
    log = list(AuditLogEntry.objects.order_by("id").values_list("action", "object_type"))
    assert log == [
        ("create", "alertchannel"),
        ("update", "alertchannel"),
        ("delete", "alertchannel"),
    ]
    assert AuditLogEntry.objects.order_by("id")[1].changed_fields() == [
        ("enabled", True, False),
        ("match_teams", ["search", "payments"], ["search"]),
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"target": "ftp://hooks.example.com"}, "target", "URL scheme must be http or https"),
        (
            {"type": "email", "target": "ops@", "secret_header": "", "secret_ref": ""},
            "target",
            "&#x27;ops@&#x27; is not a valid email address.",
        ),
        (
            {"secret_ref": "env:lower-case"},
            "secret_ref",
            "&#x27;lower-case&#x27; is not an environment variable name",
        ),
        ({"secret_ref": "OPS_TOKEN"}, "secret_ref", "never the secret itself"),
        ({"secret_header": "Bad Header"}, "secret_header", "is not a valid HTTP header name"),
        ({"type": "slack"}, "secret_header", "Only webhook channels send a secret header."),
        ({"name": "Ops Hook"}, "name", "is not a valid name"),
        ({"target": "env:SLACK URL"}, "target", "is not an environment variable name"),
    ],
)
def test_channel_form_names_the_field_and_the_problem(operator_client, changes, field, message):
    response = operator_client.post("/alerts/channels/new/", {**CHANNEL_POST, **changes})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert field in response.context["form"].errors
    assert not AlertChannel.objects.exists()


def test_duplicate_channel_name_is_refused(operator_client):
    ChannelFactory(name="ops-hook")
    response = operator_client.post("/alerts/channels/new/", CHANNEL_POST)
    assert response.status_code == 422
    assert "already exists" in response.context["form"].errors["name"][0]


def test_send_test_alert_shows_the_result_in_place(
    operator_client, htmx_headers, receiver, django_capture_on_commit_callbacks
):
    ChannelFactory(name="ops", target=f"{receiver.url}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post("/alerts/channels/ops/test/", **htmx_headers)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    delivery = Delivery.objects.get()
    assert delivery.purpose == "test" and delivery.alert.kind == "test"
    assert receiver.requests[0].json()["event"] == "test"
    # the fragment is created before the worker runs; polling it shows the outcome
    html = operator_client.get(f"/alerts/deliveries/{delivery.pk}/", **htmx_headers).content
    assert b"Sent (HTTP 200) after 1 attempt." in html and b"hx-trigger" not in html
    assert AuditLogEntry.objects.get().action == "test"


def test_a_queued_test_delivery_keeps_polling(operator_client, htmx_headers):
    ChannelFactory(name="ops")
    response = operator_client.post("/alerts/channels/ops/test/", **htmx_headers)
    html = response.content.decode()
    assert "Queued: waiting for a worker" in html and 'hx-trigger="every 1s"' in html


def test_a_failed_test_shows_the_error(
    operator_client, htmx_headers, receiver, django_capture_on_commit_callbacks
):
    receiver.default_status = 403
    ChannelFactory(name="ops", target=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.post("/alerts/channels/ops/test/", **htmx_headers)
    pk = Delivery.objects.get().pk
    html = operator_client.get(f"/alerts/deliveries/{pk}/", **htmx_headers).content.decode()
    assert "Failed: HTTP 403 (no content type, 16 bytes)" in html and "receiver says no" not in html


def test_test_send_without_javascript_lands_on_the_delivery_page(operator_client):
    ChannelFactory(name="ops")
    response = operator_client.post("/alerts/channels/ops/test/")
    assert response.status_code == 302
    page = operator_client.get(response.url)
    assert page.status_code == 200 and b"Test alert for channel ops" in page.content


def test_operator_creates_and_ends_a_silence(operator_client, operator):
    ends = (timezone.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    data = {"match_service": "notes", "reason": "CHG-42 database upgrade", "ends_at": ends}
    assert operator_client.post("/alerts/silences/new/", data).status_code == 302
    silence = Silence.objects.get()
    assert silence.is_active and silence.created_by == operator
    assert "service notes" in operator_client.get("/alerts/silences/").content.decode()
    assert operator_client.post(f"/alerts/silences/{silence.pk}/end/").status_code == 302
    silence.refresh_from_db()
    assert not silence.is_active
    actions = list(AuditLogEntry.objects.order_by("id").values_list("action", flat=True))
    assert actions == ["create", "end"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"reason": "x", "starts_at": "2099-01-02T10:00", "ends_at": "2099-01-02T09:00"},
            "ends_at",
            "The end must be after the start.",
        ),
        ({"reason": "x", "ends_at": "2001-01-01T00:00"}, "ends_at", "The end is already past"),
        ({"reason": "x", "ends_at": "tomorrow"}, "ends_at", "Enter a valid date/time."),
        ({"reason": "", "ends_at": "2099-01-01T00:00"}, "reason", "This field is required."),
        (
            {"reason": "x", "ends_at": "2099-01-01T00:00", "match_team": "bad team"},
            "match_team",
            "is not a valid name",
        ),
    ],
)
def test_silence_form_names_the_field_and_the_problem(operator_client, data, field, message):
    response = operator_client.post("/alerts/silences/new/", data)
    assert response.status_code == 422
    assert message in response.context["form"].errors[field][0]
    assert not Silence.objects.exists()


def test_operator_resolves_an_alert_by_hand(operator_client):
    alert = dispatch.notify(event(ServiceFactory()))
    assert operator_client.post(f"/alerts/{alert.pk}/resolve/").status_code == 302
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert AuditLogEntry.objects.get().action == "resolve"


def test_silence_alerts_from_the_service_page_prefills_the_service(operator_client):
    from tests.factories import ServiceFactory

    ServiceFactory(name="notes")
    page = operator_client.get("/services/notes/").content.decode()
    assert 'href="/alerts/silences/?service=notes"' in page
    form = operator_client.get("/alerts/silences/?service=notes").content.decode()
    assert 'name="match_service" value="notes"' in form
