"""The `Rule` type: one readiness check, automated (a function) or manual (an attestation)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from checks.audits.evidence import Evidence
from checks.audits.results import AppliesTo, Finding, Kind, Mode, Severity

RULE_ID_RE = re.compile(r"^[a-z0-9]+(?:\.[a-z0-9][a-z0-9-]*)+$")

Check = Callable[[Evidence], Finding]


@dataclass(frozen=True)
class Rule:
    """A catalogue entry. Ids are stable across catalogue versions; titles may be reworded."""

    id: str
    section: str
    title: str
    rationale: str  # why it matters
    evidence: str  # what counts as evidence
    severity: Severity
    applies_to: AppliesTo = "both"
    mode: Mode = "automated"
    check: Check | None = None
    checklist_item: str = ""  # the guide's checklist line this rule verifies, "" when beyond it
    fix: str = ""  # what to change so the rule passes, shown next to every verdict
    # Keys of facts from evidence readers the check uses (checks.audits.evidence.OBSERVED);
    # the gatherer runs only the readers some rule in play reads.
    reads: tuple[str, ...] = ()
    # An automated rule a person may also attest: the attestation decides only when the check
    # finds no evidence (a platform whose API cannot show the fact), never against evidence.
    attestable: bool = False

    def __post_init__(self) -> None:
        if not RULE_ID_RE.match(self.id):
            raise ValueError(f"rule id {self.id!r} must look like 'section.some-name'")
        if self.mode == "automated" and self.check is None:
            raise ValueError(f"automated rule {self.id} needs a check function")
        if self.mode == "manual" and self.check is not None:
            raise ValueError(f"manual rule {self.id} must not have a check function")
        if self.applies_to not in ("mcp_server", "agent_backend", "both"):
            raise ValueError(f"rule {self.id}: unknown applies_to {self.applies_to!r}")

    def applies(self, kind: Kind) -> bool:
        """Whether this rule concerns a service of this kind."""
        return self.applies_to == "both" or self.applies_to == kind
