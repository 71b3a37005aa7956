"""Cloud operation API endpoints: redeploy, releases, rollback, canary, scaling, discovery.

Same service functions and rules as the pages: operators change things, everyone signed in reads.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import ConfigDict

from console.api_errors import require_role
from fleet.api_schemas import ErrorOut
from fleet.models import CloudAccount, Service
from fleet.operations import releases
from fleet.operations import services as cs
from fleet.operations.clouds.errors import CloudError
from fleet.operations.models import Redeploy, RedeployBatch

router = Router(tags=["clouds"])


class RedeployIn(Schema):
    reason: str = ""


class RedeployOut(Schema):
    id: int
    service: str
    action: str
    status: str
    reason: str
    requested_by: str
    source: str
    provider: str
    resource: str
    revision_before: str
    revision_after: str
    operation_id: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    error: str
    log: str
    batch: int | None
    url: str
    target_image: str
    container: str
    target_revision: str
    canary_percent: int | None
    canary_watch_s: int | None
    image_before: str
    image_after: str
    diagnostics: list[str]


class RedeployConflictOut(Schema):
    detail: str
    redeploy: RedeployOut


class ScalingIn(Schema):
    # A misspelt field must be an error, not a PUT that silently clears every desired value.
    model_config = ConfigDict(extra="forbid")

    min_instances: int | None = None
    max_instances: int | None = None
    concurrency: int | None = None
    cpu: str | None = None
    memory: str | None = None
    cpu_request: str | None = None  # Kubernetes only: what the scheduler reserves
    memory_request: str | None = None


class ScalingChangeOut(Schema):
    at: datetime
    kind: str
    actor: str
    before: dict
    after: dict
    detail: str


class ScalingOut(Schema):
    service: str
    provider: str
    observed: dict
    observed_at: datetime | None
    desired: dict
    desired_set_by: str
    desired_set_at: datetime | None
    drift: dict
    sync_error: str
    history: list[ScalingChangeOut]


class JobOut(Schema):
    job_id: int
    status: str
    url: str


class DiscoveredOut(Schema):
    resource: str
    name: str
    kind: str
    url: str
    image: str
    revision: str
    labels: dict
    registered_as: str | None


def _redeploy_out(redeploy: Redeploy) -> dict:
    return {
        "id": redeploy.pk,
        "service": redeploy.service.name,
        "action": redeploy.action,
        "status": redeploy.status,
        "reason": redeploy.reason,
        "requested_by": redeploy.actor_label,
        "source": redeploy.source,
        "provider": redeploy.provider,
        "resource": redeploy.resource,
        "revision_before": redeploy.revision_before,
        "revision_after": redeploy.revision_after,
        "operation_id": redeploy.operation_id,
        "created_at": redeploy.created_at,
        "started_at": redeploy.started_at,
        "finished_at": redeploy.finished_at,
        "duration_s": redeploy.duration_s,
        "error": redeploy.error,
        "log": redeploy.log,
        "batch": redeploy.batch_id,
        "url": redeploy.get_absolute_url(),
        "target_image": redeploy.target_image,
        "container": redeploy.container,
        "target_revision": redeploy.target_revision,
        "canary_percent": redeploy.canary_percent,
        "canary_watch_s": redeploy.canary_watch_s,
        "image_before": redeploy.image_before,
        "image_after": redeploy.image_after,
        "diagnostics": list(redeploy.diagnostics or []),
    }


def _reason_from_body(request: HttpRequest) -> str:
    """The optional reason: a JSON body, form data, or nothing at all."""
    if request.content_type != "application/json":
        return request.POST.get("reason", "")
    if not request.body.strip():
        return ""
    try:
        data = json.loads(request.body)
    except ValueError as exc:
        raise ValidationError({"reason": 'The body must be JSON, e.g. {"reason": "..."}.'}) from exc
    reason = data.get("reason", "") if isinstance(data, dict) else None
    if not isinstance(reason, str):
        raise ValidationError({"reason": "Must be a string."})
    return reason


def _service(name: str) -> Service:
    return get_object_or_404(Service.objects.select_related("account"), name=name)


@router.post(
    "/services/{name}/redeploy",
    response={
        202: RedeployOut,
        403: ErrorOut,
        404: ErrorOut,
        409: RedeployConflictOut,
        422: ErrorOut,
    },
    summary="Redeploy a service through its cloud's API (409 with the running one if in flight)",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": RedeployIn.json_schema()}},
        }
    },
)
def redeploy(request: HttpRequest, name: str):
    """Body optional: `{"reason": "..."}`; an empty body redeploys without a reason."""
    require_role(request, "operator")
    service = _service(name)
    reason = _reason_from_body(request)
    redeploy, created = cs.request_redeploy(service, request.user, reason, source="api")
    redeploy.refresh_from_db()  # the task may already have run (eager mode)
    if not created:
        return Status(
            409,
            {
                "detail": f"A redeploy of {name} is already in flight (#{redeploy.pk}, "
                f"requested by {redeploy.actor_label}).",
                "redeploy": _redeploy_out(redeploy),
            },
        )
    return Status(202, _redeploy_out(redeploy))


@router.get("/redeploys/{redeploy_id}", response={200: RedeployOut, 404: ErrorOut})
def get_redeploy(request: HttpRequest, redeploy_id: int):
    return _redeploy_out(
        get_object_or_404(Redeploy.objects.select_related("service"), pk=redeploy_id)
    )


def _scaling_out(service: Service) -> dict:
    scaling = cs.scaling_for(service)
    return {
        "service": service.name,
        "provider": service.provider,
        "observed": scaling.observed(),
        "observed_at": scaling.observed_at,
        "desired": scaling.desired(),
        "desired_set_by": scaling.desired_set_by,
        "desired_set_at": scaling.desired_set_at,
        "drift": {k: {"observed": o, "desired": d} for k, (o, d) in scaling.drift().items()},
        "sync_error": scaling.sync_error,
        "history": [
            {
                "at": c.at,
                "kind": c.kind,
                "actor": c.actor_label,
                "before": c.before,
                "after": c.after,
                "detail": c.detail,
            }
            for c in service.scaling_changes.all()[:20]
        ],
    }


@router.get("/services/{name}/scaling", response={200: ScalingOut, 404: ErrorOut, 422: ErrorOut})
def get_scaling(request: HttpRequest, name: str):
    service = _service(name)
    cs.check_cloud_managed(service)
    return _scaling_out(service)


@router.put(
    "/services/{name}/scaling",
    response={200: ScalingOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Set desired scaling (null = no opinion); nothing changes in the cloud until apply",
)
def put_scaling(request: HttpRequest, name: str, payload: ScalingIn):
    require_role(request, "operator")
    service = _service(name)
    cs.set_desired_scaling(service, request.user, payload.dict(), source="api")
    return _scaling_out(service)


@router.post(
    "/services/{name}/scaling/apply",
    response={202: JobOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Push the desired scaling through the cloud's API (a background job)",
)
def apply_scaling(request: HttpRequest, name: str):
    require_role(request, "operator")
    job = cs.apply_scaling(_service(name), request.user, source="api")
    job.refresh_from_db()
    return Status(
        202,
        {"job_id": job.pk, "status": job.status, "url": reverse("job-detail", args=[job.pk])},
    )


@router.get(
    "/accounts/{name}/discover",
    response={200: list[DiscoveredOut], 404: ErrorOut, 422: ErrorOut, 502: ErrorOut},
    summary="List the account's services in its cloud, marking those already registered",
)
def discover(request: HttpRequest, name: str, label: str = ""):
    account = get_object_or_404(CloudAccount, name=name)
    try:
        rows = cs.discover(account, label)
    except CloudError as exc:
        return Status(502, {"detail": str(exc)})
    return [
        {
            "resource": r.key,
            "name": r.name,
            "kind": r.kind,
            "url": r.url,
            "image": r.snapshot.image,
            "revision": r.snapshot.revision,
            "labels": r.snapshot.labels,
            "registered_as": r.registered.name if r.registered else None,
        }
        for r in rows
    ]


@router.post(
    "/services/{name}/cloud/refresh",
    response={202: JobOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Read the service from its cloud now (snapshot and observed scaling; a background job)",
)
def refresh_from_cloud(request: HttpRequest, name: str):
    require_role(request, "operator")
    job = cs.request_sync(_service(name), request.user)
    job.refresh_from_db()
    return Status(
        202,
        {"job_id": job.pk, "status": job.status, "url": reverse("job-detail", args=[job.pk])},
    )


class BatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    services: list[str]
    concurrency: int = 1
    reason: str = ""


class BatchOut(Schema):
    id: int
    status: str
    concurrency: int
    reason: str
    requested_by: str
    created_at: datetime
    finished_at: datetime | None
    redeploys: list[RedeployOut]
    already_in_flight: list[RedeployOut]
    url: str


def _batch_out(batch: RedeployBatch, already: list[Redeploy]) -> dict:
    return {
        "id": batch.pk,
        "status": batch.status,
        "concurrency": batch.concurrency,
        "reason": batch.reason,
        "requested_by": batch.actor_label,
        "created_at": batch.created_at,
        "finished_at": batch.finished_at,
        "redeploys": [
            _redeploy_out(r) for r in batch.redeploys.select_related("service").order_by("pk")
        ],
        "already_in_flight": [_redeploy_out(r) for r in already],
        "url": reverse("redeploy-batch-detail", args=[batch.pk]),
    }


@router.post(
    "/redeploy-batches",
    response={202: BatchOut, 403: ErrorOut, 422: ErrorOut},
    summary="Rolling redeploy of several services, at most `concurrency` at a time",
)
def redeploy_batch(request: HttpRequest, payload: BatchIn):
    require_role(request, "operator")
    names = list(dict.fromkeys(payload.services))
    services = list(Service.objects.select_related("account").filter(name__in=names))
    missing = sorted(set(names) - {s.name for s in services})
    if missing:
        raise ValidationError(
            {"services": f"No service named {', '.join(repr(n) for n in missing)}."}
        )
    by_name = {s.name: s for s in services}
    batch, already = cs.request_batch_redeploy(
        [by_name[n] for n in names],
        request.user,
        payload.reason,
        payload.concurrency,
        source="api",
    )
    batch.refresh_from_db()  # the task may already have run (eager mode)
    return Status(202, _batch_out(batch, already))


@router.get("/redeploy-batches/{batch_id}", response={200: BatchOut, 404: ErrorOut})
def get_batch(request: HttpRequest, batch_id: int):
    return _batch_out(get_object_or_404(RedeployBatch, pk=batch_id), [])


class ImportIn(Schema):
    model_config = ConfigDict(extra="forbid")

    resources: list[str]
    label: str = ""
    # resource -> URL, for services whose URL the cloud does not expose (or to replace it)
    urls: dict[str, str] = {}


class ImportedOut(Schema):
    registered: list[str]


@router.post(
    "/accounts/{name}/discover",
    response={201: ImportedOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut, 502: ErrorOut},
    summary="Register discovered services (by their resource, as listed by GET)",
)
def import_discovered(request: HttpRequest, name: str, payload: ImportIn):
    require_role(request, "operator")
    account = get_object_or_404(CloudAccount, name=name)
    try:
        rows = cs.discover(account, payload.label)
    except CloudError as exc:
        return Status(502, {"detail": str(exc)})
    by_key = {r.key: r for r in rows}
    unknown = [r for r in payload.resources if r not in by_key]
    if unknown:
        raise ValidationError(
            {
                "resources": f"Not found in {account.name}"
                + (f" with label {payload.label}" if payload.label else "")
                + f": {', '.join(unknown)}."
            }
        )
    created = cs.import_discovered(
        account,
        [by_key[r] for r in dict.fromkeys(payload.resources)],
        request.user,
        source="api",
        urls=payload.urls,
    )
    return Status(201, {"registered": [s.name for s in created]})


# -- releases and rollbacks ----------------------------------------------------------------------
class ReleaseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    image: str
    reason: str = ""
    canary_percent: int | None = None
    canary_watch_s: int | None = None
    container: str = ""


class RollbackIn(Schema):
    model_config = ConfigDict(extra="forbid")

    revision: str = ""
    reason: str = ""


class RevisionOut(Schema):
    name: str
    image: str
    created: str
    traffic_percent: int | None
    active: bool
    ready: bool | None


def _accepted_or_conflict(name: str, redeploy: Redeploy, created: bool):
    redeploy.refresh_from_db()  # the task may already have run (eager mode)
    if not created:
        return Status(
            409,
            {
                "detail": f"A {redeploy.label.lower()} of {name} is already in flight "
                f"(#{redeploy.pk}, requested by {redeploy.actor_label}).",
                "redeploy": _redeploy_out(redeploy),
            },
        )
    return Status(202, _redeploy_out(redeploy))


@router.post(
    "/services/{name}/releases",
    response={
        202: RedeployOut,
        403: ErrorOut,
        404: ErrorOut,
        409: RedeployConflictOut,
        422: ErrorOut,
    },
    summary="Deploy a new image (tag or digest); with canary_percent, a canary where the "
    "platform splits traffic",
)
def release(request: HttpRequest, name: str, payload: ReleaseIn):
    require_role(request, "operator")
    service = _service(name)
    redeploy, created = releases.request_release(
        service,
        request.user,
        payload.image,
        reason=payload.reason,
        canary_percent=payload.canary_percent,
        canary_watch_s=payload.canary_watch_s,
        container=payload.container,
        source="api",
    )
    return _accepted_or_conflict(name, redeploy, created)


@router.get("/services/{name}/releases", response={200: list[RedeployOut], 404: ErrorOut})
def list_releases(request: HttpRequest, name: str, limit: int = 20):
    """Releases, canaries and rollbacks of the service (and its redeploys), newest first."""
    service = _service(name)
    rows = Redeploy.objects.filter(service=service).select_related("service")
    return [
        _redeploy_out(r) for r in rows.order_by("-created_at", "-id")[: max(1, min(limit, 200))]
    ]


@router.get("/releases/{release_id}", response={200: RedeployOut, 404: ErrorOut})
def get_release(request: HttpRequest, release_id: int):
    return _redeploy_out(
        get_object_or_404(Redeploy.objects.select_related("service"), pk=release_id)
    )


@router.post(
    "/services/{name}/rollback",
    response={
        202: RedeployOut,
        403: ErrorOut,
        404: ErrorOut,
        409: RedeployConflictOut,
        422: ErrorOut,
    },
    summary="Roll back to a recorded revision (the previous one when none is given)",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": RollbackIn.json_schema()}},
        }
    },
)
def rollback(request: HttpRequest, name: str):
    require_role(request, "operator")
    service = _service(name)
    body = _json_object(request, RollbackIn)
    redeploy, created = releases.request_rollback(
        service, request.user, body.revision, reason=body.reason, source="api"
    )
    return _accepted_or_conflict(name, redeploy, created)


def _json_object(request: HttpRequest, schema: type[Schema]) -> Schema:
    """An optional JSON body parsed with `schema`; errors name the field."""
    if not request.body.strip():
        return schema()
    try:
        data = json.loads(request.body)
    except ValueError as exc:
        raise ValidationError({"body": "The body must be a JSON object."}) from exc
    if not isinstance(data, dict):
        raise ValidationError({"body": "The body must be a JSON object."})
    unknown = sorted(set(data) - set(schema.model_fields))
    if unknown:
        raise ValidationError({unknown[0]: "Unknown field."})
    for field, value in data.items():
        if not isinstance(value, str):
            raise ValidationError({field: "Must be a string."})
    return schema(**data)


@router.get(
    "/services/{name}/revisions",
    response={200: list[RevisionOut], 404: ErrorOut, 422: ErrorOut, 502: ErrorOut},
    summary="The service's recorded revisions, read from its cloud now (newest first)",
)
def revisions(request: HttpRequest, name: str):
    service = _service(name)
    try:
        found = releases.list_revisions(service)
    except CloudError as exc:
        return Status(502, {"detail": str(exc)})
    return [dataclasses.asdict(r) for r in found]


class ReleaseBatchIn(Schema):
    model_config = ConfigDict(extra="forbid")

    services: list[str] = []
    team: str = ""
    tag: str = ""
    image: str = ""
    image_tag: str = ""
    concurrency: int = 1
    reason: str = ""
    dry_run: bool = False


class PlannedOut(Schema):
    service: str
    platform: str
    resource: str
    image_before: str
    image_after: str
    problem: str
    in_flight: int | None


class ReleasePlanOut(Schema):
    dry_run: bool
    plan: list[PlannedOut]


@router.post(
    "/release-batches",
    response={200: ReleasePlanOut, 202: BatchOut, 403: ErrorOut, 422: ErrorOut},
    summary="Release to several services (by name, team or tag), at most `concurrency` at a "
    "time, stopping at the first failure; `dry_run` lists what each would get",
)
def release_batch(request: HttpRequest, payload: ReleaseBatchIn):
    services = releases.select_services(payload.services, team=payload.team, tag=payload.tag)
    if payload.dry_run:
        plan = releases.plan_batch_release(
            services, image=payload.image, image_tag=payload.image_tag
        )
        return Status(200, {"dry_run": True, "plan": [row.as_dict() for row in plan]})
    require_role(request, "operator")
    batch, _plan = releases.request_batch_release(
        services,
        request.user,
        image=payload.image,
        image_tag=payload.image_tag,
        reason=payload.reason,
        concurrency=payload.concurrency,
        source="api",
    )
    batch.refresh_from_db()
    return Status(202, _batch_out(batch, []))
