"""The fleet dashboard: full page on first load, the table fragment on htmx refreshes."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from checks.sparklines import latency_sparklines
from checks.sweep_db import sweep_lag_seconds
from console.htmx import render_page
from fleet.dashboard import dashboard_view
from fleet.filters import SORT_FIELDS
from fleet.saved_views.services import visible_views


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    view = dashboard_view(request.GET, request.GET.get("page"), settings.FLEET_DASHBOARD_PAGE_SIZE)
    current = request.GET.copy()
    current.pop("page", None)
    context = {
        "view": view,
        "sparklines": latency_sparklines(s.pk for s in view.page),
        "sort_fields": SORT_FIELDS,
        # Read only by the full page (the fragment does not list them): one query, not per view.
        "saved_views": visible_views(request.user),
        "current_query": current.urlencode(),
        "refresh_seconds": settings.FLEET_DASHBOARD_REFRESH_SECONDS,
        "sweep_lag": sweep_lag_seconds(),
        "sweep_lag_limit": settings.FLEET_SWEEP_LAG_SECONDS,
    }
    return render_page(request, "fleet/dashboard.html", "fleet-update", context)
