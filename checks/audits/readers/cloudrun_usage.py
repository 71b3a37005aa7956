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

from datetime import datetime
from typing import Any

from checks.audits.evidence import Observation, Provenance
from checks.audits.readers.cloudrun_traffic import per_service_series
from checks.audits.readers.kubernetes import quantity

CPU_UTILIZATION = "run.googleapis.com/container/cpu/utilizations"
MEMORY_UTILIZATION = "run.googleapis.com/container/memory/utilizations"
USAGE_DAYS = 7


def read_utilizations(client: Any, project: str, read_at: datetime) -> dict[str, dict[str, float]]:
    """Per Cloud Run service name: {"cpu": p99 share of the limit, "memory": ...}."""
    found: dict[str, dict[str, float]] = {}
    for key, metric in (("cpu", CPU_UTILIZATION), ("memory", MEMORY_UTILIZATION)):
        series_found = per_service_series(
            client, project, metric, read_at, USAGE_DAYS, "ALIGN_PERCENTILE_99", "REDUCE_MAX"
        )
        for series in series_found:
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
