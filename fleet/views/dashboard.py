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


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    view = dashboard_view(request.GET, request.GET.get("page"), settings.FLEET_DASHBOARD_PAGE_SIZE)
    context = {
        "view": view,
        "sparklines": latency_sparklines(s.pk for s in view.page),
        "sort_fields": SORT_FIELDS,
        "refresh_seconds": settings.FLEET_DASHBOARD_REFRESH_SECONDS,
        "sweep_lag": sweep_lag_seconds(),
        "sweep_lag_limit": settings.FLEET_SWEEP_LAG_SECONDS,
    }
    return render_page(request, "fleet/dashboard.html", "fleet-update", context)
