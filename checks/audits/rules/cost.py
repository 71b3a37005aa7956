"""Cost rules: budgets, right-sizing, scale to zero and unused servers."""

from __future__ import annotations

from checks.audits.evidence import BUDGET_COVERAGE, TRAFFIC, USAGE, Evidence
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    fleet,
    missing_snapshot,
    no_evidence,
    not_applicable,
    observed_flag,
    passed,
    registry,
    snap,
    unobserved,
    warned,
)

SECTION = "cost"
# The window of evidence.TRAFFIC ("requests the platform counted over the last 7 days").
TRAFFIC_DAYS = 7


def check_budget(ev: Evidence) -> Finding:
    """A budget with alerts covers the service: one in the console or one found in the cloud."""
    return observed_flag(
        ev,
        BUDGET_COVERAGE,
        "budgets covering the service",
        "A budget covers this service's spending.",
        "No budget covers this service, in the console or in the cloud: a cost spike is found "
        "on the invoice.",
    )


OVERSIZED = 0.2  # observed use below this share of the request for CPU and memory alike


def check_right_sizing(ev: Evidence) -> Finding:
    """Requested CPU and memory match observed use: neither mostly idle nor exceeded."""
    observation = ev.observed(USAGE)
    if observation is None:
        return unobserved(ev, USAGE)
    fact = observation.value
    item = observation.item("observed use")
    pairs = [
        ("CPU", fact.get("cpu"), fact.get("cpu_request")),
        ("memory", fact.get("memory"), fact.get("memory_request")),
    ]
    unset = [name for name, _, request in pairs if not request]
    if unset:
        return warned(
            f"No {' or '.join(unset)} request is set, so the scheduler reserves nothing and "
            "nodes can be overcommitted.",
            item,
        )
    over = [name for name, used, request in pairs if used is not None and used > request]
    if over:
        return warned(
            f"Observed {' and '.join(over)} use exceeds the request: pods compete for what the "
            "scheduler did not reserve. Raise the request.",
            item,
        )
    if all(used is not None and used < OVERSIZED * request for _, used, request in pairs):
        window = fact.get("window") or "a short sample"
        confirm = (
            " (A 30 s sample: confirm with a longer window before cutting.)"
            if "30s" in window
            else ""
        )
        return warned(
            f"The busiest instance uses under {OVERSIZED:.0%} of the reserved CPU and memory "
            f"({window}): the reservation is paid for and idle. Lower it.{confirm}",
            item,
        )
    return passed("Requests match observed use.", item)


def check_scale_to_zero(ev: Evidence) -> Finding:
    """A non-production service scales to zero when idle."""
    item = registry(ev, "environment", ev.service.environment)
    if ev.service.is_production:
        return not_applicable("Production keeps warm instances on purpose.", item)
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    low = snapshot.scaling.min_instances
    items = (item, snap(ev, "minimum instances", low))
    if low is None:
        return no_evidence("The platform did not report a minimum instance count.", *items)
    if low > 0:
        return warned(f"Keeps {low} instance(s) running while idle outside production.", *items)
    return passed("Scales to zero when idle.", *items)


def check_unused(ev: Evidence) -> Finding:
    """The platform's metrics show requests to this MCP server; the agent backends recorded as
    calling it are context only: a record says who may call, not that anyone does."""
    traffic = ev.observed(TRAFFIC)
    callers = ev.fleet.callers
    context = [] if callers is None else [fleet(ev, "recorded callers (context)", callers)]
    if traffic is not None and isinstance(traffic.value, int):
        item = traffic.item("requests")
        if traffic.value > 0:
            return passed(f"The platform counted {traffic.value} requests to it.", item, *context)
        return warned(
            f"No traffic in {TRAFFIC_DAYS} days: the platform counted no requests; remove it if "
            "nothing needs it.",
            item,
            *context,
        )
    if callers is None:
        recorded = "Dependencies between services are not recorded."
    elif callers:
        recorded = (
            f"Recorded callers: {', '.join(callers)}; a record says who may call it, not that "
            "anyone does."
        )
    else:
        recorded = "No registered agent backend is recorded as calling it."
    return no_evidence(
        f"No evidence from platform metrics: {ev.unobserved_reason(TRAFFIC)}. {recorded}",
        *context,
    )


RULES = [
    Rule(
        id="cost.budget-coverage",
        section=SECTION,
        title="A budget with alerts covers the service",
        rationale="Autoscaling and per-call APIs can multiply spend overnight; budgets warn early.",
        evidence="Budgets in the console, and budgets read from Cloud Billing Budgets (the "
        "account's billing account), AWS Budgets and Azure Cost Management (the subscription "
        "and the app's resource group) whose project, resource group, label or tag filter "
        "covers the service.",
        severity=Severity.HIGH,
        fix=(
            "Create a budget with alerts that covers the service (by service, team, "
            "environment or account) under Budgets."
        ),
        check=check_budget,
        reads=(BUDGET_COVERAGE,),
        checklist_item="Budget alerts configured",
    ),
    Rule(
        id="cost.right-sizing",
        section=SECTION,
        title="CPU and memory match observed usage",
        rationale="Over-provisioned instances are paid for every second they run.",
        evidence=(
            "CPU and memory requests compared with observed use (Kubernetes metrics-server "
            "PodMetrics; Cloud Run: the p99 of Cloud Monitoring's container cpu/memory "
            "utilizations over 7 days against the limits it reserves; Container Apps: the peak "
            "of Azure Monitor's UsageNanoCores/WorkingSetBytes over 7 days against the template's "
            "allocation); an attestation with the figures where no API reports use."
        ),
        severity=Severity.LOW,
        fix=(
            "Set CPU and memory requests near observed use (with headroom for peaks), from a "
            "window of a few days."
        ),
        check=check_right_sizing,
        reads=(USAGE,),
        attestable=True,
        checklist_item="Resources right-sized",
    ),
    Rule(
        id="cost.scale-to-zero",
        section=SECTION,
        title="Non-production services scale to zero",
        rationale="Development and staging sit idle most of the day; idle instances cost money.",
        evidence="The environment and the minimum instance count from the cloud description.",
        severity=Severity.LOW,
        fix=("Set the minimum instances to 0 for non-production services."),
        check=check_scale_to_zero,
        checklist_item="Scale-to-zero enabled where possible",
    ),
    Rule(
        id="cost.unused-resources",
        section=SECTION,
        title="Every MCP server has a consumer",
        rationale="Servers nobody calls still cost money and still expose an attack surface.",
        evidence=(
            "Requests the platform counted in the last 7 days (Cloud Run: Cloud Monitoring "
            "run.googleapis.com/request_count; ECS: CloudWatch AWS/ApplicationELB RequestCount "
            "of its target groups; Container Apps: Azure Monitor Requests; Kubernetes: the "
            "account's Prometheus, istio_requests_total or nginx_ingress_controller_requests); "
            "the agent backends recorded as calling this server are "
            "shown as context, never as proof of traffic."
        ),
        reads=(TRAFFIC,),
        severity=Severity.LOW,
        fix=(
            "Delete the server if nothing calls it; where the platform counts no requests, "
            "put it behind a load balancer whose request metrics are read."
        ),
        applies_to="mcp_server",
        check=check_unused,
        checklist_item="Unused resources cleaned up",
    ),
]
