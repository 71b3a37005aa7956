"""Observed CPU and memory use of ECS services, from CloudWatch's AWS/ECS service metrics.

ECS publishes `CPUUtilization` and `MemoryUtilization` per service (dimensions ClusterName,
ServiceName) every minute while tasks run: the CPU units / MiB the tasks use as a percentage of
what the task definition reserves for them; it can pass 100 where a container has no hard limit
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cloudwatch-metrics.html). The
account's batch (ecs._Account.read_batches) asks both metrics of every service in GetMetricData
calls of up to 500 queries (daily Maximum over USAGE_DAYS), so 750 services cost 3 calls, not
1,500. The highest daily Maximum is the busiest moment; ECS reserves (and Fargate bills) the task
definition's cpu/memory, so that reservation is both the "request" and the "limit" the rules
compare with.
"""

from __future__ import annotations

from typing import Any

from checks.audits.evidence import Observation, Provenance

USAGE_DAYS = 7
METRICS = (("cpu", "CPUUtilization"), ("memory", "MemoryUtilization"))
MIB = 1024**2
# One vCPU is 1,024 CPU units (TaskDefinition.cpu).
# https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskDefinition.html
UNITS_PER_VCPU = 1024


def cluster_name(raw: dict) -> str:
    """The ClusterName dimension: the last part of the service's clusterArn."""
    arn = (raw.get("service") or {}).get("clusterArn") or ""
    return arn.rsplit("/", 1)[-1]


def service_key(raw: dict) -> tuple[str, str]:
    """(ClusterName, ServiceName) of a described service."""
    return cluster_name(raw), (raw.get("service") or {}).get("serviceName") or ""


def queries(key: tuple[str, str]) -> list[dict]:
    """The two MetricStat queries (cpu, memory) of one service: daily Maximum."""
    cluster, service = key
    dims = [{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}]
    return [
        {
            "MetricStat": {
                "Metric": {"Namespace": "AWS/ECS", "MetricName": metric, "Dimensions": dims},
                "Period": 86400,
                "Stat": "Maximum",
            },
            "ReturnData": True,
        }
        for _, metric in METRICS
    ]


def peaks(values: list[list[float]]) -> dict[str, float]:
    """{"cpu": highest percent, "memory": ...} from the two queries' values; a metric without
    points is left out."""
    return {key: max(found) for (key, _), found in zip(METRICS, values, strict=True) if found}


def reservation(task_definition: dict) -> tuple[float | None, float | None]:
    """vCPUs and bytes the task definition reserves per task: the task-level cpu/memory, else
    the containers' own (memory, or memoryReservation when only the soft limit is set)."""
    containers = task_definition.get("containerDefinitions") or []
    units = _number(task_definition.get("cpu")) or sum(
        _number(c.get("cpu")) or 0.0 for c in containers
    )
    mib = _number(task_definition.get("memory")) or sum(
        _number(c.get("memory")) or _number(c.get("memoryReservation")) or 0.0 for c in containers
    )
    return (units / UNITS_PER_VCPU or None), (mib * MIB or None)


def _number(value: Any) -> float | None:
    """A task definition figure ("256", 512, "1 vCPU" is refused by ECS and read as unset)."""
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def usage(found: dict[str, float], raw: dict, origin: Provenance) -> Observation | str:
    """The service's peak use against its reservation, in vCPUs and bytes (the rules' shape)."""
    if not found:
        return no_points(raw)
    cpu, memory = reservation(raw.get("taskDefinition") or {})
    if not cpu or not memory:
        return "the task definition reserves no cpu or memory to compare the service's use with"
    used_cpu = found["cpu"] / 100 * cpu if "cpu" in found else None
    used_memory = found["memory"] / 100 * memory if "memory" in found else None
    value = {
        "cpu": used_cpu,
        "memory": used_memory,
        "cpu_request": cpu,  # ECS reserves (and Fargate bills) the task definition's figures
        "memory_request": memory,
        "cpu_limit": cpu,
        "memory_limit": memory,
        "window": f"peak over {USAGE_DAYS} days",
    }
    parts = []
    if used_cpu is not None:
        parts.append(f"cpu {used_cpu:.3g} of {cpu:g} vCPU ({found['cpu'] / 100:.0%})")
    if used_memory is not None:
        parts.append(
            f"memory {used_memory / MIB:.0f}Mi of {memory / MIB:.0f}Mi "
            f"({found['memory'] / 100:.0%})"
        )
    summary = f"busiest moment (CPUUtilization/MemoryUtilization daily Maximum, {USAGE_DAYS} days)"
    return Observation(value, origin, f"{summary}: {'; '.join(parts)}")


def metrics(found: dict[str, float], raw: dict, origin: Provenance) -> Observation | str:
    """ECS's own service metrics exist for the service: collected by the platform."""
    if not found:
        return no_points(raw)
    names = ", ".join(m for k, m in METRICS if k in found)
    return Observation(
        True,
        origin,
        f"CloudWatch holds the service's AWS/ECS {names} in the last {USAGE_DAYS} days",
    )


def no_points(raw: dict) -> str:
    cluster, service = service_key(raw)
    return (
        f"CloudWatch has no AWS/ECS CPUUtilization or MemoryUtilization points for {cluster}/"
        f"{service} in {USAGE_DAYS} days (no task ran in the window, or the service is new)"
    )
