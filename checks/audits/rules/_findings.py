"""Small constructors for findings and evidence lines, so every rule reads the same way."""

from __future__ import annotations

from checks.audits.evidence import Evidence, platform_words
from checks.audits.results import EvidenceItem, Finding, Status


def passed(message: str, *evidence: EvidenceItem) -> Finding:
    """The rule holds."""
    return Finding(Status.PASS, message, list(evidence))


def failed(message: str, *evidence: EvidenceItem) -> Finding:
    """The rule is broken."""
    return Finding(Status.FAIL, message, list(evidence))


def warned(message: str, *evidence: EvidenceItem) -> Finding:
    """The rule holds only partly, or a risk needs a person's look."""
    return Finding(Status.WARNING, message, list(evidence))


def not_applicable(message: str, *evidence: EvidenceItem) -> Finding:
    """The rule does not concern this service as configured."""
    return Finding(Status.NOT_APPLICABLE, message, list(evidence))


def no_evidence(message: str, *evidence: EvidenceItem) -> Finding:
    """The facts needed to decide were not gathered; no guess is made."""
    return Finding(Status.NO_EVIDENCE, message, list(evidence))


def snap(ev: Evidence, label: str, value: object) -> EvidenceItem:
    """An evidence line read from the cloud description (callers check the snapshot exists)."""
    assert ev.snapshot_from is not None
    return ev.snapshot_from.item(label, value)


def probe(ev: Evidence, label: str, value: object) -> EvidenceItem:
    """An evidence line read from the latest probe (callers check the probe exists)."""
    assert ev.probe_from is not None
    return ev.probe_from.item(label, value)


def registry(ev: Evidence, label: str, value: object) -> EvidenceItem:
    """An evidence line read from the service's registration."""
    return ev.service.origin.item(label, value)


def config(ev: Evidence, label: str, value: object) -> EvidenceItem:
    """An evidence line read from the console configuration."""
    return ev.config.origin.item(label, value)


def fleet(ev: Evidence, label: str, value: object) -> EvidenceItem:
    """An evidence line read from the fleet context."""
    return ev.fleet.origin.item(label, value)


def missing_snapshot(ev: Evidence) -> Finding:
    """The standard answer when a rule needs the cloud description and there is none."""
    if ev.snapshot_note:
        reason = f": {ev.snapshot_note}."
    else:
        reason = " (not linked to a cloud account, or the read failed)."
    return no_evidence(
        f"No cloud description was read for this service{reason}",
        registry(ev, "platform", platform_words(ev.service.provider)),
    )


def observed_flag(ev: Evidence, key: str, label: str, yes: str, no: str) -> Finding:
    """Decide a rule from one yes/no fact an evidence reader recorded (see evidence.OBSERVED).

    With nothing read the answer is "no evidence" with the reason; the console's own settings
    say nothing about the service and are never used in its place.
    """
    observation = ev.observed(key)
    if observation is None:
        return no_evidence(
            f"No evidence: {ev.unobserved_reason(key)}. The console's own settings say nothing "
            "about how this service behaves, so they are not used.",
            registry(ev, "platform", platform_words(ev.service.provider)),
        )
    item = observation.item(label)
    if observation.value is True:
        return passed(yes, item)
    if observation.value is False:
        return failed(no, item)
    return no_evidence(f"The {label} read could not be decided: {observation.summary}.", item)


def unobserved(ev: Evidence, key: str) -> Finding:
    """The standard answer when an evidence reader read nothing for `key`: why, no guess."""
    return no_evidence(
        f"No evidence: {ev.unobserved_reason(key)}.",
        registry(ev, "platform", platform_words(ev.service.provider)),
    )


def needs_attestation(message: str, *evidence: EvidenceItem) -> Finding:
    """The platform showed what it can; only a person can state the rest."""
    return Finding(Status.NEEDS_ATTESTATION, message, list(evidence))


def missing_probe(ev: Evidence) -> Finding:
    """The standard answer when a rule needs a probe result and there is none."""
    return no_evidence("The service has not been probed yet.", registry(ev, "url", ev.service.url))
