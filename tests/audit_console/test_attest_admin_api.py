"""Attestations (form, API, expiry), the admin's customisation, and the audit API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from checks.audits import services as audit_services
from checks.audits.catalogue import RULES
from checks.audits.models import Attestation, AuditPolicy, AuditRun, CustomRule, RuleSetting
from console.models import AuditLogEntry
from fleet.models import Service
from tests.audit_console.conftest import streamed


def _status(run: AuditRun, service: str, rule_id: str) -> str:
    return run.results.get(service_name=service, rule_id=rule_id).status


# --- attestations ------------------------------------------------------------------------------


def test_attestation_form_records_name_note_and_expiry(fleet, operator, operator_client, run_audit):
    response = operator_client.post(
        "/audits/services/notes/attest/",
        {"rule": "security.rate-limiting", "note": "Envoy limits 50 rps per token."},
    )
    assert response.status_code == 302
    attestation = Attestation.objects.get()
    assert (attestation.by, attestation.by_label) == (operator, "otto")
    assert attestation.expires_at.date() == (timezone.now() + timedelta(days=90)).date()
    assert AuditLogEntry.objects.filter(action="attest", actor=operator, source="ui").exists()

    run = run_audit(Service.objects.get(name="notes"))
    result = run.results.get(rule_id="security.rate-limiting")
    assert result.status == "pass"
    assert "Attested by otto" in result.message
    assert {e["label"] for e in result.evidence} >= {"attested by", "note", "expires"}


def test_attestation_without_a_note_or_with_an_unknown_rule_is_refused(fleet, operator_client):
    no_note = operator_client.post(
        "/audits/services/notes/attest/", {"rule": "security.rate-limiting", "note": "  "}
    )
    assert no_note.status_code == 422
    assert "A note is required" in no_note.content.decode()
    unknown = operator_client.post(
        "/audits/services/notes/attest/", {"rule": "security.rate-limitin", "note": "x"}
    )
    assert unknown.status_code == 422
    assert "Unknown audit rule id &#x27;security.rate-limitin&#x27;." in unknown.content.decode()
    automated = operator_client.post(
        "/audits/services/notes/attest/", {"rule": "infrastructure.tls-valid", "note": "x"}
    )
    assert "only manual rules are attested" in automated.content.decode()
    assert not Attestation.objects.exists()


def test_expired_attestation_needs_renewal(fleet, operator, run_audit):
    notes = Service.objects.get(name="notes")
    attestation = audit_services.attest(
        actor=operator,
        source="ui",
        rule_id="performance.load-testing",
        note="k6 at 2x peak",
        service=notes,
    )
    Attestation.objects.filter(pk=attestation.pk).update(
        at=timezone.now() - timedelta(days=100), expires_at=timezone.now() - timedelta(days=10)
    )
    run = run_audit(notes)
    result = run.results.get(rule_id="performance.load-testing")
    assert result.status == "needs_attestation"
    assert "expired" in result.message and "attest again" in result.message


def test_shorter_expiry_policy_applies_to_existing_attestations(
    fleet, operator, admin_user, run_audit
):
    notes = Service.objects.get(name="notes")
    attestation = audit_services.attest(
        actor=operator, source="ui", rule_id="performance.caching", note="Redis", service=notes
    )
    Attestation.objects.filter(pk=attestation.pk).update(at=timezone.now() - timedelta(days=20))
    audit_services.update_policy(
        actor=admin_user, source="ui", changes={"attestation_expiry_days": 14}
    )
    assert _status(run_audit(notes), "notes", "performance.caching") == "needs_attestation"


def test_viewers_cannot_attest(fleet, viewer_client):
    response = viewer_client.post(
        "/audits/services/notes/attest/", {"rule": "security.rate-limiting", "note": "x"}
    )
    assert response.status_code == 403
    assert (
        viewer_client.post("/audits/attestations/", {"rule": "x", "note": "y"}).status_code == 403
    )
    assert not Attestation.objects.exists()


def test_attestations_page_lists_and_revokes(fleet, operator, operator_client):
    attestation = audit_services.attest(
        actor=operator, source="ui", rule_id="security.output-sanitization", note="Bleach on output"
    )
    page = operator_client.get("/audits/attestations/").content.decode()
    assert (
        "security.output-sanitization" in page
        and "all services" in page
        and "Bleach on output" in page
    )
    operator_client.post(f"/audits/attestations/{attestation.pk}/revoke/")
    assert not Attestation.objects.exists()
    assert AuditLogEntry.objects.filter(action="revoke").exists()


# --- admin customisation -----------------------------------------------------------------------


def test_admin_disables_a_rule_and_changes_a_severity(fleet, admin_client_, run_audit):
    admin_client_.post("/audits/settings/rules/observability.dashboards/", {"severity": ""})
    admin_client_.post(
        "/audits/settings/rules/infrastructure.tls-valid/", {"enabled": "on", "severity": "low"}
    )
    assert not RuleSetting.objects.get(rule_id="observability.dashboards").enabled
    run = run_audit(Service.objects.get(name="notes"))
    assert not run.results.filter(rule_id="observability.dashboards").exists()
    assert run.results.count() == len(RULES) - 1
    assert run.results.get(rule_id="infrastructure.tls-valid").severity == "low"
    assert AuditLogEntry.objects.filter(object_type="rulesetting", action="update").count() == 2


def test_unknown_rule_id_in_settings_is_a_clear_error(fleet, admin_client_):
    response = admin_client_.post(
        "/audits/settings/rules/no.such-rule/", {"enabled": "on"}, follow=True
    )
    assert "Unknown audit rule id &#x27;no.such-rule&#x27;." in response.content.decode()
    assert not RuleSetting.objects.exists()


def test_admin_sets_regions_and_expiry(fleet, admin_client_):
    response = admin_client_.post(
        "/audits/settings/",
        {
            "attestation_expiry_days": "30",
            "allowed_regions": "europe-*, westeurope",
            "oldest_protocol_version": "2025-06-18",
            "tls_warning_days": "21",
        },
    )
    assert response.status_code == 302
    policy = AuditPolicy.current()
    assert policy.allowed_regions == ["europe-*", "westeurope"]
    assert (policy.attestation_expiry_days, policy.tls_warning_days) == (30, 21)
    entry = AuditLogEntry.objects.get(object_type="auditpolicy")
    assert entry.after["allowed_regions"] == ["europe-*", "westeurope"]

    bad = admin_client_.post(
        "/audits/settings/",
        {
            "attestation_expiry_days": "0",
            "allowed_regions": "",
            "oldest_protocol_version": "v2",
            "tls_warning_days": "21",
        },
    )
    assert bad.status_code == 422
    body = bad.content.decode()
    assert "greater than or equal to 1" in body


def test_bad_protocol_version_names_the_field(fleet, admin_client_):
    bad = admin_client_.post(
        "/audits/settings/",
        {
            "attestation_expiry_days": "30",
            "allowed_regions": "",
            "oldest_protocol_version": "v2",
            "tls_warning_days": "21",
        },
    )
    assert bad.status_code == 422
    assert "&#x27;v2&#x27; is not a protocol version" in bad.content.decode()


def test_admin_adds_a_custom_manual_rule(fleet, admin_client_, operator, run_audit):
    response = admin_client_.post(
        "/audits/settings/custom/",
        {
            "rule_id": "custom.pen-test",
            "section": "security",
            "title": "Yearly pen test",
            "rationale": "Policy SEC-12.",
            "evidence": "The report id.",
            "severity": "high",
            "applies_to": "mcp_server",
        },
    )
    assert response.status_code == 302
    run = run_audit()
    assert _status(run, "notes", "custom.pen-test") == "needs_attestation"
    assert _status(run, "assistant", "custom.pen-test") == "not_applicable"
    audit_services.attest(
        actor=operator,
        source="ui",
        rule_id="custom.pen-test",
        note="Report PT-7",
        service=Service.objects.get(name="notes"),
    )
    assert _status(run_audit(), "notes", "custom.pen-test") == "pass"

    clash = admin_client_.post(
        "/audits/settings/custom/",
        {
            "rule_id": "security.rate-limiting",
            "section": "security",
            "title": "x",
            "rationale": "y",
            "severity": "low",
            "applies_to": "both",
        },
    )
    assert clash.status_code == 422
    assert "already a catalogue rule" in clash.content.decode()
    rule = CustomRule.objects.get()
    admin_client_.post(f"/audits/settings/custom/{rule.pk}/delete/")
    assert not CustomRule.objects.exists() and not Attestation.objects.exists()


def test_settings_are_for_admins_only(fleet, operator_client, admin_client_):
    assert operator_client.get("/audits/settings/").status_code == 403
    assert (
        operator_client.post("/audits/settings/rules/security.rate-limiting/", {}).status_code
        == 403
    )
    assert operator_client.post("/audits/settings/custom/", {}).status_code == 403
    page = admin_client_.get("/audits/settings/").content.decode()
    assert "security.rate-limiting" in page and "Add a manual rule" in page


# --- API ---------------------------------------------------------------------------------------


def _post(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_api_runs_reads_and_exports_an_audit(
    fleet, operator_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        started = _post(operator_client, "/api/v1/audits", {"scope": "service", "service": "notes"})
    assert started.status_code == 202
    run_id = started.json()["id"]
    assert started.json()["scope"] == "notes"

    body = operator_client.get(f"/api/v1/audits/{run_id}").json()
    assert body["status"] == "succeeded" and body["trigger"] == "api"
    assert [r["rule_id"] for r in body["results"]["notes"]] == [r.id for r in RULES]
    assert body["scores"]["services"]["notes"]["overall"] is not None

    as_csv = operator_client.get(f"/api/v1/audits/{run_id}/export?format=csv")
    assert as_csv["Content-Type"].startswith("text/csv")
    md = operator_client.get(f"/api/v1/audits/{run_id}/export?format=markdown")
    assert streamed(md).startswith(f"# Production audit {run_id}")
    as_json = json.loads(streamed(operator_client.get(f"/api/v1/audits/{run_id}/export")))
    assert as_json["format"] == "mcp-fleet-console.audit-run/2"


def test_api_errors(fleet, operator_client, viewer_client):
    unknown = _post(operator_client, "/api/v1/audits", {"scope": "service", "service": "nope"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "service"]
    assert _post(operator_client, "/api/v1/audits", {"scope": "galaxy"}).json()["detail"][0][
        "loc"
    ] == ["body", "scope"]
    assert _post(viewer_client, "/api/v1/audits", {"scope": "fleet"}).status_code == 403
    missing = operator_client.get("/api/v1/audits/999")
    assert (
        missing.status_code == 404 and missing.json()["detail"] == "Audit run 999 does not exist."
    )
    assert operator_client.get("/api/v1/audits/999/export?format=csv").status_code == 404
    bad_format = operator_client.get("/api/v1/audits/999/export?format=xml")
    assert bad_format.status_code == 422 and bad_format.json()["detail"][0]["loc"] == [
        "query",
        "format",
    ]


def test_api_attestations(fleet, operator_client, viewer_client):
    created = _post(
        operator_client,
        "/api/v1/services/notes/attestations",
        {"rule": "security.rate-limiting", "note": "API gateway quota"},
    )
    assert created.status_code == 201
    assert created.json()["by"] == "otto" and created.json()["expires_at"]

    unknown = _post(
        operator_client, "/api/v1/services/notes/attestations", {"rule": "nope.rule", "note": "x"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["detail"] == [
        {
            "loc": ["body", "rule"],
            "msg": "Unknown audit rule id 'nope.rule'.",
            "type": "value_error",
        }
    ]
    no_note = _post(
        operator_client, "/api/v1/services/notes/attestations", {"rule": "security.rate-limiting"}
    )
    assert no_note.status_code == 422 and no_note.json()["detail"][0]["loc"] == ["body", "note"]
    assert (
        _post(
            operator_client,
            "/api/v1/services/ghost/attestations",
            {"rule": "security.rate-limiting", "note": "x"},
        ).status_code
        == 404
    )
    assert (
        _post(
            viewer_client,
            "/api/v1/services/notes/attestations",
            {"rule": "security.rate-limiting", "note": "x"},
        ).status_code
        == 403
    )
    assert Attestation.objects.count() == 1


@pytest.mark.parametrize("role_client", ["viewer_client", "operator_client"])
def test_everyone_with_a_role_reads_audits(fleet, role_client, request, run_audit):
    client = request.getfixturevalue(role_client)
    run = run_audit()
    assert client.get("/audits/").status_code == 200
    assert client.get(f"/audits/runs/{run.pk}/").status_code == 200
    assert client.get("/api/v1/audits").json()[0]["id"] == run.pk
