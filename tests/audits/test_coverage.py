"""Scores people can act on: open rules never count as failures; coverage says how much is known."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from checks.audits.catalogue import RULES
from checks.audits.engine import evaluate
from checks.audits.evidence import Attestation, ConsoleConfig
from checks.audits.results import Status
from checks.audits.scoring import fleet_score, score
from tests.audits.factories import NOW, READ_AT, evidence


def test_unattested_manual_rules_do_not_lower_a_fully_passing_service():
    # Given a service that passes every automated rule and has attested nothing
    results = evaluate(evidence(), now=NOW)
    manual = [r for r in results if r.mode == "manual" and r.status != Status.NOT_APPLICABLE]
    assert len(manual) == 6 and all(r.status == Status.NEEDS_ATTESTATION for r in manual)
    automated = [r for r in results if r.mode == "automated" and r.status != Status.NOT_APPLICABLE]
    assert {r.status for r in automated} == {Status.PASS}

    card = score(results)

    # Then it scores 100 %, and the coverage shows the 6 open rules separately
    assert card.overall == 100.0
    cov = card.coverage.as_dict()
    assert cov["open"] == 6 and cov["attested"] == 0
    assert cov["evidence"] == len(automated)
    assert cov["decided_pct"] == round(100 * len(automated) / (len(automated) + 6), 1)


def test_attesting_moves_a_rule_from_open_to_attested_without_changing_the_score():
    attested = {"performance.load-testing": Attestation("otto", "k6, 2x peak", READ_AT)}
    before = score(evaluate(evidence(), now=NOW))
    after = score(evaluate(evidence(attestations=attested), now=NOW))
    assert before.overall == after.overall == 100.0
    assert after.coverage.attested == 1
    assert after.coverage.open == before.coverage.open - 1


def test_a_failing_automated_rule_still_lowers_the_score():
    ev = evidence(config=replace(evidence().config, alert_routed=False))
    assert score(evaluate(ev, now=NOW)).overall < 100.0


def test_fleet_coverage_adds_up_every_service():
    fleet = fleet_score({"a": evaluate(evidence(), now=NOW), "b": evaluate(evidence(), now=NOW)})
    one = fleet.services["a"].coverage
    assert fleet.coverage.open == 2 * one.open
    assert fleet.summary()["coverage"]["decided_pct"] == one.decided_pct


def test_every_verdict_names_its_source_time_and_a_fix():
    results = evaluate(evidence(), now=NOW)
    for r in results:
        assert r.fix, f"{r.rule_id} has no fix text"
        data = r.as_dict()
        assert data["source"] and data["fix"] == r.fix
    routing = next(r for r in results if r.rule_id == "observability.alert-routing")
    assert routing.as_dict()["decided_by"] == "evidence"
    assert routing.observed_at == READ_AT
    assert all(rule.fix.strip() for rule in RULES)


def test_expired_attestation_is_open_again():
    old = Attestation("otto", "k6 2x peak", NOW - timedelta(days=200))
    results = evaluate(evidence(attestations={"performance.load-testing": old}), now=NOW)
    card = score(results)
    assert card.overall == 100.0
    assert card.coverage.attested == 0


def test_logging_rules_without_platform_evidence_say_no_evidence_and_why():
    # A fully configured console, but nothing read from the service's platform about its logs.
    ev = evidence(config=ConsoleConfig(alert_routed=True, budget_covered=True), observations={})
    results = {r.rule_id: r for r in evaluate(ev, now=NOW)}
    for rule_id in ("observability.structured-logging", "compliance.audit-logging"):
        assert results[rule_id].status == Status.NO_EVIDENCE, rule_id
        assert "console's own settings" in results[rule_id].message
        assert "on Cloud Run" in results[rule_id].message
