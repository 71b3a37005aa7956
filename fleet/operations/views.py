"""Cloud pages: redeploy, release, rollback and canary (confirm, progress, list, rolling batches),
revisions, scaling, discovery.

Thin views: parse, call `fleet.operations.services`, render. Anyone signed in may look; changing
anything needs the operator role (403 otherwise).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from console.access import has_role, role_required
from console.htmx import render_page, wants_fragment
from console.models import Job
from console.origin import job_context, job_url
from fleet.models import CloudAccount, Service
from fleet.operations import releases
from fleet.operations import services as cs
from fleet.operations.clouds.errors import CloudError
from fleet.operations.models import IN_FLIGHT, Redeploy, RedeployBatch

RECENT = 50


def _cloud_service(name: str) -> Service:
    return get_object_or_404(Service.objects.select_related("account"), name=name)


def _first_error(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(f"{msgs[0]}" for msgs in exc.message_dict.values())
    return " ".join(exc.messages)


def _job_started(request: HttpRequest, service: Service, job: Job) -> HttpResponse:
    """htmx: the job's progress in place on the service page; otherwise its page, linking back."""
    origin = service.get_absolute_url()
    if wants_fragment(request):
        context = job_context(job, origin, in_place=True)
        return render_page(request, "console/job_detail.html", "job-status", context)
    return redirect(job_url(job.pk, origin))


def _refused(request: HttpRequest, service: Service, reason: str) -> HttpResponse:
    if wants_fragment(request):  # htmx swaps 200s only: the reason lands where progress would
        return HttpResponse(format_html('<p class="error" role="alert">{}</p>', reason))
    messages.error(request, reason)
    return redirect(service)


def _stop_when_done(request: HttpRequest, response: HttpResponse, done: bool) -> HttpResponse:
    """htmx polls a fragment until the run is over; 286 tells it to stop."""
    if wants_fragment(request) and done:
        stop = HttpResponseStopPolling(response.content)
        stop["Vary"] = response.get("Vary", "")
        return stop
    return response


# -- redeploy -------------------------------------------------------------------------------------
@role_required("operator")
@require_http_methods(["GET", "POST"])
def redeploy_confirm(request: HttpRequest, name: str) -> HttpResponse:
    """The confirm step: names service, platform and current revision; asks for a reason."""
    service = _cloud_service(name)
    error = ""
    if request.method == "POST":
        try:
            redeploy, created = cs.request_redeploy(
                service, request.user, request.POST.get("reason", ""), source="ui"
            )
        except ValidationError as exc:
            error = _first_error(exc)
        else:
            if not created:
                messages.info(
                    request,
                    f"A redeploy of {service.name} is already in flight (#{redeploy.pk}, "
                    f"requested by {redeploy.actor_label}); showing it instead of starting another.",
                )
            return redirect(redeploy)
    in_flight = cs.in_flight_redeploy(service)
    managed_error = "" if cs.is_cloud_managed(service) else _managed_problem(service)
    snapshot, read_error = getattr(service, "cloud_snapshot", None), ""
    if snapshot is None and not (managed_error or in_flight):
        # Never read yet (registered since the last sync): the confirm step must name the
        # revision it replaces, so read it now.
        try:
            snapshot = cs.sync_observed(service, actor="system", source="ui")
        except CloudError as exc:
            cs.record_sync_error(service, str(exc))
            read_error = str(exc)
    context = {
        "service": service,
        "snapshot": snapshot,
        "read_error": read_error,
        "in_flight": in_flight,
        "managed_error": managed_error,
        "error": error,
        "reason": request.POST.get("reason", ""),
    }
    status = 422 if error else 200
    return render(request, "clouds/redeploy_confirm.html", context, status=status)


def _managed_problem(service: Service) -> str:
    try:
        cs.check_cloud_managed(service)
    except ValidationError as exc:
        return _first_error(exc)
    return ""


