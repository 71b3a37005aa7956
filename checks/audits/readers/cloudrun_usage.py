"""Observed CPU and memory use of Cloud Run services, from Cloud Monitoring's distributions.

Cloud Run records `run.googleapis.com/container/cpu/utilizations` and
`.../memory/utilizations`: DELTA DISTRIBUTION metrics of each instance's use as a fraction of its
configured limit (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run). One
`timeSeries.list` per metric and project, aligned with ALIGN_PERCENTILE_99 over the whole window
and reduced with REDUCE_MAX by `resource.labels.service_name`, gives every service's busiest
revision's 99th percentile in two calls, whatever the number of services. Cloud Run reserves the
limit for each instance, so the limit is also what is paid for (the "request").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from checks.audits.evidence import Observation, Provenance
from checks.audits.readers.kubernetes import quantity

CPU_UTILIZATION = "run.googleapis.com/container/cpu/utilizations"
MEMORY_UTILIZATION = "run.googleapis.com/container/memory/utilizations"
USAGE_DAYS = 7
TIMEOUT_S = 15


def read_utilizations(client: Any, project: str, read_at: datetime) -> dict[str, dict[str, float]]:
    """Per Cloud Run service name: {"cpu": p99 share of the limit, "memory": ...}."""
    from google.cloud import monitoring_v3
    from google.protobuf import duration_pb2

    found: dict[str, dict[str, float]] = {}
    window = timedelta(days=USAGE_DAYS)
    for key, metric in (("cpu", CPU_UTILIZATION), ("memory", MEMORY_UTILIZATION)):
        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{project}",
            filter=f'metric.type = "{metric}" AND resource.type = "cloud_run_revision"',
            interval=monitoring_v3.TimeInterval(start_time=read_at - window, end_time=read_at),
            aggregation=monitoring_v3.Aggregation(
                alignment_period=duration_pb2.Duration(seconds=int(window.total_seconds())),
                per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_PERCENTILE_99,
                cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_MAX,
                group_by_fields=["resource.labels.service_name"],
            ),
            view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
        )
        for series in client.list_time_series(request=request, retry=None, timeout=TIMEOUT_S):
            name = series.resource.labels.get("service_name", "")
            values = [p.value.double_value for p in series.points]
            if name and values:
                found.setdefault(name, {})[key] = max(values)
    return found


def usage(
    shares: dict[str, float] | None, cpu: str | None, memory: str | None, origin: Provenance
) -> Observation | str:
    """The service's observed use against its limits, in cores and bytes (the rules' shape)."""
    if not shares:
        return f"Cloud Monitoring has no CPU or memory utilization points in {USAGE_DAYS} days"
    cpu_limit, memory_limit = quantity(cpu), quantity(memory)
    if not cpu_limit or not memory_limit:
        return "the service reports no CPU or memory limit to compare its use with"
    cpu_used = shares["cpu"] * cpu_limit if "cpu" in shares else None
    memory_used = shares["memory"] * memory_limit if "memory" in shares else None
    value = {
        "cpu": cpu_used,
        "memory": memory_used,
        "cpu_request": cpu_limit,  # Cloud Run reserves (and bills) the limit per instance
        "memory_request": memory_limit,
        "cpu_limit": cpu_limit,
        "memory_limit": memory_limit,
        "window": f"p99 over {USAGE_DAYS} days",
    }
    parts = [
        f"{name} p99 {shares[name]:.0%} of the {limit} limit"
        for name, limit in (("cpu", cpu), ("memory", memory))
        if name in shares
    ]
    return Observation(value, origin, f"busiest revision: {'; '.join(parts)} ({USAGE_DAYS} days)")
