"""End to end with real evidence: live MCP servers probed by the health engine, and the stored
cloud description the cloud area keeps, read by the audit instead of calling the cloud again."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from checks.audits.services import update_policy
from checks.services import request_check
from fleet.models import CloudAccount, Service
from fleet.operations.clouds.credentials import EMULATOR_ENV
from fleet.operations.clouds.registry import adapter_for
from fleet.operations.services import store_snapshot
from tests.fakes.cloudrun import FakeCloudRun
from tests.mcp_servers.sdk_servers import demo_server, sse_app, streamable_app
from tests.mcp_servers.serving import served

PROBED_RULES = (
    "mcp.protocol-version",
    "mcp.tool-poisoning",
    "mcp.destructive-tool-annotations",
    "security.tool-input-schemas",
)


@pytest.fixture
def live_fleet(db, django_capture_on_commit_callbacks):
    """Two real SDK servers on loopback (Streamable HTTP and legacy SSE), probed once each."""
    with (
        served(streamable_app(demo_server("notes"), json_response=True)) as notes_url,
        served(sse_app(demo_server("calendar"))) as calendar_url,
    ):
        notes = Service.objects.create(name="notes", url=f"{notes_url}/mcp", team="platform")
        calendar = Service.objects.create(
            name="calendar", url=f"{calendar_url}/sse", transport="sse", environment="staging"
        )
        for service in (notes, calendar):
            with django_capture_on_commit_callbacks(execute=True):
                request_check(actor="test", source="system", service=service)
        yield [notes, calendar]


def test_audit_all_reads_the_probe_results_of_live_servers(live_fleet):
    out = StringIO()
    call_command("audit", "--all", "--format", "json", stdout=out, stderr=StringIO())
    data = json.loads(out.getvalue())
    by_service = {s["service"]: {r["rule_id"]: r for r in s["results"]} for s in data["services"]}

    for name in ("notes", "calendar"):
        results = by_service[name]
        for rule_id in PROBED_RULES:
            assert results[rule_id]["status"] not in ("no_evidence", "error"), (name, rule_id)
        poisoning = results["mcp.tool-poisoning"]
        assert poisoning["status"] == "pass"  # the demo tools are honest
        assert any("console probe of" in e["source"] for e in poisoning["evidence"])
    assert by_service["notes"]["mcp.protocol-version"]["status"] == "pass"
    # Registered as needing authentication, probed with no credentials, and the tools were
    # listed: that is an anonymous tools/list answered, not "no evidence".
    for name in ("notes", "calendar"):
        anonymous = by_service[name]["mcp.tools-list-requires-auth"]
        assert anonymous["status"] == "fail", anonymous
        assert "sends no credentials" in anonymous["message"]


def test_protocol_floor_from_the_policy_fails_servers_that_speak_older(
    live_fleet, admin_user, run_audit
):
    update_policy(actor=admin_user, source="ui", changes={"oldest_protocol_version": "2099-01-01"})
    run = run_audit()
    for name in ("notes", "calendar"):
        result = run.results.get(service_name=name, rule_id="mcp.protocol-version")
        assert result.status == "fail"
        assert "older than the supported 2099-01-01" in result.message


def test_stored_cloud_description_is_used_without_calling_the_cloud(db, monkeypatch, run_audit):
    monkeypatch.setenv(EMULATOR_ENV, "1")
    with FakeCloudRun() as fake:
        fake.add_service("mcp-weather", secret_env={"API_KEY": "projects/p/secrets/k"})
        account = CloudAccount.objects.create(
            name="gcp-fake",
            provider="gcp",
            project="demo-project",
            region="us-central1",
            endpoint=fake.endpoint,
        )
        service = Service.objects.create(
            name="weather",
            url="https://weather.example.com/mcp",
            account=account,
            resource="mcp-weather",
        )
        ref = service.to_ref()
        store_snapshot(service, adapter_for(ref.account).describe(ref))
        calls_before = len(fake.requests)

        run = run_audit(service)

        assert len(fake.requests) == calls_before  # read from the database, not the cloud
    secrets = run.results.get(rule_id="security.secrets-in-secret-manager")
    assert secrets.status == "pass"
    assert any("stored by the last sync" in e["source"] for e in secrets.evidence)
