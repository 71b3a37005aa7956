"""`manage.py audit`: the "done when" of the audits issue, and its errors."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from checks.audits.catalogue import RULES
from checks.audits.models import AuditRun
from console.models import AuditLogEntry


def _audit(*args: str) -> str:
    out = io.StringIO()
    call_command("audit", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_audit_all_json_prints_a_result_for_every_rule_of_every_service(fleet):
    data = json.loads(_audit("--all", "--format", "json"))

    assert data["format"] == "mcp-fleet-console.audit-run/2"
    assert [s["service"] for s in data["services"]] == sorted(s.name for s in fleet)
    every_rule = [rule.id for rule in RULES]
    for entry in data["services"]:
        assert [r["rule_id"] for r in entry["results"]] == every_rule
        for result in entry["results"]:
            assert result["status"] in {
                "pass",
                "fail",
                "warning",
                "not_applicable",
                "needs_attestation",
                "no_evidence",
                "error",
            }
            assert result["message"]
    run = AuditRun.objects.get()
    assert (run.trigger, run.status, run.scope_label) == ("cli", "succeeded", "fleet")
    assert AuditLogEntry.objects.filter(action="audit", source="cli").count() == 1


def test_audit_of_one_service_as_markdown_and_csv(fleet):
    markdown = _audit("notes")
    assert markdown.startswith("# Production audit")
    assert "## notes" in markdown and "## search" not in markdown

    rows = list(csv.DictReader(io.StringIO(_audit("notes", "--format", "csv"))))
    assert {r["service"] for r in rows} == {"notes"}
    assert len(rows) == len(RULES)
    plain_http = next(r for r in rows if r["rule_id"] == "infrastructure.tls-valid")
    assert plain_http["status"] == "fail"
    assert "plain http://" in plain_http["message"]


def test_unknown_service_name_is_a_clear_error(fleet):
    with pytest.raises(CommandError, match=r"No service named 'nope'\. Known services: assistant"):
        _audit("nope")
    assert not AuditRun.objects.exists()


def test_name_or_all_is_required(fleet):
    with pytest.raises(CommandError, match="either a service NAME or --all"):
        _audit()
    with pytest.raises(CommandError, match="either a service NAME or --all"):
        _audit("notes", "--all")


def test_empty_fleet_is_a_clear_error(db):
    with pytest.raises(CommandError, match="no services registered"):
        _audit("--all")


def test_unknown_format_is_refused(fleet):
    with pytest.raises(CommandError, match="invalid choice: 'xml'"):
        _audit("--all", "--format", "xml")


def test_md_is_short_for_markdown_as_in_the_api(fleet):
    assert _audit("notes", "--format", "md").startswith("# Production audit")
