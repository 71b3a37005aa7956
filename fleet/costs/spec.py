"""What a budget should be (`BudgetSpec`) and what a cloud says it is (`SyncedBudget`).

One spec serves Google and AWS; fields that only one cloud uses are ignored by the other.
The fingerprint lets the console notice a budget changed in the cloud since the last sync.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fleet.costs.errors import CostInputError
from fleet.costs.money import validate_amount, validate_currency
from fleet.costs.thresholds import ThresholdRule


@dataclass(frozen=True)
class BudgetSpec:
    """The console's budget: amount per calendar month, alert rules and a scope filter."""

    display_name: str
    amount: Decimal
    currency: str
    thresholds: tuple[ThresholdRule, ...] = ()
    projects: tuple[str, ...] = ()  # GCP project ids the budget covers ("" = whole account)
    labels: dict[str, str] = field(default_factory=dict)  # GCP label / AWS cost-allocation tag
    email_subscribers: tuple[str, ...] = ()  # AWS notification subscribers
    sns_topic_arn: str = ""  # AWS notification subscriber
    pubsub_topic: str = ""  # GCP: "projects/p/topics/t" for programmatic notifications
    monitoring_channels: tuple[str, ...] = ()  # GCP: Cloud Monitoring notification channels

    def __post_init__(self) -> None:
        if not self.display_name.strip():
            raise CostInputError("display_name", "must not be empty")
        if len(self.display_name) > 60:  # Google's limit, and a sane one for AWS names too
            raise CostInputError("display_name", "must be at most 60 characters")
        object.__setattr__(self, "amount", validate_amount(self.amount))
        validate_currency(self.currency)
        object.__setattr__(self, "thresholds", tuple(self.thresholds))
        keys = [rule.key for rule in self.thresholds]
        if len(keys) != len(set(keys)):
            raise CostInputError("thresholds", f"duplicate rules in {keys}")


@dataclass
class SyncedBudget:
    """A budget as read back from a cloud, normalised, plus what's needed to detect drift."""

    provider: str  # "gcp" | "aws"
    name: str  # GCP resource name "billingAccounts/X/budgets/Y"; AWS budget name
    display_name: str
    amount: Decimal
    currency: str
    thresholds: tuple[ThresholdRule, ...]
    fingerprint: str  # changes whenever the managed definition changes, whoever changed it
    etag: str = ""  # GCP only
    projects: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)  # the cloud's own JSON, for display

    def changed_since(self, fingerprint: str) -> bool:
        """True when the cloud's budget no longer matches the fingerprint stored at last sync."""
        return bool(fingerprint) and fingerprint != self.fingerprint


def fingerprint(definition: dict[str, Any]) -> str:
    """A stable hash of a budget definition (key order and whitespace do not matter)."""
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
