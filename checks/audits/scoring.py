"""Readiness scores from audit results, per section, per service and for the fleet.

Definition: each decided result earns credit — pass 1, warning 0.5, fail 0, needs_attestation 0
(the checklist asks for the item to be verified, so an unverified item is not met) — weighted by
the result's severity: critical 10, high 5, medium 3, low 1. The score is
100 x sum(weight x credit) / sum(weight) over decided results, rounded to one decimal.
not_applicable, no_evidence and error results are undecided and excluded, so a missing fact never
moves a score; when nothing is decided the score is None ("not scored"), not 0 or 100.
The fleet score is the mean of the services' scores, so every service counts once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checks.audits.results import RuleResult, Severity, Status

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
    Status.NEEDS_ATTESTATION: 0.0,
}


@dataclass
class ScoreCard:
    """Scores for one set of results (usually one service's)."""

    overall: float | None
    sections: dict[str, float | None]
    counts: dict[str, int]  # status -> number of results

    def as_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {"overall": self.overall, "sections": self.sections, "counts": self.counts}


@dataclass
class FleetScore:
    """Scores across services: each service's card, and means over services."""

    overall: float | None
    sections: dict[str, float | None]
    services: dict[str, ScoreCard] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def worst(self, limit: int = 5) -> list[tuple[str, float]]:
        """The lowest-scoring services, worst first (unscored services are left out)."""
        scored = [(name, c.overall) for name, c in self.services.items() if c.overall is not None]
        return sorted(scored, key=lambda pair: (pair[1], pair[0]))[:limit]

    def as_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            "overall": self.overall,
            "sections": self.sections,
            "counts": self.counts,
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
    for card in cards.values():
        counts.update(card.counts)
    return FleetScore(
        overall=_mean([c.overall for c in cards.values() if c.overall is not None]),
        sections={section: _mean(values) for section, values in sections.items()},
        services=cards,
        counts=dict(counts),
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


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None
