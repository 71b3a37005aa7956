"""Service pages: detail with dependencies, and create/edit/delete for operators."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from console.access import role_required
from console.htmx import render_page, wants_fragment
from console.models import AuditLogEntry
from fleet import services as fleet_services
from fleet.dashboard import blast_radius
from fleet.forms import ServiceForm
from fleet.models import Service


@require_GET
def service_detail(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("account"), name=name)
    context = {
        "service": service,
        "calls": service.dependencies.order_by("name"),
        "called_by": service.dependents.order_by("name"),
        "blast_radius": blast_radius(service),
        "history": AuditLogEntry.objects.filter(object_type="service", object_id=str(service.pk))[
            :10
        ],
    }
    return render_page(request, "fleet/service_detail.html", "service-status", context)


def _save(request: HttpRequest, form: ServiceForm, instance: Service | None) -> Service | None:
    """Validate through the service layer; errors land on the form's fields."""
    if not form.is_valid():
        return None
    try:
        if request.POST.get("_validate"):
            fleet_services.prepare_service(form.spec(), instance)
            return None
        return fleet_services.save_service(
            actor=request.user, source="ui", spec=form.spec(), instance=instance
        )
    except ValidationError as exc:
        form.add_error(None, exc)
        return None


@role_required("operator")
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, name: str | None = None) -> HttpResponse:
    instance = get_object_or_404(Service, name=name) if name else None
    if request.method == "POST":
        form = ServiceForm(request.POST)
        saved = _save(request, form, instance)
        if saved is not None:
            messages.success(request, f"Saved {saved.name}.")
            return redirect(saved)
    elif instance:
        form = ServiceForm(initial=fleet_services.service_state(instance))
    else:
        form = ServiceForm()
    # Inline validation (htmx) re-renders just the form; htmx swaps only 2xx, so it gets 200.
    context = {"form": form, "service": instance}
    if wants_fragment(request):
        return render(request, "fleet/service_form.html#service-form", context)
    status = 422 if request.method == "POST" and form.errors else 200
    return render(request, "fleet/service_form.html", context, status=status)


@role_required("operator")
@require_POST
def service_delete(request: HttpRequest, name: str) -> HttpResponse:
    service = get_object_or_404(Service, name=name)
    fleet_services.delete_service(actor=request.user, source="ui", service=service)
    messages.success(request, f"Deleted {name}.")
    return redirect("dashboard")
