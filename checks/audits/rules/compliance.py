"""Compliance rules: data residency, audit logs, encryption at rest and personal data."""

from __future__ import annotations

from fnmatch import fnmatchcase

from checks.audits.evidence import AUDIT_LOGS, ENCRYPTION, STATEFUL, Evidence
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    config,
    failed,
    missing_snapshot,
    needs_attestation,
    no_evidence,
    not_applicable,
    observed_flag,
    passed,
    snap,
)

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
    """The platform's audit logs for the service are enabled."""
    return observed_flag(
        ev,
        AUDIT_LOGS,
        "audit-log configuration",
        "The platform records administrative and data access to this service.",
        "The platform's audit logs are off: who changed or accessed what cannot be shown later.",
    )


def check_encryption_at_rest(ev: Evidence) -> Finding:
    """Stored data is encrypted with a customer-managed key or the provider's default one."""
    key = ev.observed(ENCRYPTION)
    if key is not None:
        item = key.item("encryption key")
        if key.value.get("encrypted") is False:  # a store the platform shows as unencrypted
            stores = ", ".join(key.value.get("unencrypted") or []) or "a store"
            return failed(f"{stores} is not encrypted at rest.", item)
        name = key.value.get("key")
        if name:
            return passed(f"Data is encrypted at rest with the customer-managed key {name}.", item)
        return passed(
            f"Data is encrypted at rest with {key.value.get('managed_by') or 'provider'}-managed "
            "keys (the platform's default).",
            item,
        )
    kept = ev.observed(STATEFUL)
    if kept is not None and not kept.value.get("stateful"):
        return not_applicable(
            "The service keeps no data of its own, so there is nothing to encrypt at rest.",
            kept.item("data the service keeps"),
        )
    reason = ev.unobserved_reason(ENCRYPTION)
    if kept is not None:
        return needs_attestation(
            f"The service keeps data, and {reason}; attest naming the stores and their keys.",
            kept.item("data the service keeps"),
        )
    return no_evidence(f"No evidence: {reason}.")


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
        fix=(
            "Redeploy the service in an allowed region, or ask an admin to add its region to "
            "the allowed list if that is acceptable."
        ),
        check=check_residency,
        checklist_item="Data residency requirements met",
    ),
    Rule(
        id="compliance.audit-logging",
        section=SECTION,
        title="Audit logging is enabled",
        rationale="Investigations and audits need a record of administrative and data access.",
        evidence=(
            "The platform's audit-log configuration for the service's project or account (Cloud "
            "Audit Logs, CloudTrail, the Azure activity log, a Kubernetes audit policy)."
        ),
        reads=(AUDIT_LOGS,),
        severity=Severity.MEDIUM,
        fix=(
            "Turn on the platform's audit logs for the service's project or account (Cloud "
            "Audit Logs data access, CloudTrail, the Azure activity log, a Kubernetes audit "
            "policy)."
        ),
        check=check_audit_logging,
        checklist_item="Audit logging enabled",
    ),
    Rule(
        id="compliance.encryption-at-rest",
        section=SECTION,
        title="Stored data is encrypted at rest",
        rationale="Disks, buckets and databases behind tools leak in full if a copy escapes.",
        evidence=(
            "The encryption key the platform reports for the service's data; whether the "
            "service keeps data at all (PersistentVolumeClaims, datastore settings); an "
            "attestation naming the stores and keys where no API shows them."
        ),
        severity=Severity.HIGH,
        fix=(
            "Confirm every store the service writes uses provider- or customer-managed "
            "encryption keys, then attest naming them. An unencrypted store (an EFS file system "
            "created without encryption) cannot be changed in place: create an encrypted one, "
            "copy the data and point the service at it."
        ),
        check=check_encryption_at_rest,
        reads=(ENCRYPTION, STATEFUL),
        attestable=True,
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
        fix=(
            "Run the privacy review for the data the service's tools handle, then attest with "
            "its reference."
        ),
        mode="manual",
        checklist_item="PII handling compliant with regulations",
    ),
]
