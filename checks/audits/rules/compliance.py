"""Compliance rules: data residency, audit logs, encryption at rest and personal data."""

from __future__ import annotations

from fnmatch import fnmatchcase

from checks.audits.evidence import Evidence
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    config,
    failed,
    missing_snapshot,
    no_evidence,
    not_applicable,
    passed,
    snap,
)
from checks.audits.rules.observability import config_flag

SECTION = "compliance"


def _norm(region: str) -> str:
    # Azure reports "West Europe" or "westeurope" depending on the API; compare one spelling.
    return region.strip().lower().replace(" ", "")


def check_residency(ev: Evidence) -> Finding:
    """The service's region matches one of the allowed data-residency patterns."""
    allowed = ev.config.allowed_regions
    rule_item = config(ev, "allowed regions", allowed)
    if not allowed:
        return not_applicable("No data-residency restriction is configured.", rule_item)
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    region = snapshot.region
    items = (snap(ev, "region", region or "not reported"), rule_item)
    if not region:
        return no_evidence("The platform did not report the service's region.", *items)
    if any(fnmatchcase(_norm(region), _norm(pattern)) for pattern in allowed):
        return passed(f"Runs in {region}, an allowed region.", *items)
    return failed(f"Runs in {region}, outside the allowed regions.", *items)


def check_audit_logging(ev: Evidence) -> Finding:
    """Audit logs for the service are enabled and retained."""
    return config_flag(
        ev,
        ev.config.audit_logging,
        "audit logging",
        "Audit logs are retained for this service.",
        "Audit logging is off: who changed or accessed what cannot be shown later.",
    )


RULES = [
    Rule(
        id="compliance.data-residency",
        section=SECTION,
        title="The service runs in an allowed region",
        rationale=(
            "Data processed by tools is stored and logged where the service runs; contracts and "
            "regulations may forbid some regions."
        ),
        evidence="The region from the cloud description against the allowed-region list.",
        severity=Severity.HIGH,
        check=check_residency,
        checklist_item="Data residency requirements met",
    ),
    Rule(
        id="compliance.audit-logging",
        section=SECTION,
        title="Audit logging is enabled",
        rationale="Investigations and audits need a record of administrative and data access.",
        evidence="The console configuration's audit-logging setting for this service.",
        severity=Severity.MEDIUM,
        check=check_audit_logging,
        checklist_item="Audit logging enabled",
    ),
    Rule(
        id="compliance.encryption-at-rest",
        section=SECTION,
        title="Stored data is encrypted at rest",
        rationale="Disks, buckets and databases behind tools leak in full if a copy escapes.",
        evidence="An attestation naming the stores and their (provider- or customer-managed) keys.",
        severity=Severity.HIGH,
        mode="manual",
        checklist_item="Sensitive data encrypted at rest",
    ),
    Rule(
        id="compliance.pii-handling",
        section=SECTION,
        title="Personal data is handled as regulations require",
        rationale=(
            "Tools pass user messages and documents through models and logs; retention, consent "
            "and deletion duties follow the data."
        ),
        evidence="An attestation referencing the privacy review for this service.",
        severity=Severity.HIGH,
        mode="manual",
        checklist_item="PII handling compliant with regulations",
    ),
]
