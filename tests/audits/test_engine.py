"""The engine: applicability, attestations, overrides, crashing rules and unknown ids."""

from __future__ import annotations

from datetime import timedelta

import pytest

from checks.audits.catalogue import RULES, get_rule
from checks.audits.engine import ExtraRule, Overrides, evaluate
from checks.audits.evidence import Attestation
from checks.audits.results import Finding, Severity, Status
from checks.audits.rule import Rule
from tests.audits.factories import NOW, evidence


def by_id(results):
    return {r.rule_id: r for r in results}


def test_full_catalogue_on_a_well_run_server_has_no_failures():
    results = evaluate(evidence(), now=NOW)
    assert [r.rule_id for r in results] == [r.id for r in RULES]
    statuses = {r.rule_id: r.status for r in results}
    assert Status.FAIL not in statuses.values() and Status.ERROR not in statuses.values()
    assert statuses["performance.load-testing"] == Status.NEEDS_ATTESTATION
    assert statuses["reliability.client-retries"] == Status.NOT_APPLICABLE
    assert all(r.service == "notes" for r in results)


def test_valid_attestation_passes_and_shows_who_and_when():
    ev = evidence(
        attestations={
            "performance.load-testing": Attestation(
                "dana@acme.example", "Cloud Armor 100 req/min per IP", NOW - timedelta(days=10)
            )
        }
    )
    result = by_id(evaluate(ev, now=NOW))["performance.load-testing"]
    assert result.status == Status.PASS
    assert "dana@acme.example" in result.message and "Cloud Armor" in result.message
    assert result.evidence[0].observed_at == NOW - timedelta(days=10)


def test_attestation_past_its_expiry_needs_a_new_one():
    ev = evidence(
        attestations={
            "performance.load-testing": Attestation(
                "dana", "ok", NOW - timedelta(days=40), expires_at=NOW - timedelta(days=1)
            )
        }
    )
    result = by_id(evaluate(ev, now=NOW))["performance.load-testing"]
    assert result.status == Status.NEEDS_ATTESTATION and "expired" in result.message


def test_attestation_older_than_the_admin_limit_expires():
    ev = evidence(
        attestations={"performance.load-testing": Attestation("dana", "", NOW - timedelta(days=45))}
    )
    fresh_enough = by_id(evaluate(ev, now=NOW))["performance.load-testing"]
    assert fresh_enough.status == Status.PASS  # default limit is 90 days
    strict = by_id(evaluate(ev, overrides=Overrides(attestation_expiry_days=30), now=NOW))
    assert strict["performance.load-testing"].status == Status.NEEDS_ATTESTATION


def test_disabled_rules_are_left_out_and_severities_change():
    overrides = Overrides(
        disabled=frozenset({"observability.dashboards"}),
        severities={"cost.unused-resources": "high"},
    )
    results = by_id(evaluate(evidence(), overrides=overrides, now=NOW))
    assert "observability.dashboards" not in results
    assert results["cost.unused-resources"].severity == Severity.HIGH


def test_extra_manual_rules_are_evaluated():
    extra = ExtraRule(
        "policy.owner-on-call",
        "policy",
        "An owner is on the on-call rota",
        "Someone must answer pages for it.",
        "high",
    )
    ev = evidence(attestations={"policy.owner-on-call": Attestation("lee", "rota A", NOW)})
    results = by_id(evaluate(ev, overrides=Overrides(extra_rules=(extra,)), now=NOW))
    assert results["policy.owner-on-call"].status == Status.PASS
    assert results["policy.owner-on-call"].severity == Severity.HIGH


@pytest.mark.parametrize(
    "overrides",
    [
        Overrides(disabled=frozenset({"security.no-such-rule"})),
        Overrides(severities={"security.no-such-rule": "low"}),
    ],
)
def test_unknown_rule_ids_in_overrides_raise(overrides):
    with pytest.raises(ValueError, match="security.no-such-rule"):
        evaluate(evidence(), overrides=overrides, now=NOW)


def test_unknown_rule_id_in_attestations_raises():
    ev = evidence(attestations={"ops.retired-rule": Attestation("x", "", NOW)})
    with pytest.raises(ValueError, match="ops.retired-rule"):
        evaluate(ev, now=NOW)


def test_bad_severity_and_clashing_extra_rule_raise():
    with pytest.raises(ValueError, match="catastrophic"):
        evaluate(evidence(), overrides=Overrides(severities={"cost.right-sizing": "catastrophic"}))
    clash = ExtraRule("cost.right-sizing", "cost", "t", "r")
    with pytest.raises(ValueError, match="cost.right-sizing"):
        evaluate(evidence(), overrides=Overrides(extra_rules=(clash,)))


def _explode(ev) -> Finding:
    raise KeyError("scaling")


def test_a_crashing_rule_becomes_error_and_the_run_continues():
    broken = Rule(
        id="infrastructure.broken",
        section="infrastructure",
        title="Broken",
        rationale="r",
        evidence="e",
        severity=Severity.LOW,
        check=_explode,
    )
    rules = [broken, get_rule("infrastructure.tls-valid")]
    results = by_id(evaluate(evidence(), rules, now=NOW))
    assert results["infrastructure.broken"].status == Status.ERROR
    assert "KeyError" in results["infrastructure.broken"].message
    assert results["infrastructure.tls-valid"].status == Status.PASS


def test_a_rule_returning_the_wrong_type_is_an_error():
    odd = Rule("mcp.odd", "mcp", "Odd", "r", "e", Severity.LOW, check=lambda ev: "pass")
    [result] = evaluate(evidence(), [odd], now=NOW)
    assert result.status == Status.ERROR


def test_rule_definitions_are_validated():
    with pytest.raises(ValueError, match="needs a check"):
        Rule("x.y", "x", "t", "r", "e", Severity.LOW)
    with pytest.raises(ValueError, match="must look like"):
        Rule("No Dots", "x", "t", "r", "e", Severity.LOW, mode="manual")


def test_evidence_sources_say_what_was_read_from_where_and_when():
    rows = evidence().sources()
    labels = [row.label for row in rows]
    assert labels[:3] == ["service registration", "cloud description", "latest probe"]
    assert rows[1].source.startswith("Cloud Run API") and rows[1].observed_at is not None
