"""The health API: check now, health, settings with field errors, tools and drift, incidents."""

from __future__ import annotations

import pytest
from django.utils import timezone

from checks import sweep_db
from checks.models import CheckConfig, Incident
from console.models import Job
from tests.factories import ServiceFactory
from tests.mcp_servers.legacy import LegacyStreamableServer
from tests.mcp_servers.misbehaving import ChangingTools
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db
API = "/api/v1"


def test_check_now_queues_a_job_that_probes(
    operator_client, sdk_url, django_capture_on_commit_callbacks
):
    service = ServiceFactory(name="notes", url=sdk_url)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"{API}/services/notes/check")
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == "succeeded"
    health = operator_client.get(f"{API}/services/notes/health").json()
    assert health["status"] == "up"
    assert health["latest"]["server_name"] == "demo"
    assert health["latest"]["protocol_version"] == "2026-07-28"
    assert health["windows"][0]["window"] == "24 h" and health["windows"][0]["count"] == 1
    service.refresh_from_db()
    assert service.last_checked_at is not None


def test_viewer_cannot_check_now_change_settings_or_accept(viewer_client):
    ServiceFactory(name="notes")
    assert viewer_client.post(f"{API}/services/notes/check").status_code == 403
    patch = viewer_client.patch(
        f"{API}/services/notes/checks/settings", {"interval_seconds": 30}, "application/json"
    )
    assert patch.status_code == 403
    assert viewer_client.post(f"{API}/services/notes/tools/accept").status_code == 403
    assert viewer_client.get(f"{API}/services/notes/checks/settings").status_code == 200


def test_unknown_service_is_404(operator_client):
    assert operator_client.post(f"{API}/services/nope/check").status_code == 404
    assert operator_client.get(f"{API}/services/nope/health").status_code == 404


def test_settings_errors_name_the_field(operator_client):
    ServiceFactory(name="notes")
    response = operator_client.patch(
        f"{API}/services/notes/checks/settings",
        {"interval_seconds": 3, "auth_header": "X-Key", "auth_secret_ref": "plain-secret"},
        "application/json",
    )
    assert response.status_code == 422
    detail = {tuple(d["loc"]): d["msg"] for d in response.json()["detail"]}
    assert detail[("body", "interval_seconds")] == "must be between 10 and 86400 seconds (got 3)."
    assert detail[("body", "auth_secret_ref")].startswith("must be env:NAME")
    ok = operator_client.patch(
        f"{API}/services/notes/checks/settings",
        {"interval_seconds": 15, "failure_threshold": 5},
        "application/json",
    )
    assert ok.status_code == 200 and ok.json()["interval_seconds"] == 15
    assert CheckConfig.objects.get(service__name="notes").failure_threshold == 5


def test_tools_drift_and_accept_over_the_api(operator_client):
    with served(LegacyStreamableServer("2025-03-26", tools=ChangingTools(after=1))) as base:
        service = ServiceFactory(name="records", url=f"{base}/mcp")
        sweep_db.check_now(service)
        sweep_db.check_now(service)
    tools = operator_client.get(f"{API}/services/records/tools").json()
    assert [t["name"] for t in tools["tools"]] == ["lookup"]
    assert tools["pending_drift"]["rug_pull"] is True
    accepted = operator_client.post(f"{API}/services/records/tools/accept")
    assert accepted.status_code == 200 and accepted.json()["accepted_by"] == "otto"
    again = operator_client.post(f"{API}/services/records/tools/accept")
    assert again.status_code == 422
    assert again.json()["detail"][0]["loc"] == ["body", "drift"]
    assert operator_client.get(f"{API}/services/records/tools").json()["is_baseline"] is True


def test_incidents_filter_open(viewer_client):
    service = ServiceFactory(name="notes")
    Incident.objects.create(service=service, status="down")
    Incident.objects.create(service=service, status="degraded", closed_at=timezone.now())
    open_ones = viewer_client.get(f"{API}/incidents?open=true").json()
    assert [i["status"] for i in open_ones] == ["down"]
    assert len(viewer_client.get(f"{API}/incidents").json()) == 2


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"interval_seconds": None}, "interval_seconds", "must not be null"),
        ({"enabled": None}, "enabled", "must not be null"),
        ({"slow_ms": 0}, "slow_ms", "must be between 1 and 600000 ms (got 0)."),
    ],
)
def test_settings_nulls_and_zero_slow_threshold_are_field_errors(
    operator_client, body, field, message
):
    ServiceFactory(name="notes")
    response = operator_client.patch(
        f"{API}/services/notes/checks/settings", body, "application/json"
    )
    assert response.status_code == 422
    [detail] = response.json()["detail"]
    assert detail["loc"] == ["body", field] and detail["msg"].startswith(message)


def test_a_misspelt_setting_is_refused_not_ignored(operator_client):
    ServiceFactory(name="notes")
    response = operator_client.patch(
        f"{API}/services/notes/checks/settings", {"intervall_seconds": 30}, "application/json"
    )
    assert response.status_code == 422
    assert "intervall_seconds" in response.json()["detail"][0]["loc"]
    assert not CheckConfig.objects.filter(interval_seconds=30).exists()