@require_GET
def redeploy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    redeploy = get_object_or_404(
        Redeploy.objects.select_related("service__account", "batch"), pk=pk
    )
    response = render_page(
        request, "clouds/redeploy_detail.html", "redeploy-status", {"redeploy": redeploy}
    )
    return _stop_when_done(request, response, redeploy.is_finished)


@require_GET
def redeploy_list(request: HttpRequest) -> HttpResponse:
    """Running and recent redeploys, and the rolling-batch form for operators."""
    recent = Redeploy.objects.select_related("service", "batch").order_by("-created_at", "-id")
    context = {
        "running": recent.filter(status__in=IN_FLIGHT),
        "recent": recent.exclude(status__in=IN_FLIGHT)[:RECENT],
        "batches": RedeployBatch.objects.all()[:10],
        "candidates": _batch_candidates() if has_role(request.user, "operator") else [],
        "max_concurrency": cs.MAX_BATCH_CONCURRENCY,
        "accounts": CloudAccount.objects.exclude(provider="url").order_by("name"),
    }
    return render_page(request, "clouds/redeploy_list.html", "redeploy-tables", context)


def _batch_candidates():
    return (
        Service.objects.select_related("account")
        .exclude(account=None)
        .exclude(account__provider="url")
        .exclude(resource="")
        .order_by("name")
    )


@role_required("operator")
@require_POST
def redeploy_batch(request: HttpRequest) -> HttpResponse:
    names = list(dict.fromkeys(request.POST.getlist("services")))
    services = list(Service.objects.select_related("account").filter(name__in=names))
    missing = sorted(set(names) - {s.name for s in services})
    raw_concurrency = request.POST.get("concurrency", "").strip() or "1"
    try:
        concurrency = int(raw_concurrency)
    except ValueError:
        messages.error(request, f"Concurrency: '{raw_concurrency}' is not a whole number.")
        return redirect("redeploy-list")
    if missing:
        messages.error(request, f"Services: no service named {', '.join(missing)}.")
        return redirect("redeploy-list")
    try:
        batch, already = cs.request_batch_redeploy(
            services, request.user, request.POST.get("reason", ""), concurrency, source="ui"
        )
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
        return redirect("redeploy-list")
    if already:
        messages.info(
            request,
            "Already in flight, left alone: " + ", ".join(r.service.name for r in already) + ".",
        )
    return redirect("redeploy-batch-detail", pk=batch.pk)


@require_GET
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(RedeployBatch, pk=pk)
    redeploys = batch.redeploys.select_related("service").order_by("pk")
    done = batch.status not in IN_FLIGHT
    response = render_page(
        request,
        "clouds/batch_detail.html",
        "batch-status",
        {"batch": batch, "redeploys": redeploys, "done": done},
    )
    return _stop_when_done(request, response, done)


# -- scaling and snapshots ------------------------------------------------------------------------
@role_required("operator")
@require_http_methods(["GET", "POST"])
def scaling_edit(request: HttpRequest, name: str) -> HttpResponse:
    """Set desired scaling: every field optional, errors on the field they concern."""
    service = _cloud_service(name)
    scaling = cs.scaling_for(service) if cs.is_cloud_managed(service) else None
    errors: dict[str, str] = {}
    fields = cs.scaling_fields_for(service.provider)
    values = {f: request.POST.get(f, "").strip() for f in fields}
    if request.method == "POST":
        try:
            cs.set_desired_scaling(service, request.user, values, source="ui")
        except ValidationError as exc:
            errors = {k: " ".join(v) for k, v in exc.message_dict.items()}
        else:
            messages.success(
                request,
                f"Desired scaling saved for {service.name}. Apply it to push it to the cloud.",
            )
            return redirect(service)
    elif scaling is not None:
        values = {f: "" if v is None else v for f, v in scaling.desired().items()}
    context = {
        "service": service,
        "scaling": scaling,
        "fields": [
            (f, values.get(f, ""), errors.get(f, ""), scaling.observed()[f] if scaling else None)
            for f in fields
        ],
        "errors": errors,
        "managed_error": "" if scaling is not None else _managed_problem(service),
    }
    return render(request, "clouds/scaling_form.html", context, status=422 if errors else 200)


