"""Compare two audit runs: which (service, rule) results got worse, better, appeared or vanished.

Statuses are ranked from best to worst: pass and not_applicable (nothing to do), warning,
no_evidence and needs_attestation (someone must act to know), error, fail. A move between
statuses of the same rank (e.g. pass -> not_applicable) is reported as `changed`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from checks.audits.results import RuleResult, Status

RANK: dict[Status, int] = {
    Status.PASS: 0,
    Status.NOT_APPLICABLE: 0,
    Status.WARNING: 1,
    Status.NO_EVIDENCE: 2,
    Status.NEEDS_ATTESTATION: 2,
    Status.ERROR: 3,
    Status.FAIL: 4,
}


@dataclass(frozen=True)
class Change:
    """One (service, rule) whose status differs between runs; None = absent from that run."""

    rule_id: str
    service: str
    before: Status | None
    after: Status | None
    message: str = ""  # the new run's message (or the old one's when the rule vanished)

    def as_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            "rule_id": self.rule_id,
            "service": self.service,
            "before": str(self.before) if self.before else None,
            "after": str(self.after) if self.after else None,
            "message": self.message,
        }


@dataclass
class RunDiff:
    """Everything that moved between two runs, each list sorted by service then rule."""

    worse: list[Change] = field(default_factory=list)
    better: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    appeared: list[Change] = field(default_factory=list)
    disappeared: list[Change] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """True when nothing moved."""
        return not (self.worse or self.better or self.changed or self.appeared or self.disappeared)


def diff_runs(old_results: Iterable[RuleResult], new_results: Iterable[RuleResult]) -> RunDiff:
    """What got worse or better between an older and a newer run (any number of services)."""
    old = {(r.service, r.rule_id): r for r in old_results}
    new = {(r.service, r.rule_id): r for r in new_results}
    diff = RunDiff()
    for key in sorted(old.keys() | new.keys()):
        service, rule_id = key
        before, after = old.get(key), new.get(key)
        if before is None and after is not None:
            diff.appeared.append(Change(rule_id, service, None, after.status, after.message))
        elif after is None and before is not None:
            diff.disappeared.append(Change(rule_id, service, before.status, None, before.message))
        elif before is not None and after is not None and before.status != after.status:
            change = Change(rule_id, service, before.status, after.status, after.message)
            step = RANK[after.status] - RANK[before.status]
            bucket = diff.worse if step > 0 else diff.better if step < 0 else diff.changed
            bucket.append(change)
    return diff
