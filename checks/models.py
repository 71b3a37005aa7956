"""Health-check records: per-service settings, raw results, state changes, incidents, tool drift.

`Service.status` and friends stay the denormalised "now" for the dashboard; these tables are the
history behind it. Raw `ProbeResult` rows are rolled into `HourlyRollup` after a retention window.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from console import egress, limits, secret_refs
from fleet import validation
from fleet.models import HealthStatus, Service
from fleet.validation import header_name_problem

MIN_INTERVAL_SECONDS = limits.BOUNDS["interval_seconds"].low
NUMERIC_FIELDS = (
    "interval_seconds",
    "timeout_seconds",
    "failure_threshold",
    "recovery_threshold",
    "slow_ms",
    "expected_status",
)


class CheckConfig(models.Model):
    """How one service is checked and where its schedule and consecutive counters stand."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="check_config")
    enabled = models.BooleanField(default=True)
    interval_seconds = models.PositiveIntegerField(default=60)
    timeout_seconds = models.FloatField(default=10.0, help_text="Per phase.")
    failure_threshold = models.PositiveSmallIntegerField(
        default=3, help_text="Consecutive failed checks before the service is down."
    )
    recovery_threshold = models.PositiveSmallIntegerField(
        default=2, help_text="Consecutive good checks before a down service is up again."
    )
    slow_ms = models.PositiveIntegerField(
        default=2000, help_text="A check slower than this marks the service degraded."
    )
    scales_to_zero = models.BooleanField(
        default=False,
        help_text="Minimum instances is 0: a slow first answer after idle is a cold start.",
    )
    expected_status = models.PositiveSmallIntegerField(default=200)
    expected_json_field = models.CharField(
        max_length=200, blank=True, help_text='Health JSON: "status" must exist, "status=ok" equal.'
    )
    tool_call_name = models.CharField(max_length=128, blank=True)
    tool_call_arguments = models.JSONField(default=dict, blank=True)
    tool_call_expect = models.CharField(max_length=500, blank=True)
    auth_header = models.CharField(max_length=100, blank=True)
    # A reference, never the secret: "env:NAME" (an environment variable of the worker) or
    # "file:/path" (a secret file mounted into the worker), inside the deployer's allow-list
    # (console/secret_refs.py).
    auth_secret_ref = models.CharField(max_length=200, blank=True)
    # OAuth 2.0 client credentials (RFC 6749 §4.4), for servers that follow the MCP authorization
    # spec: the worker asks the token endpoint for an access token (cached until it expires) and
    # sends it as a Bearer token to the service's origin only. The client secret is a reference.
    oauth_token_url = models.CharField(max_length=500, blank=True)
    oauth_client_id = models.CharField(max_length=200, blank=True)
    oauth_client_secret_ref = models.CharField(max_length=200, blank=True)
    oauth_scope = models.CharField(max_length=500, blank=True)
    # How the probe reaches the service (README: "Proxies, private CAs and mTLS"): these win over
    # the account's settings, which win over the worker's HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
    proxy_url = models.CharField(
        max_length=300, blank=True, help_text=validation.PROXY_HELP + " (no credentials)."
    )
    proxy_auth_ref = models.CharField(max_length=200, blank=True)  # -> "user:password"
    tls_ca_bundle_ref = models.CharField(max_length=200, blank=True)  # file: PEM CA bundle
    tls_client_cert_ref = models.CharField(max_length=200, blank=True)  # file: PEM certificate
    tls_client_key_ref = models.CharField(max_length=200, blank=True)  # file: PEM key
    tls_skip_verify = models.BooleanField(
        default=False, help_text="Non-production environments only; audited."
    )
    # Which client probes the service, decided by the worker (not a setting): "" or "lean" for
    # the lean HTTP/1.1 client, "httpx" when the service needs the fallback, and why.
    probe_client = models.CharField(max_length=10, blank=True)
    probe_client_reason = models.CharField(max_length=300, blank=True)
    probe_client_url = models.CharField(max_length=500, blank=True)  # the URL it was decided for
    probe_client_since = models.DateTimeField(null=True, blank=True)

    next_check_at = models.DateTimeField(default=timezone.now, db_index=True)
    claim_seq = models.PositiveIntegerField(
        default=0, help_text="Bumped by every sweep claim; a result is written once per claim."
    )
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    consecutive_slow = models.PositiveIntegerField(default=0)
    consecutive_fast = models.PositiveIntegerField(default=0)
    last_was_cold_start = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"checks for {self.service_id}"

    def clean(self) -> None:
        errors = limits.number_problems(
            {f: getattr(self, f) for f in NUMERIC_FIELDS}, NUMERIC_FIELDS
        )
        if not isinstance(self.tool_call_arguments, dict):
            errors["tool_call_arguments"] = "must be a JSON object."
        if bool(self.auth_header) != bool(self.auth_secret_ref):
            field = "auth_secret_ref" if self.auth_header else "auth_header"
            errors[field] = "set both the auth header name and its secret reference, or neither."
        if self.auth_header and (problem := header_name_problem(self.auth_header)):
            errors["auth_header"] = problem
        if self.auth_secret_ref and (problem := secret_refs.ref_problem(self.auth_secret_ref)):
            errors["auth_secret_ref"] = problem
        errors.update(self._oauth_problems())
        errors.update(validation.network_problems(self.__dict__))
        if self.tls_skip_verify and (
            problem := validation.skip_verify_problem(self.service.environment)
        ):
            errors["tls_skip_verify"] = problem
        if errors:
            raise ValidationError(errors)

    def _oauth_problems(self) -> dict[str, str]:
        fields = ("oauth_token_url", "oauth_client_id", "oauth_client_secret_ref")
        given = [f for f in fields if getattr(self, f)]
        if not given:
            return (
                {"oauth_scope": "needs the OAuth token URL, client id and secret."}
                if (self.oauth_scope)
                else {}
            )
        if len(given) < len(fields):
            missing = next(f for f in fields if not getattr(self, f))
            return {missing: "set the OAuth token URL, client id and secret reference together."}
        if self.auth_header:
            return {
                "oauth_token_url": "use either an auth header or OAuth client credentials, not both."
            }
        if not self.oauth_token_url.lower().startswith(("https://", "http://")):
            return {"oauth_token_url": "must be an http:// or https:// URL."}
        if problem := egress.url_problem(self.oauth_token_url):
            return {"oauth_token_url": problem}
        if problem := secret_refs.ref_problem(self.oauth_client_secret_ref):
            return {"oauth_client_secret_ref": problem}
        if any(ord(c) < 33 or ord(c) == 127 for c in self.oauth_client_id):
            return {"oauth_client_id": "must not contain spaces or control characters."}
        return {}


