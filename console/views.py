"""Console pages: health, the audit log (admins) and personal API tokens."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from console.access import has_role, role_required
from console.celery import app as celery_app
from console.models import ApiToken, AuditLogEntry, Job
from console.tokens import issue_token, revoke_token

logger = logging.getLogger(__name__)


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:  # any driver error means "not reachable"
        return False, f"{type(exc).__name__}: {exc}"


def _broker_ok() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _cache_ok() -> tuple[bool, str]:
    try:
        cache.set("healthz", "1", timeout=5)
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


HEALTH_PARTS = {"database": _database_ok, "broker": _broker_ok, "cache": _cache_ok}


def _background_parts() -> tuple[dict[str, str], float]:
    """Worker liveness and sweep lag: "ok", or what is wrong, in one word each."""
    from checks.sweep_db import sweep_lag_seconds
    from console.heartbeat import worker_status

    lag = sweep_lag_seconds()
    sweep = "behind" if lag > settings.FLEET_SWEEP_LAG_SECONDS else "ok"
    return {"worker": worker_status(), "sweep": sweep}, lag


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """/favicon.ico, which browsers ask for on responses that name no icon (JSON, downloads)."""
    return HttpResponsePermanentRedirect(static("console/favicon.ico"))


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and cache reachability (503 when any is down), worker and sweep state.

    A worker not seen recently ("stale", or "missing" if none ever reported) or a sweep that is
    behind makes the status "degraded" but still answers 200: the web process itself is fine, and
    a load balancer should keep sending it traffic. Everyone learns which part failed; only admins
    get the error text (which can name hosts, ports and user names) and the sweep's lag.
    """
    body: dict[str, object] = {}
    for part, check in HEALTH_PARTS.items():
        ok, detail = check()
        if not ok:
            logger.warning("healthz: %s unavailable: %s", part, detail)
        body[part] = detail if ok or has_role(request.user, "admin") else "unavailable"
    serving = all(value == "ok" for value in body.values())
    background: dict[str, str] = {}
    lag = 0.0
    if body["database"] == "ok":
        background, lag = _background_parts()
    status = "ok" if all(v == "ok" for v in background.values()) else "degraded"
    if not serving:
        status = "unavailable"
    body.update(background)
    if has_role(request.user, "admin"):
        body["sweep_lag_seconds"] = round(lag)
    return JsonResponse({"status": status, **body}, status=200 if serving else 503)


@role_required("admin")
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    entries = AuditLogEntry.objects.select_related("actor")
    for field in ("object_type", "action", "actor_label", "source"):
        if request.GET.get(field):
            entries = entries.filter(**{field: request.GET[field]})
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    object_types = AuditLogEntry.objects.order_by().values_list("object_type", flat=True).distinct()
    return render(
        request, "console/audit_log.html", {"page": page, "object_types": sorted(set(object_types))}
    )


@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    tokens = request.user.api_tokens.order_by("-created_at")
    return render(request, "console/tokens.html", {"tokens": tokens})


@require_POST
def token_create(request: HttpRequest) -> HttpResponse:
    name = (request.POST.get("name") or "").strip()
    if not name:
        messages.error(request, "name: give the token a name so you can recognise it later.")
        return redirect("token-list")
    _, raw = issue_token(request.user, name)
    tokens = request.user.api_tokens.order_by("-created_at")
    return render(request, "console/tokens.html", {"tokens": tokens, "new_token": raw})


@require_POST
def token_delete(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    revoke_token(request.user, token)
    messages.success(request, f"Revoked token {token.name}.")
    return redirect("token-list")


@require_GET
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A background run; htmx polls the status fragment until the job finishes (then 286 stops it)."""
    from django_htmx.http import HttpResponseStopPolling

    from console.htmx import render_page, wants_fragment
    from console.origin import job_context, shown_elsewhere

    job = get_object_or_404(Job, pk=pk)
    # in_place: polled from inside another page (a service page's cloud card), not the job page.
    context = job_context(job, request.GET.get("from"), in_place=shown_elsewhere(request))
    response = render_page(request, "console/job_detail.html", "job-status", context)
    if wants_fragment(request) and job.is_finished:
        stop = HttpResponseStopPolling(response.content)
        stop["Vary"] = response.get("Vary", "")
        return stop
    return response
