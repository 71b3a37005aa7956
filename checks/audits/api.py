"""Audit API: start runs, read them, export them, attest manual rules. Thin: parse, call, shape."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status

from checks.audits import services as audit_services
from checks.audits.exporting import FORMATS, stream_export
from checks.audits.models import Attestation, AuditRun
from checks.audits.streaming import streaming_response
from console.api_errors import require_role
from fleet.models import Service

router = Router(tags=["audits"])


class ErrorOut(Schema):
    detail: str | list


class AuditIn(Schema):
    scope: str = "fleet"  # "fleet" or "service"
    service: str = ""  # the service's name when scope is "service"


class AuditRunOut(Schema):
    id: int
    scope: str
    trigger: str
    triggered_by: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    catalogue_version: str
    scores: dict
    error: str
    results: dict[str, list[dict]] | None = None
    results_note: str = ""
    url: str


class ExportQuery(Schema):
    format: str = "json"


class AttestationIn(Schema):
    rule: str = ""
    note: str = ""


class BulkAttestationIn(Schema):
    rule: str = ""
    note: str = ""
    team: str = ""
    environment: str = ""
    tag: str = ""
    services: list[str] = []
    expires_on: str = ""  # YYYY-MM-DD; blank = the policy's expiry


class BulkAttestationOut(Schema):
    rule: str
    selection: str
    count: int
    services: list[str]
    skipped: list[str]
    expires_at: datetime


class AttestationOut(Schema):
    id: int
    rule: str
    service: str | None
    by: str
    note: str
    at: datetime
    expires_at: datetime | None


# A run's results come inline up to this many services; larger runs are read one service at a
# time (?service=NAME) or streamed whole from the export, so one request never builds 200 MB.
INLINE_RESULTS_MAX_SERVICES = 100


def _run_out(run: AuditRun, with_results: bool = False, service: str = "") -> dict:
    results, note = None, ""
    # The fleet figures (score over decided rules, coverage); each service's card with results.
    scores = {k: v for k, v in (run.scores or {}).items() if k not in ("services", "rules")}
    if with_results:
        cards = run.service_scores.all()
        if service:
            cards = cards.filter(service_name=service)
        count = cards.count()
        if service or count <= INLINE_RESULTS_MAX_SERVICES:
            grouped = audit_services.results_by_service(run, service or None)
            results = {name: [r.as_dict() for r in rows] for name, rows in grouped.items()}
            scores["services"] = {s.service_name: s.card() for s in cards}
        else:
            note = (
                f"This run audited {count:,} services: read one with ?service=NAME, or stream "
                f"the whole run from {run.get_absolute_url().rstrip('/')}.json or the export."
            )
    return {
        "id": run.pk,
        "scope": run.scope_label,
        "trigger": run.trigger,
        "triggered_by": run.triggered_by_label,
        "status": run.status,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "catalogue_version": run.catalogue_version,
        "scores": scores,
        "error": run.error,
        "results": results,
        "results_note": note,
        "url": run.get_absolute_url(),
    }


def _get_run(run_id: int) -> AuditRun:
    run = AuditRun.objects.filter(pk=run_id).first()
    if run is None:
        raise Http404(f"Audit run {run_id} does not exist.")
    return run


@router.post(
    "/audits",
    response={202: AuditRunOut, 403: ErrorOut, 422: ErrorOut},
    summary="Start an audit of the fleet or of one service (runs in the background)",
)
def start_audit(request: HttpRequest, payload: AuditIn):
    require_role(request, "operator")
    scope = payload.scope.strip().lower() or "fleet"
    service = None
    if payload.service and scope == "fleet":
        scope = "service"
    if scope not in ("fleet", "service"):
        raise ValidationError(
            {"scope": f"Unknown scope '{payload.scope}'; use 'fleet' or 'service'."}
        )
    if scope == "service":
        if not payload.service:
            raise ValidationError({"service": "Name the service to audit."})
        service = Service.objects.filter(name=payload.service).first()
        if service is None:
            raise ValidationError({"service": f"No service named '{payload.service}'."})
    elif not Service.objects.exists():
        raise ValidationError({"scope": "The fleet has no services registered; nothing to audit."})
    run = audit_services.create_run(
        actor=request.user, trigger=AuditRun.Trigger.API, service=service
    )
    run.refresh_from_db()
    return Status(202, _run_out(run))


@router.get("/audits", response=list[AuditRunOut], summary="Recent audit runs, newest first")
def list_audits(request: HttpRequest, limit: int = 20):
    runs = AuditRun.objects.all()[: max(1, min(limit, 200))]
    return [_run_out(run) for run in runs]


@router.get(
    "/audits/{run_id}",
    response={200: AuditRunOut, 404: ErrorOut, 422: ErrorOut},
    summary="One audit run: status, scores and its results (?service=NAME for one service)",
)
def get_audit(request: HttpRequest, run_id: int, service: str = ""):
    run = _get_run(run_id)
    service = service.strip()
    if service and not run.service_scores.filter(service_name=service).exists():
        raise ValidationError({"service": f"Audit run {run_id} did not audit '{service}'."})
    return _run_out(run, with_results=True, service=service)


@router.get(
    "/audits/{run_id}/export",
    response={200: None, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Export a finished run as json, csv or markdown",
)
def export_audit(request: HttpRequest, run_id: int, query: Query[ExportQuery]):
    fmt = {"md": "markdown"}.get(query.format.lower(), query.format.lower())
    if fmt not in FORMATS:
        raise ValidationError(
            {"format": f"Unknown export format '{query.format}'; use one of: {', '.join(FORMATS)}."}
        )
    run = _get_run(run_id)
    if run.status != AuditRun.State.SUCCEEDED:
        return Status(
            409, {"detail": f"Audit run {run_id} is {run.status}: it has no results to export."}
        )
    chunks, content_type = stream_export(run, fmt)
    return streaming_response(request, chunks, content_type)


@router.post(
    "/services/{name}/attestations",
    response={201: AttestationOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Attest that a manual rule holds for a service (note required)",
)
def attest(request: HttpRequest, name: str, payload: AttestationIn):
    require_role(request, "operator")
    service = Service.objects.filter(name=name).first()
    if service is None:
        raise Http404(f"No service named '{name}'.")
    attestation = audit_services.attest(
        actor=request.user, source="api", rule_id=payload.rule, note=payload.note, service=service
    )
    return Status(201, _attestation_out(attestation))


def _attestation_out(a: Attestation) -> dict:
    return {
        "id": a.pk,
        "rule": a.rule_id,
        "service": a.service.name if a.service_id else None,
        "by": a.by_label,
        "note": a.note,
        "at": a.at,
        "expires_at": a.expires_at,
    }


@router.post(
    "/attestations/bulk",
    response={201: BulkAttestationOut, 403: ErrorOut, 422: ErrorOut},
    summary="Attest one manual rule for a team, an environment, a tag or listed services",
)
def attest_bulk(request: HttpRequest, payload: BulkAttestationIn):
    require_role(request, "operator")
    done = audit_services.attest_bulk(
        actor=request.user,
        source="api",
        rule_id=payload.rule,
        note=payload.note,
        team=payload.team,
        environment=payload.environment,
        tag=payload.tag,
        services=payload.services,
        expires_on=payload.expires_on or None,
    )
    return Status(
        201,
        {
            "rule": done.rule_id,
            "selection": done.selection,
            "count": len(done.services),
            "services": done.services,
            "skipped": done.skipped,
            "expires_at": done.expires_at,
        },
    )