class ProbeResult(models.Model):
    """One check of one service, as it happened."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="probe_results")
    checked_at = models.DateTimeField(default=timezone.now)
    slot = models.PositiveIntegerField(
        null=True, blank=True, help_text="The sweep claim this answers (null: check now / CLI)."
    )
    ok = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    phases = models.JSONField(default=dict, blank=True)
    phase = models.CharField(max_length=40, blank=True, help_text="The phase that failed.")
    transport = models.CharField(max_length=20, blank=True)
    protocol_version = models.CharField(max_length=20, blank=True)
    server_name = models.CharField(max_length=200, blank=True)
    server_version = models.CharField(max_length=100, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, help_text="For everyone: never bytes from the target.")
    body_excerpt = models.TextField(
        blank=True, help_text="What the target said, credentials redacted: operators only."
    )
    cold_start = models.BooleanField(default=False)
    slow = models.BooleanField(default=False)
    tls_days = models.FloatField(null=True, blank=True)
    tls_hostname_ok = models.BooleanField(null=True, blank=True)
    tool_call_ok = models.BooleanField(null=True, blank=True)
    tool_call_detail = models.TextField(blank=True)
    unauthenticated_tools_list = models.BooleanField(null=True, blank=True)
    capabilities = models.JSONField(default=dict, blank=True)
    instructions = models.TextField(blank=True)
    tool_count = models.PositiveIntegerField(null=True, blank=True)
    client = models.CharField(
        max_length=8,
        blank=True,
        help_text='What probed: "lean" (HTTP/1.1) or "httpx" (the fallback); blank: nothing did.',
    )

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(fields=["service", "-checked_at"]),
            models.Index(fields=["checked_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "slot"],
                condition=models.Q(slot__isnull=False),
                name="one_result_per_claim",
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {'ok' if self.ok else 'fail'} @ {self.checked_at:%H:%M:%S}"


class Incident(models.Model):
    """A stretch of time a service was down or degraded, from the transition in to the one out."""

    class Kind(models.TextChoices):
        DOWN = "down", "Down"
        DEGRADED = "degraded", "Degraded"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="incidents")
    status = models.CharField(max_length=10, choices=Kind.choices)
    opened_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    first_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["service", "closed_at"])]

    def __str__(self) -> str:
        return f"{self.service} {self.status} since {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def duration(self) -> timedelta:
        return (self.closed_at or timezone.now()) - self.opened_at


class StateChange(models.Model):
    """One health transition of one service (each is its own row)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="state_changes")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    from_status = models.CharField(max_length=10, choices=HealthStatus.choices)
    to_status = models.CharField(max_length=10, choices=HealthStatus.choices)
    reason = models.TextField(blank=True)
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.service_id}: {self.from_status} → {self.to_status}"


