"""What the console knows about each service's deployment: snapshots, scaling, redeploys.

Imported at the bottom of `fleet.models`, so these are ordinary models of the `fleet` app.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse

from console.reaper import watch

SCALING_FIELDS = (
    "min_instances",
    "max_instances",
    "concurrency",
    "cpu",
    "memory",
    "cpu_request",  # Kubernetes only (see the adapter's scaling_fields)
    "memory_request",
)


class CloudSnapshot(models.Model):
    """The latest normalised description of a service as its cloud reported it.

    Keeps where it was read from (account, provider, endpoint, resource) and when, so an audit or
    a person can say "this is what the cloud said, from there, at that time".
    """

    service = models.OneToOneField(
        "fleet.Service", on_delete=models.CASCADE, related_name="cloud_snapshot"
    )
    provider = models.CharField(max_length=12)
    account_name = models.CharField(max_length=63)
    endpoint = models.CharField(max_length=200, blank=True)
    resource = models.CharField(max_length=300)
    data = models.JSONField(
        help_text="The ServiceSnapshot as JSON (without the raw platform JSON)."
    )
    raw = models.JSONField(default=dict, blank=True, help_text="The platform's own JSON.")
    observed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.resource} @ {self.observed_at:%Y-%m-%d %H:%M:%S}"

    @property
    def env(self) -> list[dict]:
        return self.data.get("env") or []


class ServiceScaling(models.Model):
    """Scaling as observed in the cloud (synced) and as an operator wants it (desired).

    A desired value of None means "no opinion": it never counts as drift.
    """

    service = models.OneToOneField(
        "fleet.Service", on_delete=models.CASCADE, related_name="scaling"
    )
    observed_min_instances = models.IntegerField(null=True, blank=True)
    observed_max_instances = models.IntegerField(null=True, blank=True)
    observed_concurrency = models.IntegerField(null=True, blank=True)
    observed_cpu = models.CharField(max_length=20, blank=True)
    observed_memory = models.CharField(max_length=20, blank=True)
    observed_cpu_request = models.CharField(max_length=20, blank=True)
    observed_memory_request = models.CharField(max_length=20, blank=True)
    observed_at = models.DateTimeField(null=True, blank=True)
    desired_min_instances = models.IntegerField(null=True, blank=True)
    desired_max_instances = models.IntegerField(null=True, blank=True)
    desired_concurrency = models.IntegerField(null=True, blank=True)
    desired_cpu = models.CharField(max_length=20, blank=True)
    desired_memory = models.CharField(max_length=20, blank=True)
    desired_cpu_request = models.CharField(max_length=20, blank=True)
    desired_memory_request = models.CharField(max_length=20, blank=True)
    desired_set_at = models.DateTimeField(null=True, blank=True)
    desired_set_by = models.CharField(max_length=150, blank=True)
    sync_error = models.TextField(blank=True, help_text="Why the last sync failed, if it did.")

    def __str__(self) -> str:
        return f"scaling of {self.service_id}"

    def observed(self) -> dict:
        return {f: _none_if_blank(getattr(self, f"observed_{f}")) for f in SCALING_FIELDS}

    def desired(self) -> dict:
        return {f: _none_if_blank(getattr(self, f"desired_{f}")) for f in SCALING_FIELDS}

    def drift(self) -> dict[str, tuple]:
        """{field: (observed, desired)} for each desired value the cloud does not have yet."""
        if self.observed_at is None:
            return {}
        observed, desired = self.observed(), self.desired()
        return {
            f: (observed[f], desired[f])
            for f in SCALING_FIELDS
            if desired[f] is not None and str(desired[f]) != str(observed[f])
        }

    def rows(self) -> list[tuple[str, object, object, bool]]:
        """(field, observed, desired, drifting) for display, the fields its platform has."""
        from fleet.operations.clouds.registry import scaling_fields_for

        drift = self.drift()
        observed, desired = self.observed(), self.desired()
        fields = scaling_fields_for(self.service.provider)
        return [(f, observed[f], desired[f], f in drift) for f in fields]


def _none_if_blank(value: object) -> object:
    return None if value == "" else value


class ScalingChange(models.Model):
    """One entry of a service's scaling history: who changed what, when, from and to."""

    class Kind(models.TextChoices):
        DESIRED = "desired", "Desired settings changed"
        APPLIED = "applied", "Applied to the cloud"
        OBSERVED = "observed", "Observed change in the cloud"

    service = models.ForeignKey(
        "fleet.Service", on_delete=models.CASCADE, related_name="scaling_changes"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} by {self.actor_label}"

    def changed(self) -> list[tuple[str, object, object]]:
        return [
            (f, self.before.get(f), self.after.get(f))
            for f in SCALING_FIELDS
            if self.before.get(f) != self.after.get(f)
        ]


class RedeployStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Unknown — check the cloud console"


IN_FLIGHT = (RedeployStatus.QUEUED, RedeployStatus.RUNNING)


class RolloutAction(models.TextChoices):
    """What a rollout row does: the same row, lock and page serve every kind."""

    RESTART = "restart", "Redeploy (same image)"
    RELEASE = "release", "Release (new image)"
    CANARY = "canary", "Canary release"
    ROLLBACK = "rollback", "Rollback"


class RedeployBatch(models.Model):
    """A rolling redeploy of several services, at most `concurrency` at a time."""

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150)
    reason = models.CharField(max_length=500, blank=True)
    concurrency = models.PositiveSmallIntegerField(default=1)
    action = models.CharField(
        max_length=10, choices=RolloutAction.choices, default=RolloutAction.RESTART
    )
    status = models.CharField(
        max_length=10, choices=RedeployStatus.choices, default=RedeployStatus.QUEUED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="The worker running it (node:pid), for the reaper."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"batch #{self.pk}"


class Redeploy(models.Model):
    """One rollout of one service through its cloud's API: a background run the UI polls.

    `action` says which: a restart of the same image (redeploy), a release of a new image, a
    canary release (a share of traffic, watched, then promoted or rolled back) or a rollback to a
    recorded revision. One is in flight per service, whatever its action.
    """

    service = models.ForeignKey("fleet.Service", on_delete=models.CASCADE, related_name="redeploys")
    batch = models.ForeignKey(
        RedeployBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="redeploys"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150)
    source = models.CharField(max_length=10, default="ui")
    reason = models.CharField(max_length=500, blank=True)
    action = models.CharField(
        max_length=10, choices=RolloutAction.choices, default=RolloutAction.RESTART
    )
    target_image = models.CharField(
        max_length=500, blank=True, help_text="Release/canary: the image (tag or digest) asked for."
    )
    container = models.CharField(
        max_length=255, blank=True, help_text="Kubernetes/ECS: the container whose image changes."
    )
    target_revision = models.CharField(
        max_length=300, blank=True, help_text="Rollback: the revision asked for."
    )
    canary_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    canary_watch_s = models.PositiveIntegerField(null=True, blank=True)
    image_before = models.CharField(max_length=500, blank=True)
    image_after = models.CharField(max_length=500, blank=True)
    diagnostics = models.JSONField(
        default=list, blank=True, help_text="The platform's own account of a failure, line by line."
    )
    status = models.CharField(
        max_length=10,
        choices=RedeployStatus.choices,
        default=RedeployStatus.QUEUED,
        db_index=True,
    )
    provider = models.CharField(max_length=12, blank=True)
    resource = models.CharField(max_length=300, blank=True)
    revision_before = models.CharField(max_length=300, blank=True)
    revision_after = models.CharField(max_length=300, blank=True)
    operation_id = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(
        max_length=200, blank=True, help_text="The worker running it (node:pid), for the reaper."
    )
    duration_s = models.FloatField(null=True, blank=True)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One redeploy in flight per service, enforced by the database itself.
            models.UniqueConstraint(
                fields=["service"],
                condition=models.Q(status__in=["queued", "running"]),
                name="one_redeploy_in_flight_per_service",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk} of {self.service_id} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("redeploy-detail", args=[self.pk])

    @property
    def label(self) -> str:
        """ "Redeploy", "Release", "Canary release" or "Rollback", for headings and logs."""
        return {
            RolloutAction.RESTART: "Redeploy",
            RolloutAction.RELEASE: "Release",
            RolloutAction.CANARY: "Canary release",
            RolloutAction.ROLLBACK: "Rollback",
        }.get(self.action, "Redeploy")

    @property
    def is_finished(self) -> bool:
        return self.status not in IN_FLIGHT

    @property
    def outcome(self) -> dict:
        """What the audit log records about how it ended."""
        outcome = {
            "status": self.status,
            "action": self.action,
            "reason": self.reason,
            "revision_before": self.revision_before,
            "revision_after": self.revision_after,
            "operation_id": self.operation_id,
            "duration_s": self.duration_s,
            "error": self.error,
        }

        if self.action != RolloutAction.RESTART:
            outcome.update(
                image_before=self.image_before,
                image_after=self.image_after,
                target_image=self.target_image,
                target_revision=self.target_revision,
                canary_percent=self.canary_percent,
            )
        return outcome


# A redeploy or batch whose worker died is failed by the console's reaper (console/reaper.py).
watch(Redeploy)
watch(RedeployBatch, error_field=None)
