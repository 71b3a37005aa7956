"""Console pages: health, the audit log (admins) and personal API tokens."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
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


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and cache reachability, as JSON; 503 when any is down.

    Everyone learns which part failed; only admins get the error text, which can name hosts,
    ports and user names. The text is logged either way.
    """
    body: dict[str, str] = {}
    for part, check in HEALTH_PARTS.items():
        ok, detail = check()
        if not ok:
            logger.warning("healthz: %s unavailable: %s", part, detail)
        body[part] = detail if ok or has_role(request.user, "admin") else "unavailable"
    ok = all(value == "ok" for value in body.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", **body}, status=200 if ok else 503
    )


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

    job = get_object_or_404(Job, pk=pk)
    response = render_page(request, "console/job_detail.html", "job-status", {"job": job})
    if wants_fragment(request) and job.is_finished:
        stop = HttpResponseStopPolling(response.content)
        stop["Vary"] = response.get("Vary", "")
        return stop
    return response
