"""Health pages: the polled status part, check now, check settings, drift acceptance, incidents."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from checks import charts, panel
from checks import services as check_services
from checks.forms import CheckConfigForm
from checks.models import CheckConfig, DriftEvent, Incident, ProbeResult
from console.access import role_required
from console.htmx import render_page, wants_fragment
from console.models import Job
from fleet.models import Service

INCIDENT_DAYS = 30


@require_GET
def health_status(request: HttpRequest, name: str) -> HttpResponse:
    """The status part of the health panel, which htmx polls."""
    service = get_object_or_404(Service, name=name)
    context = {"service": service, "h": panel.status_context(service)}
    return render_page(request, "checks/_service_health.html", "health-update", context)


@require_GET
def latency_chart(request: HttpRequest, name: str) -> HttpResponse:
    """The latency chart and uptime bars for `?range=` (1h, 24h, 7d, 30d): the range picker's
    htmx target; without htmx it is the service page itself, showing that range."""
    service = get_object_or_404(Service, name=name)
    if not wants_fragment(request):
        query = urlencode({"range": request.GET.get("range", "")})
        return redirect(f"{service.get_absolute_url()}?{query}#latency-chart")
    context = {"service": service, "lc": charts.latency_chart(service, request.GET.get("range"))}
    return render_page(request, "checks/_latency_chart.html", "latency-chart", context)


@role_required("operator")
@require_POST
def check_now(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(Service, name=name)
    job = check_services.request_check(actor=request.user, source="ui", service=service)
    if not wants_fragment(request):
        messages.info(request, f"Checking {service.name}; the result appears below when done.")
        return redirect("service-check-job", name=service.name, job_id=job.pk)
    return _job_fragment(request, service, job, request.POST.get("range"))


@require_GET
def check_job(request: HttpRequest, name: str, job_id: int) -> HttpResponse:
    service = get_object_or_404(Service, name=name)
    job = get_object_or_404(Job, pk=job_id, object_type="service", object_id=str(service.pk))
    return _job_fragment(request, service, job, request.GET.get("range"))


def _job_fragment(
    request: HttpRequest, service: Service, job: Job, panel_range: str | None = None
) -> HttpResponse:
    """The job's progress, then its result. `panel_range` is the service page's chart range, sent
    by its Check now form: a finished answer then refreshes that page's figures out of band."""
    job.refresh_from_db()
    service.refresh_from_db()
    result = None
    if job.is_finished:
        result = (
            ProbeResult.objects.filter(service=service, checked_at__gte=job.created_at)
            .order_by("checked_at", "id")
            .first()
        )
    from_panel = panel_range is not None and wants_fragment(request)
    range_key = charts.range_for(panel_range).key if from_panel else ""
    context = {
        "service": service,
        "job": job,
        "result": result,
        "wants_fragment": wants_fragment(request),
        "panel_range": range_key,
        # Read once the job is done, from the same service row as the result: one story.
        "h": _finished_panel(service, from_panel) if job.is_finished else None,
        "lc": charts.latency_chart(service, range_key) if job.is_finished and from_panel else None,
    }
    response = render_page(request, "checks/check_job.html", "check-job-update", context)
    if wants_fragment(request) and job.is_finished:
        # The answer carries the panel's status part out of band (same read as the result), so no
        # event asks the panel to fetch it again: a second read could tell a different story, and
        # the replaced part would still be listening for the event.
        stop = HttpResponseStopPolling(response.content)
        stop["Vary"] = response.get("Vary", "")
        return stop
    return response


def _finished_panel(service: Service, from_panel: bool) -> dict:
    """The status part, or for the service page every part a new result changes."""
    return panel.panel_context(service) if from_panel else panel.status_context(service)


@role_required("operator")
@require_http_methods(["GET", "POST"])
def check_settings(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(Service, name=name)
    config, _ = CheckConfig.objects.get_or_create(service=service)
    if request.method == "POST":
        form = CheckConfigForm(request.POST, instance=CheckConfig(service=service))
        if form.is_valid():
            try:
                check_services.save_check_config(
                    actor=request.user, source="ui", service=service, spec=form.spec()
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Saved the check settings of {service.name}.")
                return redirect(service)
    else:
        form = CheckConfigForm(instance=config)
    status = 422 if form.errors else 200
    context = {"service": service, "form": form, "reach": reach_summary(service, config)}
    if wants_fragment(request):
        status = 200  # htmx swaps only 2xx
    return render_page(request, "checks/check_settings.html", "settings-form", context, status)


def reach_summary(service: Service, config: CheckConfig) -> dict[str, str]:
    """How the probe reaches the service, in words: which client and why, which proxy."""
    if config.probe_client == "httpx" and config.probe_client_url == service.url:
        client = f"httpx, because {config.probe_client_reason}"
    else:
        client = "the lean client (HTTP/1.1)"
    account = service.account if service.account_id else None
    if config.proxy_url:
        proxy = f"{config.proxy_url} (from these settings)"
    elif account is not None and account.probe_proxy_url:
        proxy = f"{account.probe_proxy_url} (from account {account.name})"
    else:
        proxy = "the worker's HTTPS_PROXY / HTTP_PROXY / NO_PROXY, if it has them"
    if proxy.startswith("direct"):
        proxy = "none (direct, whatever the account or the environment says)"
    return {"client": client, "proxy": proxy}


@role_required("operator")
@require_POST
def accept_drift(request: HttpRequest, name: str, pk: int) -> HttpResponse:
    service = get_object_or_404(Service, name=name)
    event = get_object_or_404(DriftEvent, pk=pk, service=service)
    try:
        check_services.accept_drift(actor=request.user, source="ui", event=event)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The current tool set of {service.name} is the baseline now.")
    return redirect(service)


@require_GET
def incidents(request: HttpRequest) -> HttpResponse:
    """Open incidents across the fleet, and those closed in the last 30 days."""
    since = timezone.now() - timedelta(days=INCIDENT_DAYS)
    base = Incident.objects.select_related("service")
    context = {
        "open": list(base.filter(closed_at=None).order_by("opened_at")),
        "closed": list(base.filter(closed_at__gte=since).order_by("-closed_at")[:100]),
        "days": INCIDENT_DAYS,
    }
    return render_page(request, "checks/incidents.html", "incident-tables", context)
