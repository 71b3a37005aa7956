"""Reliability rules: bounded autoscaling, redundancy, uptime, shutdown, retries and backups."""

from __future__ import annotations

from checks.audits.evidence import SHUTDOWN, STATEFUL, Evidence
from checks.audits.results import Finding, Severity
from checks.audits.rule import Rule
from checks.audits.rules._findings import (
    failed,
    missing_snapshot,
    needs_attestation,
    no_evidence,
    not_applicable,
    passed,
    registry,
    snap,
    unobserved,
    warned,
)

SECTION = "reliability"


def check_autoscaling_bounded(ev: Evidence) -> Finding:
    """Autoscaling is on and has an upper bound."""
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    low, high = snapshot.scaling.min_instances, snapshot.scaling.max_instances
    items = (snap(ev, "minimum instances", low), snap(ev, "maximum instances", high))
    if high is None:
        return failed(
            "No maximum instance count is set: a traffic spike or a looping agent can scale it "
            "(and the bill) without limit.",
            *items,
        )
    if low is not None and high < low:
        return failed(f"The maximum ({high}) is below the minimum ({low}).", *items)
    if low is not None and high == low:
        return warned(f"Fixed at {high} instance(s): it cannot scale with load.", *items)
    return passed(
        f"Scales between {low if low is not None else 'platform default'} and {high}.", *items
    )


def check_multiple_replicas(ev: Evidence) -> Finding:
    """A production service keeps at least two instances running."""
    item = registry(ev, "environment", ev.service.environment)
    if not ev.service.is_production:
        return not_applicable("Only production services need standing redundancy.", item)
    snapshot = ev.snapshot
    if snapshot is None:
        return missing_snapshot(ev)
    low = snapshot.scaling.min_instances
    items = [item, snap(ev, "minimum instances", low)]
    if snapshot.ready_instances is not None:
        items.append(snap(ev, "running instances", snapshot.ready_instances))
    if low is None:
        return no_evidence("The platform did not report a minimum instance count.", *items)
    if low < 2:
        return failed(
            f"Minimum is {low}: one crash or a zone outage leaves no instance serving.", *items
        )
    if snapshot.ready_instances is not None and snapshot.ready_instances < 2:
        return warned(
            f"Configured for {low}, but only {snapshot.ready_instances} instance(s) are running.",
            *items,
        )
    return passed(f"At least {low} instances are kept running.", *items)


def check_uptime(ev: Evidence) -> Finding:
    """Recent probe uptime meets the target."""
    stats = ev.probe_stats
    if stats is None or stats.count == 0 or stats.uptime_pct is None:
        return no_evidence("No probe history yet.")
    target = ev.thresholds.uptime_target_pct
    items = (
        stats.origin.item(f"uptime over {stats.window}", f"{stats.uptime_pct:.2f}%"),
        stats.origin.item("probes", stats.count),
        stats.origin.item("target", f"{target:.2f}%"),
    )
    if stats.uptime_pct < target:
        return failed(f"Uptime {stats.uptime_pct:.2f}% is below the {target:.2f}% target.", *items)
    return passed(f"Uptime {stats.uptime_pct:.2f}% meets the target.", *items)


MIN_GRACE_S = 5  # less than this leaves no time to finish a tool call


def check_graceful_shutdown(ev: Evidence) -> Finding:
    """How the platform stops an instance leaves time to drain: grace period and drain hook."""
    observation = ev.observed(SHUTDOWN)
    if observation is None:
        return unobserved(ev, SHUTDOWN)
    fact = observation.value
    item = observation.item("how instances are stopped")
    grace, drain, drain_s = fact.get("grace_s"), fact.get("drain", ""), fact.get("drain_s", 0)
    if grace is not None and grace < MIN_GRACE_S:
        return failed(
            f"Instances get {grace} s between SIGTERM and SIGKILL: in-flight tool calls and SSE "
            "streams are cut off.",
            item,
        )
    if grace is not None and drain_s and drain_s >= grace:
        return failed(
            f"The drain step ({drain}) uses the whole {grace} s grace period: the process is "
            "killed before it can finish in-flight calls.",
            item,
        )
    if fact.get("drains_first"):
        return passed(
            f"New traffic stops before SIGTERM ({drain}) and {grace} s are left to finish "
            "in-flight calls. (The application's own SIGTERM handler is not visible to the API.)",
            item,
        )
    return warned(
        "SIGTERM can arrive while new requests are still routed to the instance (no drain step: "
        "no preStop sleep, no load balancer deregistering it first): calls that arrive in that "
        "moment fail.",
        item,
    )


