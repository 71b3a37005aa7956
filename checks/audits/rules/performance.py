"""Performance rules: resource limits, latency, pooling, caching and load tests."""

from __future__ import annotations

from checks.audits.evidence import USAGE, Evidence
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    failed,
    missing_snapshot,
    no_evidence,
    passed,
    snap,
    warned,
)

SECTION = "performance"


NEAR_LIMIT = 0.9  # observed use above this share of a limit: throttled or about to be OOM-killed


def check_resource_limits(ev: Evidence) -> Finding:
    """CPU and memory are set explicitly, and observed use stays clear of the limits."""
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    cpu, memory = snapshot.scaling.cpu, snapshot.scaling.memory
    items = [snap(ev, "cpu", cpu), snap(ev, "memory", memory)]
    unset = [name for name, value in (("CPU", cpu), ("memory", memory)) if not value]
    if unset:
        return failed(
            f"No {' or '.join(unset)} limit is set: one busy instance can starve its neighbours "
            "or be killed unpredictably.",
            *items,
        )
    observation = ev.observed(USAGE)
    if observation is None:
        return passed(
            f"Limits are set (cpu {cpu}, memory {memory}); no usage was read to compare them "
            f"with ({ev.unobserved_reason(USAGE)}).",
            *items,
        )
    fact = observation.value
    items.append(observation.item("observed use"))
    tight = [
        name
        for name, used, limit in (
            ("memory", fact.get("memory"), fact.get("memory_limit")),
            ("CPU", fact.get("cpu"), fact.get("cpu_limit")),
        )
        if used is not None and limit and used >= NEAR_LIMIT * limit
    ]
    if tight:
        effects = {"memory": "out-of-memory kills", "CPU": "CPU throttling"}
        return warned(
            f"Observed {' and '.join(tight)} use is at {NEAR_LIMIT:.0%} or more of the limit: "
            f"expect {' and '.join(effects[t] for t in tight)} under load.",
            *items,
        )
    return passed(
        f"Limits are set (cpu {cpu}, memory {memory}) with headroom over observed use.", *items
    )


def check_p95_latency(ev: Evidence) -> Finding:
    """The 95th-percentile probe latency stays under the threshold."""
    stats = ev.probe_stats
    if stats is None or stats.count == 0 or stats.p95_latency_ms is None:
        return no_evidence("No probe history yet.")
    limit = ev.thresholds.p95_latency_ms
    items = (
        stats.origin.item(f"p95 latency over {stats.window}", f"{stats.p95_latency_ms:.0f} ms"),
        stats.origin.item("threshold", f"{limit:.0f} ms"),
    )
    if stats.p95_latency_ms > limit:
        return warned(
            f"p95 latency {stats.p95_latency_ms:.0f} ms is above {limit:.0f} ms: agents wait on "
            "every call.",
            *items,
        )
    return passed(f"p95 latency {stats.p95_latency_ms:.0f} ms is within {limit:.0f} ms.", *items)


def _manual(rule_id: str, title: str, rationale: str, evidence: str, item: str, **kw) -> Rule:
    return Rule(
        id=rule_id,
        section=SECTION,
        title=title,
        rationale=rationale,
        evidence=evidence,
        severity=kw.pop("severity", Severity.MEDIUM),
        mode="manual",
        checklist_item=item,
        **kw,
    )


RULES = [
    _manual(
        "performance.connection-pooling",
        "MCP clients reuse connections",
        "Opening a new TLS connection per call adds a handshake to every tool call and exhausts "
        "ports under load.",
        "An attestation describing the shared HTTP client and its pool limits.",
        "Connection pooling enabled",
        applies_to="agent_backend",
        fix=(
            "Reuse HTTP connections and MCP sessions in the agent's client instead of opening "
            "one per call, then attest."
        ),
    ),
    _manual(
        "performance.caching",
        "Repeated lookups are cached where results allow it",
        "Caching stable upstream answers cuts latency and per-call API costs.",
        "An attestation listing what is cached and for how long, or why nothing should be.",
        "Caching where appropriate",
        severity=Severity.LOW,
        fix=(
            "Cache repeated lookups where results allow it (with a bounded lifetime), then "
            "attest which."
        ),
    ),
    Rule(
        id="performance.resource-limits",
        section=SECTION,
        title="CPU and memory limits are set",
        rationale=(
            "Explicit limits make scheduling predictable, cap the cost of one instance and make "
            "out-of-memory failures visible instead of random."
        ),
        evidence=(
            "CPU and memory limits from the cloud description, compared with observed use "
            "where the platform reports it (Kubernetes metrics-server PodMetrics; Cloud Run "
            "Cloud Monitoring utilization distributions, p99 over 7 days; Container Apps Azure "
            "Monitor UsageNanoCores/WorkingSetBytes, peak over 7 days)."
        ),
        reads=(USAGE,),
        severity=Severity.MEDIUM,
        fix=(
            "Set CPU and memory limits on the service's container (or task definition) to "
            "match its needs."
        ),
        check=check_resource_limits,
        checklist_item="Resource limits set correctly",
    ),
    _manual(
        "performance.load-testing",
        "The service was load tested",
        "Only a load test shows where concurrency, limits and autoscaling give way before real "
        "traffic finds out.",
        "An attestation with the date, the tested load and the result.",
        "Load testing completed",
        fix=(
            "Load test the service at twice its expected peak and attest with the tool, rate "
            "and result."
        ),
    ),
    Rule(
        id="performance.p95-latency",
        section=SECTION,
        title="Probe latency stays within bounds",
        rationale="Agents chain many tool calls; a slow server multiplies into slow answers.",
        evidence="95th-percentile probe latency over the history window, against the threshold.",
        severity=Severity.MEDIUM,
        fix=(
            "Find the slow phase in the probe's timings (connect, TLS, initialize, "
            "tools/list) and fix it, or raise the latency threshold if it is expected."
        ),
        check=check_p95_latency,
    ),
]
