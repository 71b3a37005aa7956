"""Prometheus metrics: request counts (this process), background job counts and fleet gauges (DB)."""

from __future__ import annotations

import time

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from console.api_auth import TokenThrottled, user_from_bearer

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "fleet_console_http_requests",
    "HTTP requests served by this web process.",
    ["method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "fleet_console_http_request_seconds",
    "Server time per HTTP request.",
    ["method"],
    registry=REGISTRY,
)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        LATENCY.labels(request.method).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, str(response.status_code)).inc()
        return response


class DatabaseCollector:
    """Reads fleet status and job counts at scrape time, so every process reports the same."""

    def describe(self):
        # Registration would otherwise call collect() and hit the database at import time.
        return []

    def collect(self):
        from django.db.models import Count

        from console.models import Job
        from fleet.models import Service

        services = GaugeMetricFamily(
            "fleet_services",
            "Registered services by health status and kind.",
            labels=["status", "kind"],
        )
        for row in Service.objects.order_by().values("status", "kind").annotate(n=Count("id")):
            services.add_metric([row["status"], row["kind"]], row["n"])
        yield services
        jobs = GaugeMetricFamily(
            "fleet_console_jobs",
            "Background jobs recorded, by task name and status.",
            labels=["name", "status"],
        )
        for row in Job.objects.order_by().values("name", "status").annotate(n=Count("id")):
            jobs.add_metric([row["name"], row["status"]], row["n"])
        yield jobs
        yield self._sweep()
        yield self._task_runs()

    def _sweep(self) -> GaugeMetricFamily:
        from checks.sweep_db import sweep_lag_seconds

        lag = GaugeMetricFamily(
            "fleet_sweep_lag_seconds",
            "How long the oldest due health check has waited for a worker (0: on time). "
            "Growing: the workers cannot keep up with the fleet's check intervals.",
        )
        lag.add_metric([], sweep_lag_seconds())
        return lag

    def _task_runs(self) -> CounterMetricFamily:
        from console.celery import app
        from console.task_metrics import task_counts

        runs = CounterMetricFamily(
            "fleet_console_celery_tasks",
            "Celery task runs finished by any worker, by task and final state.",
            labels=["task", "state"],
        )
        names = sorted(n for n in app.tasks if not n.startswith("celery."))
        for (name, state), n in sorted(task_counts(names).items()):
            runs.add_metric([name, state], n)
        return runs


REGISTRY.register(DatabaseCollector())


@login_not_required  # checks a session or a bearer token itself, answering 401
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; a signed-in user or an API bearer token (for scrapers)."""
    try:
        bearer_user = None if request.user.is_authenticated else user_from_bearer(request)
    except TokenThrottled as exc:
        return HttpResponse(f"{exc}\n", status=429, content_type="text/plain")
    if not request.user.is_authenticated and bearer_user is None:
        return HttpResponse(
            "Authentication required: send an API token as a Bearer header.\n",
            status=401,
            content_type="text/plain",
        )
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