@role_required("operator")
@require_POST
def scaling_apply(request: HttpRequest, name: str) -> HttpResponse:
    service = _cloud_service(name)
    try:
        job = cs.apply_scaling(service, request.user, source="ui")
    except ValidationError as exc:
        return _refused(request, service, _first_error(exc))
    return _job_started(request, service, job)


@role_required("operator")
@require_POST
def cloud_sync(request: HttpRequest, name: str) -> HttpResponse:
    service = _cloud_service(name)
    try:
        job = cs.request_sync(service, request.user)
    except ValidationError as exc:
        return _refused(request, service, _first_error(exc))
    return _job_started(request, service, job)


# -- discovery ------------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def discover(request: HttpRequest, name: str) -> HttpResponse:
    """List the account's services live from its cloud; operators register the chosen ones."""
    account = get_object_or_404(CloudAccount, name=name)
    if request.method == "POST" and not has_role(request.user, "operator"):
        raise PermissionDenied("This needs the operator role.")
    label = (
        request.POST.get("label") if request.method == "POST" else request.GET.get("label")
    ) or ""
    context: dict = {"account": account, "label": label, "rows": [], "error": "", "chosen": []}
    try:
        rows = cs.discover(account, label)
    except (CloudError, ValidationError) as exc:
        context["error"] = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
        return render(
            request,
            "clouds/discover.html",
            context,
            status=502 if isinstance(exc, CloudError) else 422,
        )
    context["rows"] = rows
    if request.method == "POST":
        chosen = set(request.POST.getlist("resources"))
        context["chosen"] = chosen
        typed = {key: request.POST.get(f"url:{key}", "").strip() for key in chosen}
        try:
            created = cs.import_discovered(
                account,
                [r for r in rows if r.key in chosen],
                request.user,
                source="ui",
                urls={key: url for key, url in typed.items() if url},
            )
        except ValidationError as exc:
            context["error"] = _first_error(exc)
            for row in rows:  # show what was typed again, next to the error
                row.url = typed.get(row.key) or row.url
            return render(request, "clouds/discover.html", context, status=422)
        messages.success(
            request, f"Registered {len(created)} service(s): {', '.join(s.name for s in created)}."
        )
        return redirect(f"{request.path}?{urlencode({'label': label})}" if label else request.path)
    return render(request, "clouds/discover.html", context)


# -- releases, rollbacks, canaries ------------------------------------------------------------------
RELEASE_FIELDS = ("image", "container", "canary_percent", "canary_watch_s", "reason")


def _field_errors(exc: ValidationError) -> dict[str, str]:
    if hasattr(exc, "error_dict"):
        return {k: " ".join(v) for k, v in exc.message_dict.items()}
    return {"__all__": " ".join(exc.messages)}


@role_required("operator")
@require_http_methods(["GET", "POST"])
def release_form(request: HttpRequest, name: str) -> HttpResponse:
    """Deploy a new image: the current image and revision, the new one, optionally a canary."""
    service = _cloud_service(name)
    values = {f: request.POST.get(f, "").strip() for f in RELEASE_FIELDS}
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            redeploy, created = releases.request_release(
                service,
                request.user,
                values["image"],
                reason=values["reason"],
                canary_percent=values["canary_percent"] or None,
                canary_watch_s=values["canary_watch_s"] or None,
                container=values["container"],
                source="ui",
            )
        except ValidationError as exc:
            errors = _field_errors(exc)
        else:
            if not created:
                messages.info(
                    request,
                    f"A {redeploy.label.lower()} of {service.name} is already in flight "
                    f"(#{redeploy.pk}); showing it instead of starting another.",
                )
            return redirect(redeploy)
    managed_error = "" if cs.is_cloud_managed(service) else _managed_problem(service)
    split, split_note = None, ""
    if not managed_error:
        adapter = cs.adapter_for_service(service)
        try:
            split = adapter.supports_traffic_split(service.to_ref())
        except CloudError as exc:
            split_note = f"Could not tell whether it can split traffic: {exc}"
        if split is False:
            split_note = getattr(adapter, "no_traffic_split_reason", "") or "no traffic split"
    context = {
        "service": service,
        "snapshot": getattr(service, "cloud_snapshot", None),
        "values": values,
        "errors": errors,
        "managed_error": managed_error,
        "in_flight": cs.in_flight_redeploy(service),
        "can_split": split,
        "split_note": split_note,
        "watch_default": releases.canary_watch_default(),
    }
    return render(request, "clouds/release_form.html", context, status=422 if errors else 200)


