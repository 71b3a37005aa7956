"""Observed CPU and memory use of Container Apps, from Azure Monitor platform metrics.

Microsoft.App/containerApps records `UsageNanoCores` (CPU, 1e9 nanocores = 1 core) and
`WorkingSetBytes` (memory), per replica every minute, with Average, Total, Maximum and Minimum
aggregations (https://learn.microsoft.com/en-us/azure/azure-monitor/reference/supported-metrics/
microsoft-app-containerapps-metrics). The subscription-scope metrics query per region that already
reads Requests (container_apps.read_region_metrics), split by the `Microsoft.ResourceId`
dimension, asks both metrics too (https://learn.microsoft.com/en-us/rest/api/monitor/metrics/
list-at-subscription-scope: comma-separated `metricnames` and `aggregation`): daily `Maximum`
buckets, of which the highest is the busiest replica's peak over the window. Container
Apps reserves and bills the template's cpu/memory per replica, so that allocation is both the
"request" and the "limit" the rules compare with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from checks.audits.evidence import Observation, Provenance
from checks.audits.readers.kubernetes import quantity

CPU_METRIC = "UsageNanoCores"
MEMORY_METRIC = "WorkingSetBytes"
METRIC_NAMES = f"{CPU_METRIC},{MEMORY_METRIC}"
USAGE_DAYS = 7
NANO = 1e-9


@dataclass
class Peaks:
    """Per app (lower-case ARM id): {"cpu": peak cores, "memory": peak bytes}."""

    found: dict[str, dict[str, float]] = field(default_factory=dict)
    capped: bool = False  # the answer held `top` series: apps past the cap were not returned


def peaks(metrics: list[Any], cap: int) -> Peaks:
    """Each app's highest daily Maximum of both metrics, from a metrics answer's `value`."""
    found = Peaks()
    for metric in metrics:
        name = metric.name.value if metric.name else ""
        if name not in (CPU_METRIC, MEMORY_METRIC):
            continue
        key, scale = ("cpu", NANO) if name == CPU_METRIC else ("memory", 1.0)
        series = metric.timeseries or []
        found.capped = found.capped or len(series) >= cap
        for one in series:
            resource = resource_of(one)
            values = [p.maximum for p in one.data or [] if p.maximum is not None]
            if resource and values:
                found.found.setdefault(resource.lower(), {})[key] = max(values) * scale
    return found


def resource_of(series: Any) -> str:
    """The ARM id a series of a `Microsoft.ResourceId`-split answer belongs to."""
    return next(
        (m.value for m in series.metadatavalues or [] if m.name.value == "Microsoft.ResourceId"),
        "",
    )


def allocation(raw: dict) -> tuple[float | None, float | None]:
    """The cores and bytes the template reserves per replica (summed over its containers)."""
    template = raw.get("template") or (raw.get("properties") or {}).get("template") or {}
    cpu, memory = 0.0, 0.0
    for container in template.get("containers") or []:
        resources = container.get("resources") or {}
        cpu += float(resources.get("cpu") or 0)
        memory += quantity(resources.get("memory")) or 0.0
    return cpu or None, memory or None


def usage(peaks: Peaks | str, raw: dict, origin: Provenance) -> Observation | str:
    """The app's peak use against its allocation, in cores and bytes (the rules' shape)."""
    if isinstance(peaks, str):
        return peaks
    found = peaks.found.get((raw.get("id") or "").lower())
    if not found:
        if peaks.capped:
            return (
                "the region holds more apps with CPU/memory series than one answer returns and "
                "this one was not among them"
            )
        return (
            f"Azure Monitor has no {CPU_METRIC} or {MEMORY_METRIC} points for the app in "
            f"{USAGE_DAYS} days (scaled to zero all along, or new)"
        )
    cpu, memory = allocation(raw)
    if not cpu or not memory:
        return "the app's template reports no cpu or memory to compare its use with"
    value = {
        "cpu": found.get("cpu"),
        "memory": found.get("memory"),
        "cpu_request": cpu,  # Container Apps reserves (and bills) the allocation per replica
        "memory_request": memory,
        "cpu_limit": cpu,
        "memory_limit": memory,
        "window": f"peak over {USAGE_DAYS} days",
    }
    parts = []
    if "cpu" in found:
        parts.append(f"cpu {found['cpu']:.3g} of {cpu:g} cores ({found['cpu'] / cpu:.0%})")
    if "memory" in found:
        parts.append(
            f"memory {found['memory'] / 1024**2:.0f}Mi of {memory / 1024**2:.0f}Mi "
            f"({found['memory'] / memory:.0%})"
        )
    summary = f"busiest replica's peak ({CPU_METRIC}/{MEMORY_METRIC} daily Maximum, "
    return Observation(value, origin, f"{summary}{USAGE_DAYS} days): {'; '.join(parts)}")
