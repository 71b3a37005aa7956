"""Audit runs and their results, attestations, and the admin's customisation of the catalogue.

Rule ids are validated against the catalogue (plus the admin's custom rules) wherever they are
written, so a typo is a clear error instead of a setting that silently does nothing.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from checks.audits.catalogue import RULES_BY_ID, SECTIONS
from checks.audits.results import Severity, Status
from checks.audits.rule import RULE_ID_RE
from console.reaper import watch

SEVERITY_CHOICES = [(s.value, s.value) for s in Severity]
STATUS_CHOICES = [(s.value, s.value.replace("_", " ")) for s in Status]


class AuditRun(models.Model):
    """One audit of one service or the whole fleet: the row the UI polls while it runs."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        REDEPLOY = "redeploy", "Redeploy"
        API = "api", "API"
        CLI = "cli", "CLI"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    # None = the whole fleet.
    service = models.ForeignKey(
        "fleet.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    scope_label = models.CharField(max_length=63, help_text="'fleet' or the service's name.")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, db_index=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    triggered_by_label = models.CharField(max_length=150, blank=True)
    status = models.CharField(
        max_length=10, choices=State.choices, default=State.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True, db_index=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="The worker running it (node:pid), for the reaper."
    )
    catalogue_version = models.CharField(max_length=20, blank=True)
    # FleetScore.summary(): overall, sections, counts and coverage; each service's card is its
    # AuditServiceScore row (older runs also kept every card here under "services").
    scores = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Audit #{self.pk} of {self.scope_label}"

    def get_absolute_url(self) -> str:
        return reverse("audit-run", args=[self.pk])

    @property
    def is_fleet(self) -> bool:
        return self.scope_label == "fleet"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.State.SUCCEEDED, self.State.FAILED)

    @property
    def overall(self) -> float | None:
        return (self.scores or {}).get("overall")

    @property
    def coverage(self) -> dict:
        return (self.scores or {}).get("coverage") or {}


