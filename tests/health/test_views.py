"""The health panel on the service page, check now (htmx), check settings, accepting drift,
the incidents page, and who may do what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from checks import sweep_db
from checks.models import CheckConfig, DriftEvent, Incident, ToolSnapshot
from console.models import AuditLogEntry, Job
from tests.factories import ServiceFactory
from tests.mcp_servers.legacy import LegacyStreamableServer
from tests.mcp_servers.misbehaving import ChangingTools
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db


def test_service_page_shows_status_chart_strips_tools_and_incidents(
    viewer_client, knob_server, knob
):
    url, _ = knob_server
    service = ServiceFactory(name="notes", url=url)
    CheckConfig.objects.create(service=service, failure_threshold=1, recovery_threshold=1)
    t0 = timezone.now() - timedelta(hours=3)
    sweep_db.check_now(service, at=t0)
    knob.down = True
    sweep_db.check_now(service, at=t0 + timedelta(minutes=1))
    knob.down = False
    sweep_db.check_now(service, at=t0 + timedelta(minutes=46))

    page = viewer_client.get(f"/services/{service.name}/").content.decode()

    assert "Health checks" in page
    assert 'data-chart="latency"' in page and 'id="latency-data"' in page
    assert page.count('class="bar-') == 24  # uptime bars of the default range, one per hour
    assert "lasted 45m 00s" in page
    assert "<code>add</code>" in page and "&quot;a&quot;" in page  # tool with its input schema
    assert "66.67%" in page  # 2 of 3 checks answered
    assert "Check now" not in page  # viewers cannot
    assert "Accept as baseline" not in page


def test_status_part_is_a_fragment_for_htmx(viewer_client, htmx_headers, sdk_url):
    service = ServiceFactory(url=sdk_url)
    sweep_db.check_now(service)
    response = viewer_client.get(f"/services/{service.name}/health/status/", **htmx_headers)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="health-status"')
    assert "status-up" in body and "protocol 2026-07-28" in body
    assert "HX-Request" in response["Vary"]


def test_check_now_runs_and_shows_the_result_in_place(
    operator_client, htmx_headers, sdk_url, django_capture_on_commit_callbacks
):
    service = ServiceFactory(url=sdk_url)
    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(f"/services/{service.name}/check/", **htmx_headers)
    assert response.status_code == 200
    service.refresh_from_db()
    assert service.status == "up"
    # the job ran eagerly after commit; polling its fragment shows the result and stops
    job_url = f"/services/{service.name}/check/"
    job = Job.objects.get(name=f"check {service.name}")
    assert job.status == "succeeded" and "ok in" in job.log
    polled = operator_client.get(f"{job_url}{job.pk}/", **htmx_headers)
    assert polled.status_code == 286
    assert "This check passed in" in polled.content.decode()
    assert 'id="health-status"' in polled.content.decode()  # the panel's status, out of band
    assert AuditLogEntry.objects.filter(action="check_now", object_id=str(service.pk)).exists()


def test_viewers_cannot_check_now_change_settings_or_accept(viewer_client, sdk_url):
    service = ServiceFactory(url=sdk_url)
    assert viewer_client.post(f"/services/{service.name}/check/").status_code == 403
    assert viewer_client.get(f"/services/{service.name}/checks/settings/").status_code == 403
    assert viewer_client.post(f"/services/{service.name}/checks/settings/", {}).status_code == 403
    assert viewer_client.post(f"/services/{service.name}/drift/1/accept/").status_code == 403


def test_settings_form_names_the_field_and_the_problem(operator_client):
    service = ServiceFactory()
    data = {
        "enabled": "on",
        "interval_seconds": "5",
        "timeout_seconds": "10",
        "failure_threshold": "3",
        "recovery_threshold": "2",
        "slow_ms": "2000",
        "expected_status": "200",
        "auth_header": "Authorization",
        "auth_secret_ref": "Bearer s3cr3t-token",
    }
    response = operator_client.post(f"/services/{service.name}/checks/settings/", data)
    body = response.content.decode()
    assert response.status_code == 422
    assert "Interval (seconds): must be between 10 and 86400 seconds (got 5)." in body
    assert "Auth secret reference: must be env:NAME" in body
    assert "s3cr3t-token" not in CheckConfig.objects.get(service=service).auth_secret_ref


def test_settings_saved_audit_logged_and_the_secret_value_never_shown(operator_client, monkeypatch):
    monkeypatch.setenv("FLEET_SECRET_NOTES_TOKEN", "very-secret-value")
    service = ServiceFactory()
    data = {
        "enabled": "on",
        "interval_seconds": "30",
        "timeout_seconds": "5",
        "failure_threshold": "2",
        "recovery_threshold": "1",
        "slow_ms": "800",
        "expected_status": "200",
        "tool_call_name": "add",
        "tool_call_arguments": '{"a": 1, "b": 2}',
        "tool_call_expect": "3",
        "auth_header": "Authorization",
        "auth_secret_ref": "env:FLEET_SECRET_NOTES_TOKEN",
    }
    response = operator_client.post(f"/services/{service.name}/checks/settings/", data)
    assert response.status_code == 302
    config = CheckConfig.objects.get(service=service)
    assert config.interval_seconds == 30 and config.tool_call_arguments == {"a": 1, "b": 2}
    entry = AuditLogEntry.objects.get(action="update", object_type="checkconfig")
    assert entry.after["auth_secret_ref"] == "env:FLEET_SECRET_NOTES_TOKEN"
    form = operator_client.get(f"/services/{service.name}/checks/settings/").content.decode()
    assert "very-secret-value" not in form


def test_operator_accepts_drift_from_the_service_page(operator_client):
    with served(LegacyStreamableServer("2025-03-26", tools=ChangingTools(after=1))) as base:
        service = ServiceFactory(url=f"{base}/mcp")
        sweep_db.check_now(service)
        event = sweep_db.check_now(service).drift
    page = operator_client.get(f"/services/{service.name}/").content.decode()
    assert "Possible rug pull" in page and "Accept as baseline" in page
    response = operator_client.post(f"/services/{service.name}/drift/{event.pk}/accept/")
    assert response.status_code == 302
    assert DriftEvent.objects.get(pk=event.pk).accepted_by_label == "otto"
    assert ToolSnapshot.objects.get(service=service, is_baseline=True).pk == event.snapshot_id


def test_incidents_page_lists_open_and_recent(viewer_client, django_assert_max_num_queries):
    now = timezone.now()
    for i in range(5):
        service = ServiceFactory(team="search")
        Incident.objects.create(service=service, status="down", opened_at=now - timedelta(hours=i))
        Incident.objects.create(
            service=service,
            status="degraded",
            opened_at=now - timedelta(days=1),
            closed_at=now - timedelta(days=1) + timedelta(minutes=7),
        )
    with django_assert_max_num_queries(8):
        response = viewer_client.get("/incidents/")
    body = response.content.decode()
    assert body.count("status-down") == 5 and body.count("status-degraded") == 5
    assert "7m 00s" in body


def test_health_panel_shows_the_schedule_the_health_answer_and_phases_in_order(
    viewer_client, htmx_headers
):
    from tests.mcp_servers.sdk_servers import demo_server, streamable_app

    # given an agent backend with a health path, and its check settings
    with served(streamable_app(demo_server("agent", "1.0.0"))) as base:
        service = ServiceFactory(
            name="assistant", kind="agent_backend", url=base, health_path="/mcp"
        )
        CheckConfig.objects.create(
            service=service, interval_seconds=30, failure_threshold=4, expected_status=406
        )
        sweep_db.check_now(service)
    body = viewer_client.get(
        f"/services/{service.name}/health/status/", **htmx_headers
    ).content.decode()
    # then anyone can read how it is checked, and what the health endpoint said
    assert "Checked every 30 s" in body and "down after 4 failed checks in a row" in body
    assert "HTTP 406 from /mcp" in body
    phases = body.split("<dt>Phases</dt><dd>")[1].split("</dd>")[0]
    names = [part.split()[0] for part in phases.split(" · ")]
    assert names[-1] == "total" and names.index("connect") < names.index("health")
    page = viewer_client.get(f"/services/{service.name}/").content.decode()
    assert "Tool drift" not in page  # agent backends have no tool list