def check_backup_restore(ev: Evidence) -> Finding:
    """Services that keep data need a tested backup; stateless ones do not."""
    observation = ev.observed(STATEFUL)
    if observation is None:
        return unobserved(ev, STATEFUL)
    item = observation.item("data the service keeps")
    if not observation.value.get("stateful"):
        return not_applicable(
            "The service keeps no data of its own, so there is nothing to restore.", item
        )
    return needs_attestation(
        "The service keeps data; no API shows its backups or that a restore was tested. Attest "
        "with the backup schedule and the date of the last restore test.",
        item,
    )


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
    Rule(
        id="reliability.autoscaling-bounded",
        section=SECTION,
        title="Autoscaling is configured with a maximum",
        rationale=(
            "Scaling with load keeps latency steady; a ceiling protects budgets and downstream "
            "APIs from runaway instance counts."
        ),
        evidence="Minimum and maximum instance counts from the cloud description.",
        severity=Severity.MEDIUM,
        fix=("Set a maximum instance count (and a minimum) on the service's autoscaling."),
        check=check_autoscaling_bounded,
        checklist_item="Auto-scaling configured",
    ),
    Rule(
        id="reliability.multiple-replicas",
        section=SECTION,
        title="Production keeps at least two instances",
        rationale=(
            "A single instance means every crash, deploy or zone failure is an outage for every "
            "agent that depends on the service."
        ),
        evidence="The environment, the minimum instance count and the running instances.",
        severity=Severity.HIGH,
        fix=(
            "Set the minimum instances (or desired count / replicas) to at least 2 for production."
        ),
        check=check_multiple_replicas,
        checklist_item="Multiple replicas for HA",
    ),
    Rule(
        id="reliability.uptime",
        section=SECTION,
        title="Recent uptime meets the target",
        rationale="Probe history shows whether the setup delivers the availability it promises.",
        evidence="Uptime percentage over the console's probe history window, against the target.",
        severity=Severity.HIGH,
        fix=(
            "Find the failing checks in the service's health history and fix their cause; "
            "uptime recovers as new checks pass."
        ),
        check=check_uptime,
    ),
    Rule(
        id="reliability.graceful-shutdown",
        section=SECTION,
        title="The service drains requests on shutdown",
        rationale=(
            "Platforms stop instances on every deploy and scale-in; without draining, in-flight "
            "tool calls and SSE streams are cut off."
        ),
        evidence=(
            "How the platform stops an instance. Kubernetes: the pod template's "
            "terminationGracePeriodSeconds and preStop hook; ECS: the essential container's "
            "stopTimeout and whether a load balancer deregisters the task before SIGTERM; "
            "Container Apps: template.terminationGracePeriodSeconds (it has no preStop hook); "
            "Cloud Run: its documented contract (requests stop, SIGTERM, SIGKILL 10 s later). An "
            "attestation where no API shows it."
        ),
        severity=Severity.MEDIUM,
        fix=(
            "Kubernetes: give pods a preStop sleep of a few seconds (so endpoints drop them "
            "first) and a grace period longer than the slowest tool call. ECS: put the service "
            "behind a load balancer target group (tasks are deregistered before SIGTERM) and set "
            "the container's stopTimeout above the slowest call. Container Apps: set "
            "terminationGracePeriodSeconds above the slowest call. Everywhere: handle SIGTERM by "
            "finishing in-flight requests."
        ),
        check=check_graceful_shutdown,
        reads=(SHUTDOWN,),
        attestable=True,
        checklist_item="Graceful shutdown handling",
    ),
    _manual(
        "reliability.client-retries",
        "MCP clients retry transient failures",
        "Instances restart and scale; a single retry with backoff turns a blip into nothing "
        "instead of a failed agent run.",
        "An attestation describing retry limits and backoff in the backend's MCP clients.",
        "Retry logic in MCP clients",
        applies_to="agent_backend",
        fix=(
            "Retry idempotent MCP calls on transient errors with backoff in the agent's "
            "client, then attest."
        ),
    ),
    _manual(
        "reliability.circuit-breakers",
        "Failing MCP servers are cut off by a circuit breaker",
        "Without one, every request waits for a dead server's timeout and retries pile load on it "
        "while it recovers.",
        "An attestation naming the breaker and its thresholds.",
        "Circuit breakers for failing servers",
        applies_to="agent_backend",
        fix=(
            "Stop calling an MCP server after repeated failures for a cool-down period, then "
            "attest with the thresholds."
        ),
    ),
    Rule(
        id="reliability.backup-restore",
        section=SECTION,
        title="Data the service keeps can be restored",
        rationale=(
            "Storage behind a tool (notes, files, indexes) is lost for good without backups that "
            "have been restored at least once."
        ),
        evidence=(
            "Whether the service keeps data (Kubernetes PersistentVolumeClaims, Cloud Run Cloud "
            "SQL / Cloud Storage / NFS volumes, ECS EFS volumes, Container Apps Azure Files "
            "volumes, datastore settings in its environment); for those that do, an attestation "
            "with the backup schedule and the date of the last restore test."
        ),
        severity=Severity.MEDIUM,
        fix=(
            "Back up the data the service keeps and restore it once into a scratch "
            "environment, then attest with the date."
        ),
        check=check_backup_restore,
        reads=(STATEFUL,),
        attestable=True,
        checklist_item="Backup/restore plan for data",
    ),
]
