"""Health-check API: health of a service, check now, check settings, tools and drift, incidents.

Thin: parse, call `checks.services` or a query, shape. Operators change things; viewers read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from checks import health
from checks import services as check_services
from checks.models import CheckConfig, DriftEvent, Incident, ProbeResult, ToolSnapshot
from console import limits
from console.access import has_role
from console.api_errors import require_role
from fleet.api_schemas import ErrorOut
from fleet.models import Service

router = Router(tags=["health"])


class ResultOut(Schema):
    checked_at: datetime
    ok: bool
    latency_ms: float | None
    phases: dict
    transport: str
    protocol_version: str
    server_name: str
    server_version: str
    http_status: int | None
    error: str
    body_excerpt: str | None = Field(
        None, description="What the target said, credentials redacted; operators only (null)."
    )
    cold_start: bool
    tls_days: float | None
    tool_call_ok: bool | None
    client: str = Field(description='"lean", "httpx" (the fallback), or "" when nothing probed.')

    @staticmethod
    def resolve_body_excerpt(obj: ProbeResult, context: dict) -> str | None:
        """Viewers read conclusions, never bytes from the target."""
        return obj.body_excerpt if has_role(context["request"].user, "operator") else None


class IncidentOut(Schema):
    id: int
    service: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    duration_seconds: int
    first_error: str


class DriftOut(Schema):
    id: int
    detected_at: datetime
    readable: str
    diff: dict
    rug_pull: bool
    accepted_by: str
    accepted_at: datetime | None


class HealthOut(Schema):
    service: str
    status: str
    status_changed_at: datetime | None
    last_checked_at: datetime | None
    last_latency_ms: float | None
    last_error: str
    latest: ResultOut | None
    windows: list[dict]
    open_incident: IncidentOut | None
    pending_drift: DriftOut | None


class CheckQueued(Schema):
    job_id: int
    status: str
    job_url: str


class ConfigOut(Schema):
    enabled: bool
    interval_seconds: int
    timeout_seconds: float
    failure_threshold: int
    recovery_threshold: int
    slow_ms: int
    scales_to_zero: bool
    expected_status: int
    expected_json_field: str
    tool_call_name: str
    tool_call_arguments: dict
    tool_call_expect: str
    auth_header: str
    auth_secret_ref: str
    oauth_token_url: str
    oauth_client_id: str
    oauth_client_secret_ref: str
    oauth_scope: str
    proxy_url: str
    proxy_auth_ref: str
    tls_ca_bundle_ref: str
    tls_client_cert_ref: str
    tls_client_key_ref: str
    tls_skip_verify: bool
    probe_client: str
    probe_client_reason: str
    next_check_at: datetime


class ConfigPatch(Schema):
    model_config = {"extra": "forbid"}  # a misspelt setting is an error, not a silent no-op

    enabled: bool | None = None
    interval_seconds: int | None = None
    timeout_seconds: float | None = None
    failure_threshold: int | None = None
    recovery_threshold: int | None = None
    slow_ms: int | None = None
    scales_to_zero: bool | None = None
    expected_status: int | None = None
    expected_json_field: str | None = None
    tool_call_name: str | None = None
    tool_call_arguments: dict | None = None
    tool_call_expect: str | None = None
    auth_header: str | None = None
    auth_secret_ref: str | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret_ref: str | None = None
    oauth_scope: str | None = None
    proxy_url: str | None = None
    proxy_auth_ref: str | None = None
    tls_ca_bundle_ref: str | None = None
    tls_client_cert_ref: str | None = None
    tls_client_key_ref: str | None = None
    tls_skip_verify: bool | None = None


class ToolsOut(Schema):
    fingerprint: str | None
    server_version: str
    seen_at: datetime | None
    is_baseline: bool
    tools: list[dict]
    pending_drift: DriftOut | None


class IncidentQuery(Schema):
    open: bool | None = None
    service: str = ""
    limit: int = limits.query_field("limit", 100)


def _incident(i: Incident) -> dict:
    return {
        "id": i.pk,
        "service": i.service.name,
        "status": i.status,
        "opened_at": i.opened_at,
        "closed_at": i.closed_at,
        "duration_seconds": int(i.duration.total_seconds()),
        "first_error": i.first_error,
    }


def _drift(d: DriftEvent | None) -> dict | None:
    if d is None:
        return None
    return {
        "id": d.pk,
        "detected_at": d.detected_at,
        "readable": d.readable,
        "diff": d.diff,
        "rug_pull": d.rug_pull,
        "accepted_by": d.accepted_by_label,
        "accepted_at": d.accepted_at,
    }


def _config(config: CheckConfig) -> dict[str, Any]:
    return {
        **check_services.config_state(config),
        "probe_client": config.probe_client or "lean",
        "probe_client_reason": config.probe_client_reason,
        "next_check_at": config.next_check_at,
    }


@router.get("/services/{name}/health", response={200: HealthOut, 404: ErrorOut})
def service_health(request: HttpRequest, name: str):
    service = get_object_or_404(Service, name=name)
    latest = ProbeResult.objects.filter(service=service).order_by("-checked_at", "-id").first()
    incident = Incident.objects.filter(service=service, closed_at=None).first()
    return {
        "service": service.name,
        "status": service.status,
        "status_changed_at": service.status_changed_at,
        "last_checked_at": service.last_checked_at,
        "last_latency_ms": service.last_latency_ms,
        "last_error": service.last_error,
        "latest": latest,
        "windows": health.summary(service),
        "open_incident": _incident(incident) if incident else None,
        "pending_drift": _drift(check_services.pending_drift(service)),
    }


@router.post(
    "/services/{name}/check",
    response={202: CheckQueued, 403: ErrorOut, 404: ErrorOut},
    summary="Check the service now (queued; poll the job)",
)
def check_now(request: HttpRequest, name: str):
    require_role(request, "operator")
    service = get_object_or_404(Service, name=name)
    job = check_services.request_check(actor=request.user, source="api", service=service)
    job.refresh_from_db()
    return Status(
        202,
        {"job_id": job.pk, "status": job.status, "job_url": f"/jobs/{job.pk}/"},
    )


@router.get("/services/{name}/checks/settings", response={200: ConfigOut, 404: ErrorOut})
def get_settings(request: HttpRequest, name: str):
    service = get_object_or_404(Service, name=name)
    config, _ = CheckConfig.objects.get_or_create(service=service)
    return _config(config)


@router.patch(
    "/services/{name}/checks/settings",
    response={200: ConfigOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
)
def update_settings(request: HttpRequest, name: str, payload: ConfigPatch):
    require_role(request, "operator")
    service = get_object_or_404(Service, name=name)
    config = check_services.save_check_config(
        actor=request.user, source="api", service=service, spec=payload.dict(exclude_unset=True)
    )
    return _config(config)


@router.get("/services/{name}/tools", response={200: ToolsOut, 404: ErrorOut})
def service_tools(request: HttpRequest, name: str):
    service = get_object_or_404(Service, name=name)
    snapshot = ToolSnapshot.objects.filter(service=service).order_by("-seen_at", "-id").first()
    return {
        "fingerprint": snapshot.fingerprint if snapshot else None,
        "server_version": snapshot.server_version if snapshot else "",
        "seen_at": snapshot.seen_at if snapshot else None,
        "is_baseline": bool(snapshot and snapshot.is_baseline),
        "tools": snapshot.tools if snapshot else [],
        "pending_drift": _drift(check_services.pending_drift(service)),
    }


@router.get("/services/{name}/drift", response={200: list[DriftOut], 404: ErrorOut})
def service_drift(request: HttpRequest, name: str):
    service = get_object_or_404(Service, name=name)
    return [_drift(d) for d in DriftEvent.objects.filter(service=service)[:50]]


@router.post(
    "/services/{name}/tools/accept",
    response={200: DriftOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Accept the pending tool drift as the new baseline",
)
def accept_tools(request: HttpRequest, name: str):
    require_role(request, "operator")
    service = get_object_or_404(Service, name=name)
    event = DriftEvent.objects.filter(service=service, accepted_at=None).order_by("-id").first()
    if event is None:
        raise ValidationError({"drift": f"{service.name} has no tool change waiting for review."})
    return _drift(check_services.accept_drift(actor=request.user, source="api", event=event))


@router.get("/incidents", response=list[IncidentOut])
def list_incidents(request: HttpRequest, query: Query[IncidentQuery]):
    qs = Incident.objects.select_related("service")
    if query.open is not None:
        qs = qs.filter(closed_at__isnull=query.open)
    if query.service:
        qs = qs.filter(service__name=query.service)
    return [_incident(i) for i in qs[: max(1, min(query.limit, 1000))]]