class ToolSnapshot(models.Model):
    """A distinct tool list a service has served; one of them is the accepted baseline."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="tool_snapshots")
    fingerprint = models.CharField(max_length=64)
    tools = models.JSONField(default=list)
    server_version = models.CharField(max_length=100, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now)
    is_baseline = models.BooleanField(default=False)

    class Meta:
        ordering = ["-seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "fingerprint", "server_version"], name="one_snapshot_per_set"
            ),
            models.UniqueConstraint(
                fields=["service"], condition=models.Q(is_baseline=True), name="one_baseline"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} tools {self.fingerprint[:12]}"

    @property
    def tool_names(self) -> list[str]:
        return [t["name"] for t in self.tools]


class DriftEvent(models.Model):
    """The tool list moved away from the accepted baseline."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="drift_events")
    detected_at = models.DateTimeField(default=timezone.now, db_index=True)
    baseline = models.ForeignKey(
        ToolSnapshot, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    snapshot = models.ForeignKey(ToolSnapshot, on_delete=models.CASCADE, related_name="drifts")
    diff = models.JSONField(default=dict)
    readable = models.TextField()
    rug_pull = models.BooleanField(
        default=False, help_text="A description changed while the server version did not."
    )
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    accepted_by_label = models.CharField(max_length=150, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]

    def __str__(self) -> str:
        return f"{self.service_id} drift {self.detected_at:%Y-%m-%d %H:%M}"


class HourlyRollup(models.Model):
    """Raw results of one service in one hour, folded for retention (uptime and latency kept)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="rollups")
    hour = models.DateTimeField()
    count = models.PositiveIntegerField()
    failures = models.PositiveIntegerField()
    latency_count = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.FloatField(default=0.0)
    latency_max_ms = models.FloatField(null=True, blank=True)
    # {"bucket upper bound in ms": count}, the bounds in checks.health.HISTOGRAM_BOUNDS_MS
    histogram = models.JSONField(default=dict)
    p50_ms = models.FloatField(null=True, blank=True)
    p95_ms = models.FloatField(null=True, blank=True)
    p99_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-hour"]
        constraints = [
            models.UniqueConstraint(fields=["service", "hour"], name="one_rollup_per_hour")
        ]

    def __str__(self) -> str:
        return f"{self.service_id} {self.hour:%Y-%m-%d %H}:00 {self.count} checks"
