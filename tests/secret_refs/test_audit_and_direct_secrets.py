"""Secrets are accepted only by reference, so the audit log records who changed which reference
(before/after) and never holds a value; URLs that are or carry a secret are refused."""

from __future__ import annotations

import json

import pytest

from console.models import AuditLogEntry
from console.notifications.models import AlertChannel
from tests.factories import ServiceFactory

pytestmark = pytest.mark.django_db


def send(client, method, path, body):
    return getattr(client, method)(path, json.dumps(body), content_type="application/json")


def everything_logged() -> str:
    return json.dumps(list(AuditLogEntry.objects.values("before", "after", "detail")))


def test_reference_changes_are_audited_with_before_and_after_never_values(
    operator_api, monkeypatch, secret_dir
):
    monkeypatch.setenv("FLEET_SECRET_NOTES_A", "value-a-never-logged")
    (secret_dir / "notes-b").write_text("value-b-never-logged")
    service = ServiceFactory(name="notes")
    path = f"/api/v1/services/{service.name}/checks/settings"
    first = {"auth_header": "Authorization", "auth_secret_ref": "env:FLEET_SECRET_NOTES_A"}
    second = {"auth_secret_ref": f"file:{secret_dir}/notes-b"}
    assert send(operator_api, "patch", path, first).status_code == 200
    assert send(operator_api, "patch", path, second).status_code == 200

    channel = {
        "name": "hook",
        "type": "webhook",
        "target": "https://hooks.example.com/fleet",
        "secret_header": "X-Token",
        "secret_ref": "env:FLEET_SECRET_NOTES_A",
    }
    assert send(operator_api, "post", "/api/v1/alerts/channels", channel).status_code == 201
    changed = {**channel, "secret_ref": f"file:{secret_dir}/notes-b"}
    assert send(operator_api, "put", "/api/v1/alerts/channels/hook", changed).status_code == 200

    config_change = AuditLogEntry.objects.filter(object_type="checkconfig").order_by("id").last()
    assert config_change.before["auth_secret_ref"] == "env:FLEET_SECRET_NOTES_A"
    assert config_change.after["auth_secret_ref"] == f"file:{secret_dir}/notes-b"
    channel_change = AuditLogEntry.objects.filter(object_type="alertchannel").order_by("id").last()
    assert channel_change.actor_label == "otto" and channel_change.source == "api"
    assert channel_change.before["secret_ref"] == "env:FLEET_SECRET_NOTES_A"
    assert channel_change.after["secret_ref"] == f"file:{secret_dir}/notes-b"
    assert "never-logged" not in everything_logged()


@pytest.mark.parametrize(
    ("kind", "target", "why"),
    [
        ("slack", "https://hooks.slack.com/services/T0/B0/abcdefXYZ", "is itself a secret"),
        ("webhook", "https://ops:hunter2@hooks.example.com/x", "user name or password"),
        ("webhook", "https://hooks.example.com/x?token=abc123", "looks like a credential"),
        ("webhook", "https://hooks.example.com/x?api_key=abc123", "looks like a credential"),
    ],
)
def test_urls_that_are_or_carry_secrets_are_refused_and_never_logged(
    operator_api, operator_client, kind, target, why
):
    api = send(
        operator_api,
        "post",
        "/api/v1/alerts/channels",
        {"name": "ops", "type": kind, "target": target},
    )
    assert api.status_code == 422
    message = {d["loc"][-1]: d["msg"] for d in api.json()["detail"]}["target"]
    assert why in message and ("env:NAME" in message or "secret reference" in message)
    form = operator_client.post(
        "/alerts/channels/new/", {"name": "ops", "type": kind, "target": target, "enabled": "on"}
    )
    assert form.status_code == 422 and why in form.content.decode()
    assert not AlertChannel.objects.exists()
    assert "hunter2" not in everything_logged() and "abc123" not in everything_logged()


def test_a_probe_credential_entered_directly_is_refused_and_not_stored(operator_client):
    service = ServiceFactory(name="notes")
    response = operator_client.post(
        f"/services/{service.name}/checks/settings/",
        {
            "enabled": "on",
            "interval_seconds": "60",
            "timeout_seconds": "10",
            "failure_threshold": "3",
            "recovery_threshold": "2",
            "slow_ms": "2000",
            "expected_status": "200",
            "auth_header": "Authorization",
            "auth_secret_ref": "Bearer pasted-token-value",
        },
    )
    assert response.status_code == 422
    assert "never the secret itself" in response.content.decode()
    assert "pasted-token-value" not in everything_logged()
