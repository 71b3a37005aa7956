"""Scores people can act on, on the pages: coverage beside the score, where each verdict's
evidence came from and when, how to fix it, statuses as words and times in the viewer's zone."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from checks.audits import gather
from checks.audits.evidence import STRUCTURED_LOGS, Observation, Provenance
from checks.audits.models import AuditResult
from fleet.models import Service
from tests.audit_console.conftest import streamed

LOGGING_RULES = ("observability.structured-logging", "compliance.audit-logging")


@pytest.mark.parametrize("log_json", [True, False])
def test_logging_rules_say_no_evidence_whatever_the_consoles_log_json(fleet, run_audit, log_json):
    with override_settings(LOG_JSON=log_json):
        run = run_audit()
    for rule_id in LOGGING_RULES:
        results = AuditResult.objects.filter(run=run, rule_id=rule_id)
        assert {r.status for r in results} == {"no_evidence"}, (rule_id, log_json)
        assert "console's own settings" in results[0].message


def test_open_rules_do_not_lower_the_score_and_coverage_is_shown(fleet, viewer_client, run_audit):
    run = run_audit()
    notes = run.service_scores.get(service_name="notes")
    results = list(run.results.filter(service_name="notes"))
    decided = [r for r in results if r.status in ("pass", "fail", "warning")]
    assert notes.coverage["open"] == sum(
        r.status in ("needs_attestation", "no_evidence", "error") for r in results
    )
    assert notes.coverage["evidence"] == len(decided)
    earned = [r for r in decided if r.status == "pass"]
    if len(earned) == len(decided):
        assert notes.overall == 100.0

    page = viewer_client.get("/audits/").content.decode()
    assert "Evidence coverage:" in page
    assert f"{notes.coverage['open']} open" in page
    service_page = viewer_client.get("/audits/services/notes/").content.decode()
    assert "Evidence coverage:" in service_page


def test_every_verdict_on_the_run_page_says_source_time_and_fix(fleet, viewer_client, run_audit):
    run = run_audit()
    page = viewer_client.get(f"/audits/runs/{run.pk}/?service=notes").content.decode()
    assert "Evidence from console service registry" in page
    assert "<b>Fix:</b> Serve the service over https with a valid certificate" in page
    assert "needs attestation" in page and "needs_attestation</span>" not in page
    assert "no evidence" in page


def test_times_are_shown_in_the_viewers_zone_without_microseconds(fleet, viewer_client, run_audit):
    run = run_audit()
    finished = datetime(2026, 11, 30, 12, 3, 27, 123456, tzinfo=UTC)
    type(run).objects.filter(pk=run.pk).update(finished_at=finished)
    viewer_client.cookies["tz"] = "Europe/Berlin"
    page = viewer_client.get(f"/audits/runs/{run.pk}/").content.decode()
    assert "13:03:27 CET" in page
    assert "12:03:27.123456" not in page
    viewer_client.cookies["tz"] = "Mars/Olympus"  # not a zone: UTC, labelled
    page = viewer_client.get(f"/audits/runs/{run.pk}/").content.decode()
    assert "12:03:27 UTC" in page


def test_a_registered_evidence_reader_decides_the_rule_with_its_source_and_time(
    fleet, run_audit, monkeypatch
):
    read_at = datetime(2026, 11, 30, 12, 3, tzinfo=UTC)
    notes_id = Service.objects.get(name="notes").pk

    def fake_logging_reader(context: gather.ReadContext) -> dict:
        answers = {
            s.pk: "the service has no log sink the console can read" for s in context.services
        }
        answers[notes_id] = Observation(
            True,
            Provenance("Cloud Logging API entries.list (last 50 entries)", read_at),
            "50 of 50 entries were jsonPayload",
        )
        return answers

    monkeypatch.setitem(gather.READERS, STRUCTURED_LOGS, [fake_logging_reader])
    run = run_audit()
    notes = run.results.get(service_name="notes", rule_id="observability.structured-logging")
    assert notes.status == "pass" and notes.basis == "evidence"
    assert notes.source == "Cloud Logging API entries.list (last 50 entries)"
    assert notes.observed_at == read_at.isoformat()
    other = run.results.get(service_name="search", rule_id="observability.structured-logging")
    assert other.status == "no_evidence"
    assert "the service has no log sink the console can read" in other.message


def test_export_names_each_verdicts_basis_source_and_fix(fleet, viewer_client, run_audit):
    run = run_audit()
    data = json.loads(streamed(viewer_client.get(f"/audits/runs/{run.pk}.json")))
    notes = next(s for s in data["services"] if s["service"] == "notes")
    assert notes["score"]["coverage"]["open"] > 0
    for result in notes["results"]:
        assert data["rules"][result["rule_id"]]["fix"]  # how to fix it: once per rule
        assert all(item["source"] for item in result["evidence"])
        if result["status"] == "needs_attestation":
            assert result["decided_by"] is None
    assert data["fleet"]["coverage"]["applicable"] == sum(
        s["score"]["coverage"]["applicable"] for s in data["services"]
    )


def test_facts_and_platforms_read_as_words_on_the_run_page(fleet, viewer_client, run_audit):
    """The evidence panel and the no-evidence reasons name facts and platforms the way people
    do: no value shapes from the code ("(dict: grace_s, drain, ...)"), no provider ids."""
    run = run_audit()
    page = viewer_client.get(f"/audits/runs/{run.pk}/?service=notes").content.decode()
    for shape in ("(bool:", "(dict:", "(dict,", "(int)", "grace_s", "open_policies"):
        assert shape not in page, shape
    assert "no evidence reader" not in page
    assert "the console does not read" in page
    assert "<b>platform</b>: url" not in page
