"""Readiness scores from audit results, per section, per service and for the fleet.

Definition: each decided result earns credit — pass 1, warning 0.5, fail 0 — weighted by the
result's severity: critical 10, high 5, medium 3, low 1. The score is
100 x sum(weight x credit) / sum(weight) over decided results, rounded to one decimal.
needs_attestation, no_evidence and error results are open and not_applicable ones do not concern
the service: none of them counts either way, so a fact nobody has read or attested never moves a
score; when nothing is decided the score is None ("not scored"), not 0 or 100.
The fleet score is the mean of the services' scores, so every service counts once.

Next to the score, the evidence coverage says how far to trust it: of the rules that apply, how
many were decided from evidence read about the service, how many by a person's attestation, and
how many are still open (needing an attestation, or with no evidence, or an error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checks.audits.results import DECIDED, RuleResult, Severity, Status

WEIGHTS: dict[Severity, int] = {
    Severity.CRITICAL: 10,
    Severity.HIGH: 5,
    Severity.MEDIUM: 3,
    Severity.LOW: 1,
}
CREDIT: dict[Status, float] = {
    Status.PASS: 1.0,
    Status.WARNING: 0.5,
    Status.FAIL: 0.0,
}


@dataclass
class Coverage:
    """How the applicable rules were decided: from evidence, by attestation, or still open."""

    evidence: int = 0
    attested: int = 0
    open: int = 0

    @property
    def applicable(self) -> int:
        return self.evidence + self.attested + self.open

    @property
    def decided_pct(self) -> float | None:
        """The share of applicable rules decided at all (from evidence or attested)."""
        return _share(self.evidence + self.attested, self.applicable)

    def add(self, other: Coverage) -> Coverage:
        return Coverage(
            self.evidence + other.evidence, self.attested + other.attested, self.open + other.open
        )

    def as_dict(self) -> dict:
        """Counts and shares (percent of the applicable rules, one decimal)."""
        total = self.applicable
        return {
            "applicable": total,
            "evidence": self.evidence,
            "attested": self.attested,
            "open": self.open,
            "decided_pct": self.decided_pct,
            "evidence_pct": _share(self.evidence, total),
            "attested_pct": _share(self.attested, total),
            "open_pct": _share(self.open, total),
        }

    @classmethod
    def from_dict(cls, data: Mapping | None) -> Coverage:
        data = data or {}
        return cls(
            int(data.get("evidence", 0)), int(data.get("attested", 0)), int(data.get("open", 0))
        )


def coverage(results: Iterable[RuleResult]) -> Coverage:
    """Evidence coverage of a set of results (not applicable ones are left out)."""
    cov = Coverage()
    for result in results:
        if result.status == Status.NOT_APPLICABLE:
            continue
        if result.status not in DECIDED:
            cov.open += 1
        elif result.basis == "attestation" or (not result.basis and result.mode == "manual"):
            cov.attested += 1
        else:
            cov.evidence += 1
    return cov


@dataclass
class ScoreCard:
    """Scores for one set of results (usually one service's)."""

    overall: float | None
    sections: dict[str, float | None]
    counts: dict[str, int]  # status -> number of results
    coverage: Coverage = field(default_factory=Coverage)

    def as_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            "overall": self.overall,
            "sections": self.sections,
            "counts": self.counts,
            "coverage": self.coverage.as_dict(),
        }


@dataclass
class FleetScore:
    """Scores across services: each service's card, and means over services."""

    overall: float | None
    sections: dict[str, float | None]
    services: dict[str, ScoreCard] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    coverage: Coverage = field(default_factory=Coverage)

    def worst(self, limit: int = 5) -> list[tuple[str, float]]:
        """The lowest-scoring services, worst first (unscored services are left out)."""
        scored = [(name, c.overall) for name, c in self.services.items() if c.overall is not None]
        return sorted(scored, key=lambda pair: (pair[1], pair[0]))[:limit]

    def summary(self) -> dict:
        """The fleet-level figures without the per-service cards (stored on the run)."""
        return {
            "overall": self.overall,
            "sections": self.sections,
            "counts": self.counts,
            "coverage": self.coverage.as_dict(),
            "services_scored": sum(1 for c in self.services.values() if c.overall is not None),
            "services_audited": len(self.services),
        }

    def as_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            **self.summary(),
            "services": {name: card.as_dict() for name, card in self.services.items()},
        }


def score(results: Iterable[RuleResult]) -> ScoreCard:
    """Overall and per-section scores for a set of results."""
    results = list(results)
    by_section: dict[str, list[RuleResult]] = {}
    for result in results:
        by_section.setdefault(result.section, []).append(result)
    return ScoreCard(
        overall=_weighted(results),
        sections={section: _weighted(items) for section, items in by_section.items()},
        counts=dict(Counter(str(r.status) for r in results)),
        coverage=coverage(results),
    )


def fleet_score(results_by_service: Mapping[str, Iterable[RuleResult]]) -> FleetScore:
    """Each service's card plus fleet means, overall and per section."""
    cards = {name: score(results) for name, results in results_by_service.items()}
    sections: dict[str, list[float]] = {}
    for card in cards.values():
        for section, value in card.sections.items():
            if value is not None:
                sections.setdefault(section, []).append(value)
    counts: Counter[str] = Counter()
    total = Coverage()
    for card in cards.values():
        counts.update(card.counts)
        total = total.add(card.coverage)
    return FleetScore(
        overall=_mean([c.overall for c in cards.values() if c.overall is not None]),
        sections={section: _mean(values) for section, values in sections.items()},
        services=cards,
        counts=dict(counts),
        coverage=total,
    )


def _weighted(results: list[RuleResult]) -> float | None:
    possible = earned = 0.0
    for result in results:
        credit = CREDIT.get(result.status)
        if credit is None:
            continue
        weight = WEIGHTS[result.severity]
        possible += weight
        earned += weight * credit
    return round(100 * earned / possible, 1) if possible else None


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None
