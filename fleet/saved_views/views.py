"""Saved-view pages: list (own and shared), save from the dashboard, delete. Open is a link."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from fleet.saved_views import services


@require_http_methods(["GET", "POST"])
def saved_view_list(request: HttpRequest) -> HttpResponse:
    """GET: the views this user can open. POST: save the dashboard's current query under a name."""
    context: dict = {"errors": {}, "values": {"name": "", "query": "", "shared": False}}
    if request.method == "POST":
        values = {
            "name": request.POST.get("name", ""),
            "query": request.POST.get("query", ""),
            "shared": request.POST.get("shared") == "on",
        }
        try:
            view = services.save_view(request.user, "ui", **values)
        except ValidationError as exc:
            context.update(errors={k: v[0] for k, v in exc.message_dict.items()}, values=values)
        else:
            messages.success(request, f"Saved the view “{view.name}”.")
            return redirect(view.dashboard_url())
    context["views"] = services.visible_views(request.user)
    context["deletable"] = set(services.deletable_views(request.user).values_list("pk", flat=True))
    status = 422 if context["errors"] else 200
    return render(request, "saved_views/list.html", context, status=status)


@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(services.deletable_views(request.user).select_related("owner"), pk=pk)
    services.delete_view(request.user, "ui", view)
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect("saved-view-list")
