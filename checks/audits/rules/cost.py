"""Cost rules: budgets, right-sizing, scale to zero and unused servers."""

from __future__ import annotations

from checks.audits.evidence import BUDGET_COVERAGE, Evidence
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
    warned,
)

SECTION = "cost"


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
    """Some agent backend is recorded as calling this MCP server."""
    callers = ev.fleet.callers
    if callers is None:
        return no_evidence("Dependencies between services are not recorded.")
    item = fleet(ev, "called by", callers)
    if not callers:
        return warned(
            "No registered agent backend calls this server; remove it if nothing else does.", item
        )
    return passed(f"Called by {', '.join(callers)}.", item)


RULES = [
    Rule(
        id="cost.budget-coverage",
        section=SECTION,
        title="A budget with alerts covers the service",
        rationale="Autoscaling and per-call APIs can multiply spend overnight; budgets warn early.",
        evidence="Budgets in the console, and budgets read from Cloud Billing Budgets (the "
        "account's billing account) and AWS Budgets whose project, label or tag filter covers "
        "the service.",
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
        evidence="An attestation comparing configured resources with measured usage.",
        severity=Severity.LOW,
        fix=(
            "Compare CPU and memory requests with observed use and adjust them, then attest "
            "with the figures."
        ),
        mode="manual",
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
        evidence="The agent backends recorded as calling this server.",
        severity=Severity.LOW,
        fix=(
            "Record which agent backends call this server (Dependencies), or delete the "
            "server if nothing does."
        ),
        applies_to="mcp_server",
        check=check_unused,
        checklist_item="Unused resources cleaned up",
    ),
]
