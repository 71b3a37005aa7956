"""Operator actions on health checks, one atomic block each with its audit-log row.

The form and the API both come through here: edit check settings, accept a tool drift as the
new baseline, and ask for a check now.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from checks import state
from checks.drift import drift_key
from checks.models import CheckConfig, DriftEvent, ToolSnapshot
from checks.tasks import check_now_task
from console.audit import record_action
from console.jobs import enqueue
from console.models import Job
from console.notifications import dispatch
from fleet.models import Service

CONFIG_FIELDS = (
    "enabled",
    "interval_seconds",
    "timeout_seconds",
    "failure_threshold",
    "recovery_threshold",
    "slow_ms",
    "scales_to_zero",
    "expected_status",
    "expected_json_field",
    "tool_call_name",
    "tool_call_arguments",
    "tool_call_expect",
    "auth_header",
    "auth_secret_ref",
    "oauth_token_url",
    "oauth_client_id",
    "oauth_client_secret_ref",
    "oauth_scope",
    "proxy_url",
    "proxy_auth_ref",
    "tls_ca_bundle_ref",
    "tls_client_cert_ref",
    "tls_client_key_ref",
    "tls_skip_verify",
)
NETWORK_FIELDS = CONFIG_FIELDS[-6:]  # a change here makes the worker choose its client afresh


def config_state(config: CheckConfig) -> dict:
    """The settings as plain values (the auth reference names a variable, never a secret)."""
    return {f: getattr(config, f) for f in CONFIG_FIELDS}


def save_check_config(*, actor: Any, source: str, service: Service, spec: dict) -> CheckConfig:
    """Apply the given fields to the service's check settings; ValidationError names the field."""
    unknown = sorted(set(spec) - set(CONFIG_FIELDS))
    if unknown:
        raise ValidationError({unknown[0]: "is not a check setting."})
    nulls = sorted(field for field, value in spec.items() if value is None)
    if nulls:
        raise ValidationError(
            {nulls[0]: "must not be null (leave it out to keep the current value)."}
        )
    with transaction.atomic():
        config, _ = CheckConfig.objects.select_for_update().get_or_create(service=service)
        # Read under the lock: a concurrent move to production checks this row under it too.
        service.environment = (
            Service.objects.filter(pk=service.pk).values_list("environment", flat=True).get()
        )
        config.service = service
        before = config_state(config)
        for field, value in spec.items():
            setattr(config, field, value)
        config.full_clean(exclude=["service", "next_check_at"])
        if config.interval_seconds != before["interval_seconds"]:
            config.next_check_at = timezone.now()  # the new interval starts now
        if any(getattr(config, f) != before[f] for f in NETWORK_FIELDS):
            config.probe_client = config.probe_client_reason = config.probe_client_url = ""
            config.probe_client_since = None
        config.save()
        if before["enabled"] and not config.enabled:
            _stop_reporting(service, actor)
        after = config_state(config)
        if before != after:
            record_action(
                actor, "update", config, source=source, before=before, after=after,
                detail=f"check settings of {service.name}",
            )  # fmt: skip
        if before["tls_skip_verify"] != config.tls_skip_verify:
            _record_skip_verify(actor, source, service, config.tls_skip_verify)
    return config


def _record_skip_verify(actor: Any, source: str, service: Service, skip: bool) -> None:
    """Its own audit row: skipping TLS verification is the one setting that lowers security."""
    record_action(
        actor,
        "tls_skip_verify_on" if skip else "tls_skip_verify_off",
        service,
        source=source,
        before={"tls_skip_verify": not skip},
        after={"tls_skip_verify": skip},
        detail=(
            f"TLS verification {'skipped' if skip else 'restored'} for the probes of "
            f"{service.name} (environment {service.environment or 'empty'!r})"
        ),
    )


def _stop_reporting(service: Service, actor: Any) -> None:
    """Checks switched off: the status is unknown from now on and open incidents close quietly."""
    old = Service.objects.filter(pk=service.pk).values_list("status", flat=True).first()
    if old and old != state.UNKNOWN:
        who = getattr(actor, "username", None) or str(actor)
        reason = f"checks disabled by {who}"
        state.record_state_change(service, old, state.UNKNOWN, reason, at=timezone.now(), live={})


def accept_drift(*, actor: Any, source: str, event: DriftEvent) -> DriftEvent:
    """Make the drifted tool set the service's baseline; every pending drift of it is settled."""
    with transaction.atomic():
        event = DriftEvent.objects.select_for_update().select_related("snapshot").get(pk=event.pk)
        if event.accepted_at is not None:
            raise ValidationError({"drift": "This tool change was already accepted."})
        old = ToolSnapshot.objects.filter(service_id=event.service_id, is_baseline=True).first()
        ToolSnapshot.objects.filter(service_id=event.service_id, is_baseline=True).update(
            is_baseline=False
        )
        ToolSnapshot.objects.filter(pk=event.snapshot_id).update(is_baseline=True)
        now = timezone.now()
        user = actor if getattr(actor, "pk", None) else None
        label = getattr(actor, "username", None) or str(actor)
        pending = DriftEvent.objects.filter(service_id=event.service_id, accepted_at=None)
        settled = list(pending.select_related("snapshot", "service"))
        pending.update(accepted_at=now, accepted_by=user, accepted_by_label=label)
        for done in settled:  # reviewed: its alert stops reminding
            dispatch.resolve(drift_key(done.service, done.snapshot))
        record_action(
            actor,
            "accept_tools",
            event.service,
            source=source,
            before={"baseline": old.fingerprint if old else None, "tools": _names(old)},
            after={"baseline": event.snapshot.fingerprint, "tools": _names(event.snapshot)},
            detail=event.readable,
        )
        event.refresh_from_db()
    return event


def pending_drift(service: Service) -> DriftEvent | None:
    return DriftEvent.objects.filter(service=service, accepted_at=None).first()


def _names(snapshot: ToolSnapshot | None) -> list[str]:
    return sorted(snapshot.tool_names) if snapshot else []


def request_check(*, actor: Any, source: str, service: Service) -> Job:
    """Queue a check of the service now; the Job row is what the UI polls."""
    with transaction.atomic():
        job = enqueue(
            f"check {service.name}", check_now_task, user=actor, obj=service, args=(service.pk,)
        )
        record_action(actor, "check_now", service, source=source, detail=f"job {job.pk}")
    return job
