"""Vocabulary shared by rules, the engine and the exporters: statuses, severities and findings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Literal

Kind = Literal["mcp_server", "agent_backend"]
AppliesTo = Literal["mcp_server", "agent_backend", "both"]
Mode = Literal["automated", "manual"]
# How a decided result was decided: from evidence read about the service, or by a person's
# attestation. "" for undecided results (not applicable, needs attestation, no evidence, error).
Basis = Literal["evidence", "attestation", ""]


class Status(StrEnum):
    """What a rule concluded about one service."""

    PASS = "pass"
    FAIL = "fail"
    WARNING = "warning"
    NOT_APPLICABLE = "not_applicable"
    NEEDS_ATTESTATION = "needs_attestation"
    NO_EVIDENCE = "no_evidence"
    ERROR = "error"


# Results that decide a rule one way or the other; everything else is open or not applicable.
DECIDED = frozenset({Status.PASS, Status.FAIL, Status.WARNING})
# What a status reads as on a page or in a report.
STATUS_WORDS: dict[str, str] = {
    Status.PASS: "pass",
    Status.FAIL: "fail",
    Status.WARNING: "warning",
    Status.NOT_APPLICABLE: "not applicable",
    Status.NEEDS_ATTESTATION: "needs attestation",
    Status.NO_EVIDENCE: "no evidence",
    Status.ERROR: "error",
}


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
            "observed_at": _iso(self.observed_at) if self.observed_at else None,
        }


def evidence_json(items: Iterable[EvidenceItem]) -> str:
    """`json.dumps([item.as_dict() for item in items])`, byte for byte, without the dicts.

    A fleet run stores one such list per result (215,000 at 5,000 services); building a dict
    per line and encoding it through the generic encoder was most of the write's CPU.
    """
    return "[" + ", ".join(map(_item_json, items)) + "]"


def _item_json(item: EvidenceItem) -> str:
    when = _iso(item.observed_at) if item.observed_at else None
    return (
        f'{{"label": {_json(item.label)}, "value": {_json(item.value)}, '
        f'"source": {_json(item.source)}, "observed_at": {_json(when)}}}'
    )


def _json(value: object) -> str:
    if type(value) is str:
        return encode_basestring_ascii(value)  # what json.dumps does with a str
    return json.dumps(value)


@lru_cache(maxsize=4096)
def _iso(moment: datetime) -> str:
    # A run's evidence shares a few read times across thousands of items.
    return moment.isoformat()


@dataclass
class Finding:
    """What an automated rule's check returns: a status, a sentence, and the facts it used."""

    status: Status
    message: str
    evidence: list[EvidenceItem] = field(default_factory=list)
    # Set only when a rule decides from an attestation although it is automated (a fallback
    # where no API can show the fact); the engine fills the usual basis otherwise.
    basis: Basis = ""


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
    basis: Basis = ""  # "evidence" or "attestation" for decided results, "" otherwise
    fix: str = ""  # how to make the rule pass (from the catalogue)

    @property
    def source(self) -> str:
        """Where the facts behind this verdict were read, each source once, in order."""
        seen = dict.fromkeys(item.source for item in self.evidence if item.source)
        return "; ".join(seen) or "nothing was read"

    @property
    def observed_at(self) -> datetime | None:
        """When the oldest fact behind this verdict was read: the verdict holds as of then."""
        times = [item.observed_at for item in self.evidence if item.observed_at is not None]
        return min(times) if times else None

    def as_dict(self) -> dict:
        """Plain JSON-ready form (the per-rule entry of the JSON export)."""
        observed = self.observed_at
        return {
            "rule_id": self.rule_id,
            "section": self.section,
            "title": self.title,
            "severity": str(self.severity),
            "mode": self.mode,
            "status": str(self.status),
            "decided_by": self.basis or None,
            "message": self.message,
            "source": self.source,
            "observed_at": observed.isoformat() if observed else None,
            "fix": self.fix,
            "evidence": [item.as_dict() for item in self.evidence],
        }
