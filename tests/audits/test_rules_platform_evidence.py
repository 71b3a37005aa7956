"""Rules that used to wait for an attestation now decide from what the platform shows.

Each test gives the rule the fact an evidence reader records (the shapes the Kubernetes reader
writes, see checks/audits/readers/kubernetes.py) and checks the verdict a careful SRE would give.
Before, these rules were manual: every one of them answered "needs attestation".
"""

from __future__ import annotations

from datetime import timedelta

from checks.audits.evidence import (
    ENCRYPTION,
    IDENTITY_GRANTS,
    METRICS,
    NETWORK,
    RATE_LIMITS,
    REACHABILITY,
    SHUTDOWN,
    STATEFUL,
    USAGE,
    Attestation,
)
from checks.audits.results import Status
from tests.audits.factories import MIB, NOW, evidence, platform_facts, result_of


def _with(changes: dict, **service) -> object:
    return evidence(observations=platform_facts(changes), service=service or None)


def _shutdown(grace: int, drain: str = "", drain_s: int = 0) -> dict:
    return {"grace_s": grace, "drain": drain, "drain_s": drain_s, "drains_first": bool(drain)}


def test_graceful_shutdown_from_the_grace_period_and_the_drain_hook():
    rule = "reliability.graceful-shutdown"
    good = result_of(rule, _with({SHUTDOWN: _shutdown(30, "preStop sleep 5 s", 5)}))
    assert good.status == Status.PASS and good.basis == "evidence"
    assert "preStop sleep 5 s" in good.message
    no_hook = result_of(rule, _with({SHUTDOWN: _shutdown(30)}))
    assert no_hook.status == Status.WARNING and "no drain step" in no_hook.message
    short = result_of(rule, _with({SHUTDOWN: _shutdown(2, "preStop sleep 1 s", 1)}))
    assert short.status == Status.FAIL and "2 s between SIGTERM and SIGKILL" in short.message
    eaten = result_of(rule, _with({SHUTDOWN: _shutdown(10, "preStop exec sleep 15", 15)}))
    assert eaten.status == Status.FAIL and "whole 10 s grace period" in eaten.message


def test_an_attestation_decides_only_where_the_platform_shows_nothing():
    rule = "reliability.graceful-shutdown"
    attested = {rule: Attestation("otto", "drains in 20 s, tested", NOW - timedelta(days=1))}
    blind = evidence(observations=platform_facts({SHUTDOWN: None}), attestations=attested)
    result = result_of(rule, blind)
    assert result.status == Status.PASS and result.basis == "attestation"
    assert "No evidence from the platform" in result.message
    # Evidence wins over a person's statement.
    seen = _with({SHUTDOWN: _shutdown(1)})
    contradicted = result_of(rule, evidence(observations=seen.observations, attestations=attested))
    assert contradicted.status == Status.FAIL and contradicted.basis == "evidence"


def test_metrics_are_decided_from_the_scrape_configuration():
    assert result_of("observability.metrics", _with({METRICS: True})).status == Status.PASS
    result = result_of("observability.metrics", _with({METRICS: False}))
    assert result.status == Status.FAIL


def _network(exposure: str, policies=(), open_=()) -> dict:
    return {
        "exposure": exposure,
        "entries": [],
        "policies": list(policies),
        "open_policies": list(open_),
    }


def test_network_restriction_from_network_policies_and_exposure():
    rule = "security.network-restricted"
    assert result_of(rule, _with({NETWORK: _network("cluster", ["p"])})).status == Status.PASS
    none = result_of(rule, _with({NETWORK: _network("internet")}))
    assert none.status == Status.FAIL and "and from the internet" in none.message
    open_ = result_of(rule, _with({NETWORK: _network("cluster", ["allow-all"], ["allow-all"])}))
    assert open_.status == Status.FAIL and "allow-all" in open_.message
    exposed = result_of(rule, _with({NETWORK: _network("internet", ["p"])}))
    assert exposed.status == Status.WARNING
    public = _with({NETWORK: _network("internet", ["p"])}, tags=("public",))
    assert result_of(rule, public).status == Status.PASS


def _routes(exposure: str, problems=()) -> dict:
    return {"entries": ["x"], "problems": list(problems), "exposure": exposure, "ready_pods": 1}


def test_ingress_configured_means_reachable_the_way_it_should_be():
    rule = "infrastructure.ingress-configured"
    assert result_of(rule, _with({REACHABILITY: _routes("cluster")})).status == Status.PASS
    broken = _with({REACHABILITY: _routes("internet", ["Service a port 80 targets 9000"])})
    assert result_of(rule, broken).status == Status.FAIL
    nothing = result_of(rule, _with({REACHABILITY: _routes("none")}))
    assert nothing.status == Status.FAIL
    hidden = result_of(rule, _with({REACHABILITY: _routes("cluster")}, tags=("public",)))
    assert hidden.status == Status.FAIL and "only inside the cluster" in hidden.message


