"""Usage over a period, for spend estimates: measured on Cloud Run, requested elsewhere.

Cloud Run reports billable instance time and request counts to Cloud Monitoring, so GCP spend is
estimated from those (the Budgets API does not report spend). Kubernetes and Container Apps
usage is derived from what the service requests (cpu/memory x instances x hours): an upper
bound for Container Apps, and what a node pool reserves for Kubernetes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import grpc
from google.api_core import exceptions as gexc
from google.auth.credentials import Credentials
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import (
    MetricServiceGrpcTransport,
)

from fleet.costs.errors import DEFAULT_RETRY, Cause, CostInputError, RetryPolicy, call_provider
from fleet.costs.pricing import parse_cpu, parse_memory
from fleet.operations.clouds.types import ScalingSettings, UsageSample

BILLABLE_TIME = "run.googleapis.com/container/billable_instance_time"
REQUEST_COUNT = "run.googleapis.com/request_count"
_SERVICE_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")  # Cloud Run's naming rule


def metric_client(
    *, endpoint: str = "", credentials: Credentials | None = None
) -> monitoring_v3.MetricServiceClient:
    """A client on the standard chain, or over plaintext gRPC to `endpoint` (host:port, tests)."""
    if endpoint:
        # The Monitoring client has no REST transport; an explicit channel skips credentials.
        channel = grpc.insecure_channel(endpoint.removeprefix("http://"))
        return monitoring_v3.MetricServiceClient(
            transport=MetricServiceGrpcTransport(channel=channel)
        )
    return monitoring_v3.MetricServiceClient(credentials=credentials)


def _classify(exc: BaseException) -> tuple[Cause, str] | None:
    if not isinstance(exc, gexc.GoogleAPIError):
        return None
    detail = getattr(exc, "message", None) or str(exc)
    for kind, cause in (
        (gexc.PermissionDenied, "permission"),
        (gexc.Unauthenticated, "permission"),
        (gexc.NotFound, "not_found"),
        (gexc.ResourceExhausted, "throttled"),
        (gexc.ServiceUnavailable, "unavailable"),
        (gexc.DeadlineExceeded, "unavailable"),
        (gexc.ServerError, "server"),
        (gexc.InvalidArgument, "invalid"),
    ):
        if isinstance(exc, kind):
            return cause, detail
    return "other", detail


def _sum_metric(
    client: monitoring_v3.MetricServiceClient,
    project: str,
    metric_type: str,
    service: str,
    interval: monitoring_v3.TimeInterval,
    retry: RetryPolicy,
) -> float:
    """Sum every point of every series of one metric for one service."""
    request = monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=(
            f'metric.type = "{metric_type}" AND resource.type = "cloud_run_revision" '
            f'AND resource.labels.service_name = "{service}"'
        ),
        interval=interval,
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )

    def fetch() -> float:
        total = 0.0
        for series in client.list_time_series(request=request, retry=None):
            for point in series.points:
                value = point.value
                total += value.double_value if "double_value" in value else value.int64_value
        return total

    return call_provider(
        fetch,
        provider="gcp monitoring",
        operation=f"read {metric_type}",
        resource=f"projects/{project} service {service}",
        classify=_classify,
        retry=retry,
    )


def cloud_run_usage(
    project: str,
    service: str,
    start: datetime,
    end: datetime,
    *,
    scaling: ScalingSettings | None = None,
    client: monitoring_v3.MetricServiceClient | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> UsageSample:
    """Billable instance seconds and requests of a Cloud Run service between start and end.

    With `scaling` (its cpu and memory), vCPU- and GiB-seconds are filled in too, which is what
    `estimate_from_usage` needs; without it only instance time and requests are known.
    """
    if not _SERVICE_NAME.match(service):
        raise CostInputError("service", f"{service!r} is not a Cloud Run service name")
    if end <= start:
        raise CostInputError("end", "must be after start")
    client = client or metric_client()
    interval = monitoring_v3.TimeInterval(start_time=start, end_time=end)
    seconds = _sum_metric(client, project, BILLABLE_TIME, service, interval, retry)
    requests = _sum_metric(client, project, REQUEST_COUNT, service, interval, retry)
    sample = UsageSample(
        start=start.isoformat(),
        end=end.isoformat(),
        instance_seconds=seconds,
        requests=int(requests),
    )
    if scaling is not None:
        vcpus = parse_cpu(scaling.cpu or "", provider="gcp")
        gib = parse_memory(scaling.memory or "", provider="gcp")
        sample.vcpu_seconds = float(Decimal(repr(seconds)) * vcpus)
        sample.gib_seconds = float(Decimal(repr(seconds)) * gib)
    return sample


def requested_usage(
    scaling: ScalingSettings,
    hours: float,
    *,
    provider: str = "kubernetes",
    instances: float | None = None,
    start: datetime | None = None,
) -> UsageSample:
    """Usage implied by requested cpu/memory x instances x hours (Kubernetes, Container Apps).

    `instances` defaults to min instances (the replicas always kept), else max instances; pass
    the observed replica count when known.
    """
    if hours <= 0:
        raise CostInputError("hours", f"must be more than zero, got {hours}")
    count = instances if instances is not None else scaling.min_instances or scaling.max_instances
    if count is None or count < 0:
        raise CostInputError("instances", "unknown: set min/max instances or pass instances")
    vcpus = parse_cpu(scaling.cpu or "", provider=provider)
    gib = parse_memory(scaling.memory or "", provider=provider)
    instance_seconds = Decimal(repr(float(count))) * Decimal(repr(float(hours))) * 3600
    begin = start.isoformat() if start else ""
    finish = (start + timedelta(hours=hours)).isoformat() if start else ""
    return UsageSample(
        start=begin,
        end=finish,
        instance_seconds=float(instance_seconds),
        vcpu_seconds=float(instance_seconds * vcpus),
        gib_seconds=float(instance_seconds * gib),
    )