class AuditResult(models.Model):
    """One rule evaluated for one service in one run."""

    # No index of its own: the (run, service_name) index below serves look-ups by run, and each
    # index costs time on the 200,000-row inserts of a large fleet's run.
    run = models.ForeignKey(
        AuditRun, on_delete=models.CASCADE, related_name="results", db_index=False
    )
    service = models.ForeignKey(
        "fleet.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    service_name = models.CharField(max_length=63)  # kept when the service is deleted
    rule_id = models.CharField(max_length=100)
    section = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    mode = models.CharField(max_length=10)
    status = models.CharField(max_length=20, choices=STATUS_CHOICES)
    # "evidence" or "attestation" for decided results, "" for open or not applicable ones.
    basis = models.CharField(max_length=12, blank=True)
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES)
    message = models.TextField()
    evidence = models.JSONField(default=list, blank=True)  # [{label, value, source, observed_at}]
    position = models.PositiveIntegerField(default=0)  # catalogue order within the service

    class Meta:
        ordering = ["run", "service_name", "position"]
        indexes = [
            models.Index(fields=["run", "service_name"]),
            # "every failure of this rule in this run" on the run page
            models.Index(fields=["run", "rule_id", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.service_name} {self.rule_id}: {self.status}"

    @property
    def source(self) -> str:
        """Where the facts behind this verdict were read (each source once)."""
        seen = dict.fromkeys(e.get("source", "") for e in self.evidence if e.get("source"))
        return "; ".join(seen) or "nothing was read"

    @property
    def observed_at(self) -> str | None:
        """When the oldest fact behind this verdict was read (ISO text, as stored)."""
        times = [e["observed_at"] for e in self.evidence if e.get("observed_at")]
        return min(times) if times else None


class AuditServiceScore(models.Model):
    """A service's scores in one run: the scorecard's cells and the per-service trend."""

    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="service_scores")
    service = models.ForeignKey(
        "fleet.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    service_name = models.CharField(max_length=63)
    overall = models.FloatField(null=True, blank=True)
    sections = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    # Coverage.as_dict(): how many applicable rules were decided from evidence, attested, open.
    coverage = models.JSONField(default=dict, blank=True)
    # What was gathered for the service, from where and when (Evidence.sources()).
    sources = models.JSONField(default=list, blank=True)
    finished_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        indexes = [models.Index(fields=["service", "-finished_at"])]

    def __str__(self) -> str:
        return f"{self.service_name} in run {self.run_id}: {self.overall}"

    def card(self) -> dict:
        """The service's score card as exports and the API show it."""
        return {
            "overall": self.overall,
            "sections": self.sections,
            "counts": self.counts,
            "coverage": self.coverage,
        }


def validate_rule_id(rule_id: str, *, manual_only: bool = False) -> None:
    """A clear ValidationError naming `rule` when the id is not in the catalogue or custom rules."""
    rule = RULES_BY_ID.get(rule_id)
    custom = None if rule else CustomRule.objects.filter(rule_id=rule_id).first()
    if rule is None and custom is None:
        raise ValidationError({"rule": f"Unknown audit rule id '{rule_id}'."})
    if manual_only and rule is not None and rule.mode != "manual" and not rule.attestable:
        raise ValidationError(
            {"rule": f"Rule '{rule_id}' is decided automatically; only manual rules are attested."}
        )


class Attestation(models.Model):
    """A person's statement that a manual rule holds, for one service or (service None) all."""

    service = models.ForeignKey(
        "fleet.Service",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="audit_attestations",
    )
    rule_id = models.CharField(max_length=100, db_index=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    by_label = models.CharField(max_length=150)
    note = models.TextField()
    at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        scope = self.service.name if self.service_id else "all services"
        return f"{self.rule_id} for {scope} by {self.by_label}"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def clean(self) -> None:
        validate_rule_id(self.rule_id, manual_only=True)
        if not (self.note or "").strip():
            raise ValidationError({"note": "A note is required: say what was checked and how."})


class RuleSetting(models.Model):
    """An admin's change to one rule: disabled, or a different severity."""

    rule_id = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    severity = models.CharField(
        max_length=10, choices=SEVERITY_CHOICES, blank=True, help_text="Blank = the default."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rule_id"]

    def __str__(self) -> str:
        return self.rule_id

    def clean(self) -> None:
        validate_rule_id(self.rule_id)


class AuditPolicy(models.Model):
    """Fleet-wide audit settings; one row (pk 1), created with the defaults when first read."""

    attestation_expiry_days = models.PositiveIntegerField(
        default=90, help_text="Attestations older than this must be renewed."
    )
    allowed_regions = models.JSONField(
        default=list,
        blank=True,
        help_text="Data-residency list; patterns like 'europe-*'. Empty = no restriction.",
    )
    oldest_protocol_version = models.CharField(
        max_length=10,
        blank=True,
        default="2025-03-26",
        help_text="Oldest MCP protocol version the fleet accepts (YYYY-MM-DD). Blank = any.",
    )
    tls_warning_days = models.PositiveIntegerField(
        default=30, help_text="Warn when a certificate expires within this many days."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "audit policy"

    def __str__(self) -> str:
        return "Audit policy"

    @classmethod
    def current(cls) -> AuditPolicy:
        policy, _ = cls.objects.get_or_create(pk=1)
        return policy

    def clean(self) -> None:
        errors = {}
        if not self.attestation_expiry_days or self.attestation_expiry_days < 1:
            errors["attestation_expiry_days"] = "Must be at least 1 day."
        if not isinstance(self.allowed_regions, list) or not all(
            isinstance(r, str) and r.strip() for r in self.allowed_regions
        ):
            errors["allowed_regions"] = "Must be a list of region names or patterns."
        version = self.oldest_protocol_version
        if version and not _is_iso_date(version):
            errors["oldest_protocol_version"] = (
                f"'{version}' is not a protocol version; use the YYYY-MM-DD form, e.g. 2025-06-18."
            )
        if not self.tls_warning_days or self.tls_warning_days < 1:
            errors["tls_warning_days"] = "Must be at least 1 day."
        if errors:
            raise ValidationError(errors)

    def expiry_for(self, at) -> object:
        return at + timedelta(days=self.attestation_expiry_days)


def _is_iso_date(text: str) -> bool:
    from datetime import date

    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


class CustomRule(models.Model):
    """A manual rule an admin added (a company policy the guide lacks); decided by attestation."""

    APPLIES_TO = [
        ("both", "All services"),
        ("mcp_server", "MCP servers"),
        ("agent_backend", "Agent backends"),
    ]

    rule_id = models.CharField(
        max_length=100,
        unique=True,
        help_text="Like 'custom.pen-test': lower case, a section, a dot and a name.",
    )
    section = models.CharField(max_length=40, default="compliance")
    title = models.CharField(max_length=200)
    rationale = models.TextField(help_text="Why it matters.")
    evidence = models.TextField(
        blank=True, default="An attestation by the person responsible for the service."
    )
    severity = models.CharField(max_length=10, choices=SEVERITY_CHOICES, default="medium")
    applies_to = models.CharField(max_length=16, choices=APPLIES_TO, default="both")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rule_id"]

    def __str__(self) -> str:
        return self.rule_id

    def clean(self) -> None:
        errors = {}
        if not RULE_ID_RE.match(self.rule_id or ""):
            errors["rule_id"] = (
                f"'{self.rule_id}' is not a rule id: use lower case words joined by a dot, "
                "e.g. 'custom.pen-test'."
            )
        elif self.rule_id in RULES_BY_ID:
            errors["rule_id"] = f"'{self.rule_id}' is already a catalogue rule."
        if not (self.title or "").strip():
            errors["title"] = "A title is required."
        if not (self.rationale or "").strip():
            errors["rationale"] = "Say why the rule matters."
        if not (self.section or "").strip():
            errors["section"] = "A section is required."
        if errors:
            raise ValidationError(errors)

    @property
    def section_title(self) -> str:
        return SECTIONS.get(self.section, self.section)


# A run whose worker died is failed by the console's reaper (console/reaper.py).
watch(AuditRun)
