"""The alerting API: channels, alerts, silences; roles and field errors as in the UI."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.models import ApiToken, AuditLogEntry
from console.notifications import dispatch
from console.notifications.models import AlertChannel, Silence
from tests.factories import ServiceFactory
from tests.notifications.conftest import event
from tests.notifications.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_api(operator) -> Client:
    _, raw = ApiToken.issue(operator, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def viewer_api(viewer) -> Client:
    _, raw = ApiToken.issue(viewer, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


CHANNEL = {
    "name": "search-slack",
    "type": "slack",
    "target": "env:FLEET_SECRET_SLACK_SEARCH_WEBHOOK",
    "match_teams": ["search"],
    "match_kinds": ["down", "recovered"],
}


def test_create_list_get_and_delete_a_channel(operator_api):
    created = post(operator_api, "/api/v1/alerts/channels", CHANNEL)
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "search-slack" and body["enabled"] is True
    assert body["match_teams"] == ["search"] and body["secret_ref"] == ""
    assert [c["name"] for c in operator_api.get("/api/v1/alerts/channels").json()] == [
        "search-slack"
    ]
    assert operator_api.get("/api/v1/alerts/channels/search-slack").status_code == 200
    assert operator_api.delete("/api/v1/alerts/channels/search-slack").status_code == 204
    assert not AlertChannel.objects.exists()
    actions = list(AuditLogEntry.objects.order_by("id").values_list("action", "source"))
    assert actions == [("create", "api"), ("delete", "api")]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"target": "javascript:alert(1)"}, "target", "URL scheme must be http or https"),
        (
            {"type": "email", "target": "a@example.com, nope"},
            "target",
            "'nope' is not a valid email address.",
        ),
        (
            {
                "type": "webhook",
                "target": "https://h.example.com",
                "secret_header": "X-Token",
                "secret_ref": "env:1BAD",
            },
            "secret_ref",
            "'1BAD' is not an environment variable name",
        ),
        (
            {"type": "webhook", "target": "https://h.example.com", "secret_header": "X-Token"},
            "secret_ref",
            "Say where the header value lives",
        ),
        ({"match_services": ["has space"]}, "match_services", "'has space' is not a valid name."),
    ],
)
def test_channel_errors_name_the_field(operator_api, changes, field, message):
    response = post(operator_api, "/api/v1/alerts/channels", {**CHANNEL, **changes})
    assert response.status_code == 422
    [error] = [e for e in response.json()["detail"] if e["loc"] == ["body", field]]
    assert message in error["msg"]


def test_unknown_kind_is_a_schema_error(operator_api):
    response = post(operator_api, "/api/v1/alerts/channels", {**CHANNEL, "match_kinds": ["fire"]})
    assert response.status_code == 422
    assert "match_kinds" in response.json()["detail"][0]["loc"]


def test_viewer_tokens_read_but_cannot_change(viewer_api):
    ChannelFactory(name="ops")
    assert viewer_api.get("/api/v1/alerts/channels").status_code == 200
    assert viewer_api.get("/api/v1/alerts").status_code == 200
    assert post(viewer_api, "/api/v1/alerts/channels", CHANNEL).status_code == 403
    assert viewer_api.delete("/api/v1/alerts/channels/ops").status_code == 403
    assert post(viewer_api, "/api/v1/alerts/channels/ops/test").status_code == 403
    silence = {"reason": "x", "minutes": 30}
    assert post(viewer_api, "/api/v1/alerts/silences", silence).status_code == 403
    assert AlertChannel.objects.count() == 1 and not Silence.objects.exists()


def test_list_alerts_open_and_resolved(operator_api):
    notes = ServiceFactory(name="notes")
    ChannelFactory(name="ops")
    open_alert = dispatch.notify(event(notes, dedupe_key="incident:1"))
    closed = dispatch.notify(event(notes, dedupe_key="incident:2", title="old"))
    dispatch.resolve(closed.dedupe_key)
    [item] = operator_api.get("/api/v1/alerts").json()
    assert item["id"] == open_alert.pk and item["service"] == "notes"
    assert item["deliveries"][0]["channel"] == "ops" and item["deliveries"][0]["status"] == "queued"
    resolved = operator_api.get("/api/v1/alerts?state=resolved").json()
    assert [a["title"] for a in resolved] == ["old"]
    assert len(operator_api.get("/api/v1/alerts?state=all&service=notes").json()) == 2


def test_create_and_end_a_silence(operator_api):
    created = post(
        operator_api,
        "/api/v1/alerts/silences",
        {"match_team": "search", "minutes": 90, "reason": "CHG-7"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["active"] is True and body["created_by"] == "otto"
    assert [s["id"] for s in operator_api.get("/api/v1/alerts/silences").json()] == [body["id"]]
    ended = post(operator_api, f"/api/v1/alerts/silences/{body['id']}/end")
    assert ended.status_code == 200 and ended.json()["active"] is False
    again = post(operator_api, f"/api/v1/alerts/silences/{body['id']}/end")
    assert again.status_code == 422
    assert again.json()["detail"][0]["msg"] == "This silence is already over."


def test_silence_without_an_end_is_refused(operator_api):
    response = post(operator_api, "/api/v1/alerts/silences", {"reason": "x"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "ends_at"]


def test_test_send_over_the_api(operator_api, receiver, django_capture_on_commit_callbacks):
    ChannelFactory(name="ops", target=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(operator_api, "/api/v1/alerts/channels/ops/test")
    assert response.status_code == 202
    delivery = operator_api.get(f"/api/v1/alerts/deliveries/{response.json()['id']}").json()
    assert delivery["status"] == "sent" and delivery["response_code"] == 200


def test_groups_and_acknowledgements_over_the_api(operator_api, viewer_api, operator):
    notes = ServiceFactory(name="notes")
    first = dispatch.notify(event(notes, dedupe_key="incident:1"))
    dispatch.resolve("incident:1")
    second = dispatch.notify(event(notes, dedupe_key="incident:2"))
    [group] = operator_api.get("/api/v1/alerts/groups").json()
    assert group | {"first_seen": None, "last_seen": None} == {
        "id": first.group_id,
        "cause": "down:service:notes",
        "kind": "down",
        "severity": "critical",
        "title": "notes is DOWN",
        "service": "notes",
        "alerts": 2,
        "open": 1,
        "first_seen": None,
        "last_seen": None,
        "acknowledged": None,
    }
    path = f"/api/v1/alerts/groups/{group['id']}/acknowledge"
    assert post(viewer_api, path, {"note": "mine"}).status_code == 403
    too_long = post(operator_api, path, {"note": "x" * 501})
    assert too_long.status_code == 422
    assert too_long.json()["detail"][0]["loc"] == ["body", "note"]
    assert "at most 500 characters" in too_long.json()["detail"][0]["msg"]
    done = post(operator_api, path, {"note": "failing over"})
    assert done.status_code == 200
    assert done.json()["acknowledged"]["by"] == "otto"
    assert done.json()["acknowledged"]["note"] == "failing over"
    [item] = operator_api.get("/api/v1/alerts").json()
    assert item["id"] == second.pk and item["cause"] == "down:service:notes"
    assert item["acknowledged"]["by"] == "otto"
    again = post(operator_api, f"/api/v1/alerts/{second.pk}/acknowledge", {})
    assert again.status_code == 422 and "Already acknowledged" in str(again.json())
    sources = set(AuditLogEntry.objects.values_list("action", "source"))
    assert sources == {("acknowledge", "api")}
