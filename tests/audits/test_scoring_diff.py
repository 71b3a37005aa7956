"""Scores per section, service and fleet; diffs between runs."""

from __future__ import annotations

from dataclasses import replace

from checks.audits.diff import diff_runs
from checks.audits.engine import evaluate, evaluate_fleet
from checks.audits.results import RuleResult, Severity, Status
from checks.audits.scoring import fleet_score, score
from tests.audits.factories import NOW, evidence, probe, snapshot


def result(rule_id: str, status: Status, severity=Severity.MEDIUM, service="notes") -> RuleResult:
    section = rule_id.split(".")[0]
    return RuleResult(rule_id, service, section, rule_id, severity, "automated", status, "")


def test_score_weights_by_severity_and_ignores_undecided():
    card = score(
        [
            result("security.a", Status.PASS, Severity.CRITICAL),  # 10 of 10
            result("security.b", Status.FAIL, Severity.HIGH),  # 0 of 5
            result("cost.c", Status.WARNING, Severity.LOW),  # 0.5 of 1
            result("cost.d", Status.NO_EVIDENCE, Severity.CRITICAL),  # not decided
            result("cost.e", Status.ERROR, Severity.HIGH),  # not decided
            result("cost.f", Status.NOT_APPLICABLE, Severity.HIGH),  # not decided
        ]
    )
    assert card.overall == round(100 * 10.5 / 16, 1)
    assert card.sections == {"security": round(100 * 10 / 15, 1), "cost": 50.0}
    assert card.counts["no_evidence"] == 1


def test_unattested_manual_items_are_open_not_failed():
    card = score([result("a.x", Status.PASS), result("a.y", Status.NEEDS_ATTESTATION)])
    assert card.overall == 100.0
    assert (card.coverage.evidence, card.coverage.attested, card.coverage.open) == (1, 0, 1)


def test_nothing_decided_is_not_scored():
    assert score([result("a.x", Status.NO_EVIDENCE)]).overall is None


def test_fleet_score_is_the_mean_of_services():
    fleet = fleet_score(
        {
            "notes": [result("a.x", Status.PASS)],
            "search": [result("a.x", Status.FAIL, service="search")] * 3,
        }
    )
    assert fleet.services["notes"].overall == 100.0
    assert fleet.services["search"].overall == 0.0
    assert fleet.overall == 50.0
    assert fleet.worst(1) == [("search", 0.0)]


def test_breaking_a_service_lowers_its_score():
    good = score(evaluate(evidence(), now=NOW))
    broken_snapshot = snapshot(
        scaling=replace(snapshot().scaling, min_instances=1, max_instances=None)
    )
    bad = score(evaluate(evidence(snapshot_=broken_snapshot), now=NOW))
    assert bad.overall < good.overall
    assert bad.sections["reliability"] < good.sections["reliability"]


def test_diff_reports_what_got_worse_and_better():
    before = evaluate(evidence(), now=NOW)
    after = evaluate(
        evidence(probe_=probe(unauthenticated_tools_list=True, http_status=200)),
        now=NOW,
    )
    diff = diff_runs(before, after)
    worse = {(c.rule_id, c.before, c.after) for c in diff.worse}
    assert ("mcp.tools-list-requires-auth", Status.PASS, Status.FAIL) in worse
    assert diff.better == []
    back = diff_runs(after, before)
    assert {c.rule_id for c in back.better} == {c.rule_id for c in diff.worse}


def test_diff_tracks_services_separately_and_rules_that_appear():
    old = [result("a.x", Status.FAIL), result("a.x", Status.PASS, service="search")]
    new = [
        result("a.x", Status.PASS),
        result("a.x", Status.PASS, service="search"),
        result("a.y", Status.NEEDS_ATTESTATION),
    ]
    diff = diff_runs(old, new)
    assert [(c.service, c.rule_id) for c in diff.better] == [("notes", "a.x")]
    assert [c.rule_id for c in diff.appeared] == ["a.y"]
    assert diff_runs(new, new).unchanged


def test_fleet_run_scores_every_service():
    second = evidence(service={"name": "search", "resource": "search-mcp"}, probe_=None)
    results = evaluate_fleet([evidence(), second], now=NOW)
    assert set(results) == {"notes", "search"}
    fleet = fleet_score(results)
    assert fleet.services["search"].counts["no_evidence"] > fleet.services["notes"].counts.get(
        "no_evidence", 0
    )
    assert fleet.overall is not None
