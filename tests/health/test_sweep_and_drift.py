"""The sweep: claims that never overlap, results written once per claim, failures contained;
tool drift with a readable diff, the rug-pull flag, its alert, and accepting a new baseline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from checks import services as check_services
from checks import sweep_db
from checks.models import CheckConfig, DriftEvent, ProbeResult, ToolSnapshot
from checks.tasks import sweep_task
from console.models import AuditLogEntry
from tests.factories import ServiceFactory
from tests.mcp_servers import misbehaving as bad
from tests.mcp_servers.legacy import LegacyStreamableServer
from tests.mcp_servers.serving import served

pytestmark = pytest.mark.django_db


def test_two_sweeps_in_a_row_do_not_claim_the_same_service(sdk_url):
    services = [ServiceFactory(url=sdk_url) for _ in range(5)]
    sweep_db.ensure_configs()
    now = timezone.now()
    first = sweep_db.claim_due(now)
    second = sweep_db.claim_due(now)
    assert sorted(sid for sid, _ in first) == sorted(s.pk for s in services)
    assert second == []
    # one interval later they are due again, with a new claim number
    later = sweep_db.claim_due(now + timedelta(seconds=61))
    assert {seq for _, seq in later} == {2}


def test_a_redelivered_batch_writes_nothing_twice(sdk_url):
    service = ServiceFactory(url=sdk_url)
    sweep_db.ensure_configs()
    claims = sweep_db.claim_due()
    sweep_db.run_batch(claims)
    again = sweep_db.run_batch(claims)  # the broker handed the same batch out again
    assert again == []
    assert ProbeResult.objects.filter(service=service).count() == 1
    config = CheckConfig.objects.get(service=service)
    assert config.consecutive_successes == 1


def test_sweep_task_probes_due_services_and_schedules_the_next_check(sdk_url):
    # given two services, one of which is not due yet
    due = ServiceFactory(url=sdk_url)
    later = ServiceFactory(url=sdk_url)
    sweep_db.ensure_configs()
    CheckConfig.objects.filter(service=later).update(
        next_check_at=timezone.now() + timedelta(minutes=5)
    )
    # when beat runs the sweep (tasks run eagerly in tests)
    assert sweep_task.delay().get() == 1
    # then only the due one was checked, and its next check is one interval out
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == "up" and later.status == "unknown"
    result = ProbeResult.objects.get(service=due)
    assert result.slot == 1 and result.transport == "stateless" and result.tool_count == 3
    nxt = CheckConfig.objects.get(service=due).next_check_at
    assert timedelta(seconds=55) < nxt - timezone.now() <= timedelta(seconds=60)


def test_a_missing_auth_secret_fails_that_service_alone(sdk_url, monkeypatch):
    monkeypatch.delenv("FLEET_SECRET_NOTES_TOKEN_FOR_TEST", raising=False)
    locked = ServiceFactory(url=sdk_url)
    fine = ServiceFactory(url=sdk_url)
    CheckConfig.objects.create(
        service=locked,
        auth_header="Authorization",
        auth_secret_ref="env:FLEET_SECRET_NOTES_TOKEN_FOR_TEST",
    )
    results = {c.service.pk: c.result for c in sweep_db.sweep_once()}
    assert not results[locked.pk].ok
    assert "FLEET_SECRET_NOTES_TOKEN_FOR_TEST" in results[locked.pk].error
    assert results[fine.pk].ok


def test_misbehaving_servers_fail_with_reasons_and_the_rest_pass(sdk_url):
    with (
        served(bad.hang_after_headers_app()) as hanging,
        served(bad.html_error_app()) as html,
        served(bad.garbage_app()) as garbage,
    ):
        ServiceFactory(name="hang", url=f"{hanging}/mcp")
        ServiceFactory(name="html", url=f"{html}/mcp")
        ServiceFactory(name="garbage", url=f"{garbage}/mcp")
        ServiceFactory(name="good", url=sdk_url)
        sweep_db.ensure_configs()
        CheckConfig.objects.update(timeout_seconds=1.0)
        results = {c.service.name: c.result for c in sweep_db.sweep_once()}
    assert results["good"].ok
    assert "body stalled" in results["hang"].error
    assert "502" in results["html"].error
    assert results["garbage"].error and not results["garbage"].ok


def test_tool_drift_with_rug_pull_flag_alert_and_accept(
    webhook, django_capture_on_commit_callbacks
):
    from tests.mcp_servers.misbehaving import ChangingTools

    with served(LegacyStreamableServer("2025-03-26", tools=ChangingTools(after=1))) as base:
        service = ServiceFactory(name="records", url=f"{base}/mcp")
        with django_capture_on_commit_callbacks(execute=True):
            first = sweep_db.check_now(service)
            second = sweep_db.check_now(service)
            third = sweep_db.check_now(service)
    assert first.drift is None  # the first list becomes the baseline
    event = second.drift
    assert event is not None and third.drift is None  # reported once while pending
    assert event.rug_pull
    assert "~ 'lookup' description:" in event.readable
    assert "id_rsa" in event.readable
    assert event.diff["changed"]["lookup"][0]["field"] == "description"
    alerts = [r.json()["alert"] for r in webhook.requests]
    assert [a["kind"] for a in alerts] == ["drift"]
    assert alerts[0]["severity"] == "critical" and "rug pull" in alerts[0]["title"]
    assert alerts[0]["details"]["rug_pull"] is True

    # when an operator accepts it, the new list is the baseline and it is audit-logged
    check_services.accept_drift(actor="otto", source="cli", event=event)
    baseline = ToolSnapshot.objects.get(service=service, is_baseline=True)
    assert baseline.pk == event.snapshot_id
    assert DriftEvent.objects.get(pk=event.pk).accepted_by_label == "otto"
    entry = AuditLogEntry.objects.get(action="accept_tools")
    assert entry.after["baseline"] == baseline.fingerprint


def test_a_version_bump_is_drift_but_not_a_rug_pull():
    tools_v1 = [{"name": "lookup", "description": "Look up.", "inputSchema": {"type": "object"}}]
    tools_v2 = [{"name": "lookup", "description": "Find.", "inputSchema": {"type": "object"}},
                {"name": "delete", "description": "Delete.", "inputSchema": {"type": "object"}}]  # fmt: skip
    v1 = LegacyStreamableServer("2025-03-26", tools=tools_v1, version="1.0.0")
    v2 = LegacyStreamableServer("2025-03-26", tools=tools_v2, version="1.1.0")
    with served(v1) as base:
        service = ServiceFactory(url=f"{base}/mcp")
        sweep_db.check_now(service)
    with served(v2) as base:
        service.url = f"{base}/mcp"
        service.save()
        event = sweep_db.check_now(service).drift
    assert not event.rug_pull
    assert event.readable.splitlines()[0] == "+ added tool 'delete'"


def test_accepting_drift_resolves_its_alert_so_reminders_stop(
    webhook, django_capture_on_commit_callbacks
):
    from console.notifications.dispatch import send_reminders
    from console.notifications.models import Alert
    from tests.mcp_servers.misbehaving import ChangingTools

    with served(LegacyStreamableServer("2025-03-26", tools=ChangingTools(after=1))) as base:
        service = ServiceFactory(name="records", url=f"{base}/mcp")
        with django_capture_on_commit_callbacks(execute=True):
            sweep_db.check_now(service)
            event = sweep_db.check_now(service).drift
    alert = Alert.objects.get(kind="drift")
    assert alert.is_open and len(webhook.requests) == 1
    # while nobody has reviewed it, the drift is reminded about
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders(timezone.now() + timedelta(hours=2)) == 1
    assert webhook.requests[-1].json()["event"] == "reminder"

    check_services.accept_drift(actor="otto", source="ui", event=event)

    alert.refresh_from_db()
    assert not alert.is_open
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders(timezone.now() + timedelta(hours=5)) == 0
    assert len(webhook.requests) == 2


def test_auth_header_from_a_mounted_secret_file_reaches_the_server(secret_dir):
    from tests.mcp_servers.sdk_servers import demo_server, require_header, streamable_app

    secret = secret_dir / "notes-token"
    secret.write_text("Bearer from-a-file\n")
    app = require_header(
        streamable_app(demo_server("locked")), "authorization", "Bearer from-a-file"
    )
    with served(app) as base:
        service = ServiceFactory(name="locked", url=f"{base}/mcp")
        check_services.save_check_config(
            actor="otto",
            source="cli",
            service=service,
            spec={"auth_header": "Authorization", "auth_secret_ref": f"file:{secret}"},
        )
        ok = sweep_db.check_now(service).result
        secret.unlink()
        missing = sweep_db.check_now(service).result
    assert ok.ok and ok.server_name == "locked"
    assert not missing.ok
    assert f"cannot read the secret file {secret}" in missing.error
    assert "from-a-file" not in missing.error


def test_a_relative_secret_file_is_a_field_error():
    service = ServiceFactory()
    with pytest.raises(ValidationError) as exc:
        check_services.save_check_config(
            actor="otto",
            source="cli",
            service=service,
            spec={"auth_header": "X-Key", "auth_secret_ref": "file:secrets/key"},
        )
    assert "file:/absolute/path" in exc.value.message_dict["auth_secret_ref"][0]


def test_a_service_deleted_during_its_probe_does_not_sink_the_batch(sdk_url):
    gone = ServiceFactory(name="gone", url=sdk_url)
    kept = ServiceFactory(name="kept", url=sdk_url)
    sweep_db.ensure_configs()
    claims = sweep_db.claim_due()
    configs = list(CheckConfig.objects.select_related("service").order_by("service__name"))
    outcomes = sweep_db.probe_configs(configs)
    gone.delete()  # someone deletes it while the batch is probing
    slots = dict(claims)
    checked = sweep_db.record(
        [(c.service, c, o, slots[c.service_id]) for c, o in zip(configs, outcomes, strict=True)]
    )
    assert [c.service.name for c in checked] == ["kept"]
    kept.refresh_from_db()
    assert kept.status == "up" and ProbeResult.objects.get().service == kept
