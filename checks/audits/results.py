"""Vocabulary shared by rules, the engine and the exporters: statuses, severities and findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Literal

Kind = Literal["mcp_server", "agent_backend"]
AppliesTo = Literal["mcp_server", "agent_backend", "both"]
Mode = Literal["automated", "manual"]


class Status(StrEnum):
    """What a rule concluded about one service."""

    PASS = "pass"
    FAIL = "fail"
    WARNING = "warning"
    NOT_APPLICABLE = "not_applicable"
    NEEDS_ATTESTATION = "needs_attestation"
    NO_EVIDENCE = "no_evidence"
    ERROR = "error"


class Severity(StrEnum):
    """How much a failure matters; also the rule's weight in the score."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class EvidenceItem:
    """One fact shown next to a result: what was read, its value, from where and when."""

    label: str
    value: str
    source: str
    observed_at: datetime | None = None

    def as_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            "label": self.label,
            "value": self.value,
            "source": self.source,
            "observed_at": self.observed_at.isoformat() if self.observed_at else None,
        }


@dataclass
class Finding:
    """What an automated rule's check returns: a status, a sentence, and the facts it used."""

    status: Status
    message: str
    evidence: list[EvidenceItem] = field(default_factory=list)


@dataclass
class RuleResult:
    """One rule evaluated for one service, after overrides were applied."""

    rule_id: str
    service: str
    section: str
    title: str
    severity: Severity
    mode: Mode
    status: Status
    message: str
    evidence: list[EvidenceItem] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Plain JSON-ready form (the per-rule entry of the JSON export)."""
        return {
            "rule_id": self.rule_id,
            "section": self.section,
            "title": self.title,
            "severity": str(self.severity),
            "mode": self.mode,
            "status": str(self.status),
            "message": self.message,
            "evidence": [item.as_dict() for item in self.evidence],
        }
