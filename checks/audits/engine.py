"""Evaluate the rule catalogue against one service's evidence; score and compare runs.

`evaluate` runs every rule in play once: automated rules call their check function, manual
rules look up an attestation. A rule that raises becomes an `error` result naming the reason and
the run goes on. Disabled rules are left out of the results entirely.

Scoring (see `checks.audits.scoring`): each decided result earns credit (pass 1, warning 0.5,
fail 0) weighted by severity (critical 10, high 5, medium 3, low 1); score = 100 x earned /
possible. needs_attestation, no_evidence, error and not_applicable results are not decided and
count neither way, so missing data never lowers or raises a score; the evidence coverage beside
the score says how much was decided from evidence, how much attested and how much is open. A service's score is per
section and overall; the fleet score is the mean of the services' scores (each service counts
once, however many rules apply to it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from checks.audits.catalogue import RULES
from checks.audits.diff import Change, RunDiff, diff_runs
from checks.audits.evidence import Attestation, Evidence
from checks.audits.overrides import ExtraRule, Overrides
from checks.audits.results import DECIDED, EvidenceItem, Finding, RuleResult, Severity, Status
from checks.audits.rule import Rule
from checks.audits.scoring import FleetScore, ScoreCard, fleet_score, score

__all__ = [
    "Change",
    "ExtraRule",
    "FleetScore",
    "Overrides",
    "RunDiff",
    "ScoreCard",
    "diff_runs",
    "evaluate",
    "evaluate_fleet",
    "fleet_score",
    "score",
]

_KIND_NAMES = {"mcp_server": "MCP servers", "agent_backend": "agent backends"}


def evaluate(
    evidence: Evidence,
    rules: Iterable[Rule] = RULES,
    overrides: Overrides | None = None,
    *,
    now: datetime | None = None,
) -> list[RuleResult]:
    """One result per enabled rule for this service, in catalogue order."""
    plan = _Plan.make(rules, overrides or Overrides())
    return plan.evaluate(evidence, _aware(now or datetime.now(UTC)))


@dataclass(frozen=True)
class _Plan:
    """The rules in play with their effective severities, worked out once per run."""

    overrides: Overrides
    rules: tuple[tuple[Rule, Severity], ...]
    known: frozenset[str]

    @classmethod
    def make(cls, rules: Iterable[Rule], overrides: Overrides) -> _Plan:
        in_play = overrides.rules_in_play(rules)
        enabled = tuple(
            (rule, overrides.severity_for(rule))
            for rule in in_play
            if rule.id not in overrides.disabled
        )
        return cls(overrides, enabled, frozenset(rule.id for rule in in_play))

    def evaluate(self, evidence: Evidence, moment: datetime) -> list[RuleResult]:
        for rule_id in evidence.attestations:
            if rule_id not in self.known:
                raise ValueError(f"attestation names unknown audit rule id {rule_id!r}")
        effective = _apply_overrides(evidence, self.overrides)
        name = evidence.service.name
        results = []
        for rule, severity in self.rules:
            finding = _decide(rule, effective, self.overrides, moment)
            results.append(
                RuleResult(
                    rule_id=rule.id,
                    service=name,
                    section=rule.section,
                    title=rule.title,
                    severity=severity,
                    mode=rule.mode,
                    status=finding.status,
                    message=finding.message,
                    evidence=finding.evidence,
                    basis=_basis(rule, finding),
                    fix=rule.fix,
                )
            )
        return results


def _basis(rule: Rule, finding: Finding) -> str:
    """How a decided result was decided; "" for open and not-applicable ones."""
    if finding.status not in DECIDED:
        return ""
    return finding.basis or ("attestation" if rule.mode == "manual" else "evidence")


def evaluate_fleet(
    evidences: Iterable[Evidence],
    rules: Iterable[Rule] = RULES,
    overrides: Overrides | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, list[RuleResult]]:
    """Results per service name for a whole run; the input for `fleet_score` and the exporters.

    The rules in play and their severities are worked out once for the run, not per service.
    """
    plan = _Plan.make(list(rules), overrides or Overrides())
    moment = _aware(now or datetime.now(UTC))
    return {ev.service.name: plan.evaluate(ev, moment) for ev in evidences}


def _apply_overrides(evidence: Evidence, overrides: Overrides) -> Evidence:
    """The evidence as the rules should see it: admin thresholds and regions filled in."""
    config = evidence.config
    if overrides.allowed_regions is not None:
        config = replace(config, allowed_regions=tuple(overrides.allowed_regions))
    thresholds = overrides.thresholds or evidence.thresholds
    return replace(evidence, config=config, thresholds=thresholds)


def _decide(rule: Rule, evidence: Evidence, overrides: Overrides, now: datetime) -> Finding:
    kind = evidence.service.kind
    if not rule.applies(kind):
        return Finding(
            Status.NOT_APPLICABLE,
            f"Applies to {_KIND_NAMES.get(rule.applies_to, rule.applies_to)} only.",
            [evidence.service.origin.item("kind", kind.replace("_", " "))],
        )
    if rule.mode == "manual":
        return _attested(rule, evidence.attestations.get(rule.id), overrides, now)
    assert rule.check is not None
    try:
        finding = rule.check(evidence)
    except Exception as exc:  # a broken rule must not stop the other rules
        return Finding(Status.ERROR, f"The rule failed to run: {type(exc).__name__}: {exc}")
    if not isinstance(finding, Finding):
        return Finding(Status.ERROR, f"The rule returned {type(finding).__name__}, not a Finding.")
    if rule.attestable and finding.status in (Status.NO_EVIDENCE, Status.NEEDS_ATTESTATION):
        return _attested_instead(rule, finding, evidence, overrides, now)
    return finding


def _attested_instead(
    rule: Rule, finding: Finding, evidence: Evidence, overrides: Overrides, now: datetime
) -> Finding:
    """Where the platform shows nothing, a valid attestation decides; otherwise the check's own
    answer stands, saying that an attestation is what would decide it."""
    attested = _attested(rule, evidence.attestations.get(rule.id), overrides, now)
    if attested.status == Status.PASS:
        return Finding(
            Status.PASS,
            f"{attested.message} (No evidence from the platform: {finding.message})",
            [*attested.evidence, *finding.evidence],
            basis="attestation",
        )
    if attested.evidence:  # an expired attestation
        return Finding(
            Status.NEEDS_ATTESTATION, f"{finding.message} {attested.message}", finding.evidence
        )
    if finding.status == Status.NEEDS_ATTESTATION:
        return finding
    return Finding(
        Status.NEEDS_ATTESTATION,
        f"{finding.message} Where the platform cannot show it, an attestation decides.",
        finding.evidence,
    )


def _attested(
    rule: Rule, attestation: Attestation | None, overrides: Overrides, now: datetime
) -> Finding:
    """A manual rule passes on a valid attestation; missing or expired ones need a new one."""
    if attestation is None:
        return Finding(
            Status.NEEDS_ATTESTATION, f"No attestation recorded. Needed: {rule.evidence}"
        )
    attested_at = _aware(attestation.at)
    expires = _expiry(attestation, overrides.attestation_expiry_days)
    source = f"attestation by {attestation.by}"
    items = [
        EvidenceItem("attested by", attestation.by, source, attested_at),
        EvidenceItem("note", attestation.note or "(none)", source, attested_at),
        EvidenceItem("expires", expires.isoformat() if expires else "never", source, attested_at),
    ]
    when = attested_at.date().isoformat()
    if expires is not None and now >= expires:
        return Finding(
            Status.NEEDS_ATTESTATION,
            f"The attestation by {attestation.by} on {when} expired on "
            f"{expires.date().isoformat()}; attest again.",
            items,
        )
    note = f": {attestation.note}" if attestation.note else "."
    return Finding(Status.PASS, f"Attested by {attestation.by} on {when}{note}", items)


def _expiry(attestation: Attestation, max_days: int | None) -> datetime | None:
    """The earlier of the attestation's own expiry and the admin's maximum age."""
    candidates = []
    if attestation.expires_at is not None:
        candidates.append(_aware(attestation.expires_at))
    if max_days is not None:
        candidates.append(_aware(attestation.at) + timedelta(days=max_days))
    return min(candidates) if candidates else None


def _aware(moment: datetime) -> datetime:
    # Naive datetimes are taken as UTC so comparisons never raise mid-run.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
