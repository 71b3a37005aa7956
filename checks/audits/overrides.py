"""Admin overrides of the catalogue: disabled rules, severities, thresholds and extra manual rules.

Overrides are plain data so they can come from an admin form, a YAML file or a test. They are
validated against the rules in play: an unknown rule id is a `ValueError` naming it, because a
typo that silently disables nothing is worse than a loud failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checks.audits.evidence import Thresholds
from checks.audits.results import AppliesTo, Severity
from checks.audits.rule import Rule


@dataclass(frozen=True)
class ExtraRule:
    """A manual rule defined as data by an admin (e.g. a company policy the guide lacks)."""

    id: str
    section: str
    title: str
    rationale: str
    severity: Severity | str = Severity.MEDIUM
    applies_to: AppliesTo = "both"
    evidence: str = "An attestation by the person responsible for the service."

    def to_rule(self) -> Rule:
        """The catalogue form of this rule."""
        return Rule(
            id=self.id,
            section=self.section,
            title=self.title,
            rationale=self.rationale,
            evidence=self.evidence,
            severity=parse_severity(self.severity, self.id),
            applies_to=self.applies_to,
            mode="manual",
            fix=f"Check it, then attest: {self.evidence}",
        )


@dataclass(frozen=True)
class Overrides:
    """Everything an admin may change about how the catalogue is applied."""

    disabled: frozenset[str] = frozenset()
    severities: Mapping[str, Severity | str] = field(default_factory=dict)
    # Attestations older than this count as expired even without (or before) their own expiry.
    attestation_expiry_days: int | None = 90
    allowed_regions: tuple[str, ...] | None = None  # None = keep the console configuration's list
    extra_rules: tuple[ExtraRule, ...] = ()
    thresholds: Thresholds | None = None  # None = the defaults

    def rules_in_play(self, rules: Iterable[Rule]) -> list[Rule]:
        """The given rules plus the extra rules, checked for clashes and unknown override ids."""
        combined = list(rules)
        known = {rule.id for rule in combined}
        for extra in self.extra_rules:
            if extra.id in known:
                raise ValueError(f"extra rule id {extra.id!r} is already a catalogue rule")
            combined.append(extra.to_rule())
            known.add(extra.id)
        for rule_id in [*self.disabled, *self.severities]:
            if rule_id not in known:
                raise ValueError(f"override names unknown audit rule id {rule_id!r}")
        for rule_id, severity in self.severities.items():
            parse_severity(severity, rule_id)
        if self.attestation_expiry_days is not None and self.attestation_expiry_days <= 0:
            raise ValueError("attestation_expiry_days must be positive")
        return combined

    def severity_for(self, rule: Rule) -> Severity:
        """The rule's severity after any override."""
        if rule.id in self.severities:
            return parse_severity(self.severities[rule.id], rule.id)
        return rule.severity


def parse_severity(value: Severity | str, rule_id: str) -> Severity:
    """A Severity from its name, with a clear error naming the rule."""
    try:
        return Severity(str(value).lower())
    except ValueError:
        raise ValueError(f"rule {rule_id!r}: unknown severity {value!r}") from None