def test_rate_limits_from_ingress_annotations():
    rule = "security.rate-limiting"
    limited = {"front": ["notes"], "limits": ["Ingress notes: 10 requests per second"]}
    assert result_of(rule, _with({RATE_LIMITS: limited})).status == Status.PASS
    bare = result_of(rule, _with({RATE_LIMITS: {"front": ["notes"], "limits": []}}))
    assert bare.status == Status.FAIL and "notes" in bare.message


def test_least_privilege_from_the_roles_bound_to_the_identity():
    rule = "security.least-privilege-review"
    broad = {
        "identity": "system:serviceaccount:mcp:calendar",
        "grants": ["RoleBinding x → ClusterRole edit in mcp"],
        "broad": ["RoleBinding x → ClusterRole edit in mcp: the built-in 'edit' role"],
    }
    result = result_of(rule, _with({IDENTITY_GRANTS: broad}))
    assert result.status == Status.FAIL
    assert any("built-in 'edit'" in e.value for e in result.evidence)
    none = {"identity": "system:serviceaccount:mcp:notes", "grants": [], "broad": []}
    assert result_of(rule, _with({IDENTITY_GRANTS: none})).status == Status.PASS


def _usage(cpu: float, memory_mib: float, request=(0.5, 256), limit=(1.0, 512)) -> dict:
    return {
        "pods": 1,
        "cpu": cpu,
        "memory": memory_mib * MIB,
        "cpu_request": request[0],
        "memory_request": request[1] * MIB if request[1] else None,
        "cpu_limit": limit[0],
        "memory_limit": limit[1] * MIB,
        "window": "30s sample",
    }


def test_right_sizing_compares_requests_with_observed_use():
    rule = "cost.right-sizing"
    assert result_of(rule, _with({USAGE: _usage(0.3, 200)})).status == Status.PASS
    idle = result_of(rule, _with({USAGE: _usage(0.01, 20)}))
    assert idle.status == Status.WARNING and "under 20%" in idle.message
    over = result_of(rule, _with({USAGE: _usage(0.8, 200)}))
    assert over.status == Status.WARNING and "exceeds the request" in over.message
    unset = result_of(rule, _with({USAGE: _usage(0.3, 200, request=(0.5, None))}))
    assert unset.status == Status.WARNING and "No memory request" in unset.message


def test_resource_limits_warn_when_observed_use_is_near_the_limit():
    rule = "performance.resource-limits"
    assert result_of(rule, _with({USAGE: _usage(0.3, 200)})).status == Status.PASS
    tight = result_of(rule, _with({USAGE: _usage(0.3, 500)}))
    assert tight.status == Status.WARNING and "memory" in tight.message


def test_backup_and_encryption_only_for_services_that_keep_data():
    stateless = _with({STATEFUL: {"stateful": False, "why": []}, ENCRYPTION: None})
    assert result_of("reliability.backup-restore", stateless).status == Status.NOT_APPLICABLE
    assert result_of("compliance.encryption-at-rest", stateless).status == Status.NOT_APPLICABLE
    keeps = {"stateful": True, "why": ["mounts PersistentVolumeClaim stock-data"]}
    stateful = _with({STATEFUL: keeps, ENCRYPTION: None})
    backup = result_of("reliability.backup-restore", stateful)
    assert backup.status == Status.NEEDS_ATTESTATION and "keeps data" in backup.message
    assert any("stock-data" in e.value for e in backup.evidence)
    assert result_of("compliance.encryption-at-rest", stateful).status == Status.NEEDS_ATTESTATION
    cmek = _with({STATEFUL: keeps, ENCRYPTION: {"key": "projects/p/keyRings/r/cryptoKeys/k"}})
    result = result_of("compliance.encryption-at-rest", cmek)
    assert result.status == Status.PASS and "cryptoKeys/k" in result.message


def test_a_public_service_behind_an_internal_only_ingress_is_not_reachable_as_it_should_be():
    from dataclasses import replace

    from tests.audits.factories import snapshot

    internal = evidence(snapshot_=replace(snapshot(), ingress="internal"))
    assert result_of("infrastructure.ingress-configured", internal).status == Status.PASS
    public = evidence(
        snapshot_=replace(snapshot(), ingress="internal"), service={"tags": ("public",)}
    )
    result = result_of("infrastructure.ingress-configured", public)
    assert result.status == Status.FAIL and "Tagged public" in result.message