@require_GET
def revisions(request: HttpRequest, name: str) -> HttpResponse:
    """Recorded revisions, read live from the cloud, with one-click rollback for operators."""
    service = _cloud_service(name)
    found, error = [], ""
    managed_error = "" if cs.is_cloud_managed(service) else _managed_problem(service)
    if not managed_error:
        try:
            found = releases.list_revisions(service)
        except CloudError as exc:
            error = str(exc)
    context = {
        "service": service,
        "revisions": found,
        "error": error,
        "managed_error": managed_error,
        "history": service.redeploys.select_related("service").order_by("-created_at", "-id")[
            :RECENT
        ],
        "in_flight": cs.in_flight_redeploy(service),
    }
    return render(request, "clouds/revisions.html", context, status=502 if error else 200)


@role_required("operator")
@require_POST
def rollback(request: HttpRequest, name: str) -> HttpResponse:
    service = _cloud_service(name)
    try:
        redeploy, created = releases.request_rollback(
            service,
            request.user,
            request.POST.get("revision", ""),
            reason=request.POST.get("reason", ""),
            source="ui",
        )
    except ValidationError as exc:
        messages.error(request, _first_error(exc))
        return redirect("service-revisions", name=service.name)
    if not created:
        messages.info(
            request,
            f"A {redeploy.label.lower()} of {service.name} is already in flight (#{redeploy.pk}).",
        )
    return redirect(redeploy)


BATCH_FIELDS = ("team", "tag", "image", "image_tag", "concurrency", "reason")


@role_required("operator")
@require_http_methods(["GET", "POST"])
def release_batch(request: HttpRequest) -> HttpResponse:
    """A rolling release: choose services (names, team, tag), see the dry run, then start it."""
    values = {f: request.POST.get(f, "").strip() for f in BATCH_FIELDS}
    chosen = request.POST.getlist("services")
    context: dict = {
        "values": values,
        "chosen": set(chosen),
        "candidates": _batch_candidates(),
        "max_concurrency": cs.MAX_BATCH_CONCURRENCY,
        "plan": [],
        "errors": {},
    }
    if request.method == "GET":
        return render(request, "clouds/release_batch.html", context)
    try:
        services = releases.select_services(chosen, team=values["team"], tag=values["tag"])
        if "start" not in request.POST:
            context["plan"] = releases.plan_batch_release(
                services, image=values["image"], image_tag=values["image_tag"]
            )
            return render(request, "clouds/release_batch.html", context)
        try:
            concurrency = int(values["concurrency"] or "1")
        except ValueError:
            raise ValidationError(
                {"concurrency": f"'{values['concurrency']}' is not a whole number."}
            ) from None
        batch, _plan = releases.request_batch_release(
            services,
            request.user,
            image=values["image"],
            image_tag=values["image_tag"],
            reason=values["reason"],
            concurrency=concurrency,
            source="ui",
        )
    except ValidationError as exc:
        context["errors"] = _field_errors(exc)
        return render(request, "clouds/release_batch.html", context, status=422)
    return redirect("redeploy-batch-detail", pk=batch.pk)
