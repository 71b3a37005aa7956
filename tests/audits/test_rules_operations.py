"""Observability, reliability, performance, cost and compliance rules."""

from __future__ import annotations

from dataclasses import replace

from checks.audits.evidence import (
    AUDIT_LOGS,
    BUDGET_COVERAGE,
    STRUCTURED_LOGS,
    TRAFFIC,
    ConsoleConfig,
    FleetContext,
    Observation,
    ProbeStats,
    Provenance,
)
from checks.audits.results import Status
from fleet.operations.clouds.types import ScalingSettings
from tests.audits.factories import NOW, evidence, probe, result_of, snapshot


def scaled(**changes) -> object:
    return snapshot(scaling=replace(snapshot().scaling, **changes))


def test_console_flags_decide_alert_routing():
    for value, expected in ((True, Status.PASS), (False, Status.FAIL), (None, Status.NO_EVIDENCE)):
        ev = evidence(config=replace(evidence().config, alert_routed=value))
        assert result_of("observability.alert-routing", ev).status == expected, value


def test_budget_coverage_is_decided_from_the_budgets_found_not_a_console_flag():
    base = evidence()
    found = base.observations[BUDGET_COVERAGE]
    missing = replace(found, value=False, summary="no console budget covers it")
    for observations, expected in (
        ({BUDGET_COVERAGE: found}, Status.PASS),
        ({BUDGET_COVERAGE: missing}, Status.FAIL),
        ({}, Status.NO_EVIDENCE),
    ):
        # The console flag says "covered": it must not decide the verdict.
        ev = replace(
            base,
            observations=observations,
            config=replace(base.config, budget_covered=True),
        )
        assert result_of("cost.budget-coverage", ev).status == expected, observations


def test_logging_rules_decide_from_what_the_platform_showed_about_the_service():
    for rule_id, key in (
        ("observability.structured-logging", STRUCTURED_LOGS),
        ("compliance.audit-logging", AUDIT_LOGS),
    ):
        passing = result_of(rule_id, evidence())
        assert passing.status == Status.PASS
        assert passing.source.startswith(("Cloud Logging API", "Resource Manager API"))
        read = evidence().observations[key]
        off = evidence(observations={key: Observation(False, read.origin, "plain text")})
        assert result_of(rule_id, off).status == Status.FAIL
        unread = result_of(rule_id, evidence(observations={}))
        assert unread.status == Status.NO_EVIDENCE
        # Said in words: the platform as people name it, no value shapes such as "(bool: ...)".
        assert "the console does not read" in unread.message
        assert "(bool" not in unread.message and "(dict" not in unread.message
        assert " gcp" not in unread.message
        assert {i.value for i in unread.evidence if i.label == "platform"} == {"Cloud Run"}


def test_health_endpoint_status_decides():
    assert result_of("observability.health-endpoint", evidence()).status == Status.PASS
    failing = evidence(probe_=probe(http_status=503))
    result = result_of("observability.health-endpoint", failing)
    assert result.status == Status.FAIL and "503" in result.message


def test_health_endpoint_not_registered_is_no_evidence():
    ev = evidence(service={"health_path": ""}, probe_=probe(http_status=None))
    assert result_of("observability.health-endpoint", ev).status == Status.NO_EVIDENCE


def test_autoscaling_without_maximum_fails():
    ev = evidence(snapshot_=scaled(max_instances=None))
    assert result_of("reliability.autoscaling-bounded", ev).status == Status.FAIL
    assert result_of("reliability.autoscaling-bounded", evidence()).status == Status.PASS


def test_fixed_instance_count_warns():
    ev = evidence(snapshot_=scaled(min_instances=3, max_instances=3))
    assert result_of("reliability.autoscaling-bounded", ev).status == Status.WARNING


def test_production_needs_two_instances():
    single = evidence(snapshot_=scaled(min_instances=1))
    assert result_of("reliability.multiple-replicas", single).status == Status.FAIL
    assert result_of("reliability.multiple-replicas", evidence()).status == Status.PASS


def test_replicas_rule_skips_non_production():
    ev = evidence(service={"environment": "staging"}, snapshot_=scaled(min_instances=0))
    assert result_of("reliability.multiple-replicas", ev).status == Status.NOT_APPLICABLE


def test_configured_replicas_but_fewer_running_warns():
    ev = evidence(snapshot_=replace(snapshot(), ready_instances=1))
    assert result_of("reliability.multiple-replicas", ev).status == Status.WARNING


def test_uptime_and_latency_from_probe_history():
    poor = evidence(probe_stats=ProbeStats(count=500, uptime_pct=97.5, p95_latency_ms=4200.0))
    assert result_of("reliability.uptime", poor).status == Status.FAIL
    assert result_of("performance.p95-latency", poor).status == Status.WARNING
    assert result_of("reliability.uptime", evidence()).status == Status.PASS
    fresh = evidence(probe_stats=ProbeStats(count=0))
    assert result_of("reliability.uptime", fresh).status == Status.NO_EVIDENCE


def test_missing_cpu_or_memory_limit_fails():
    ev = evidence(snapshot_=snapshot(scaling=ScalingSettings(min_instances=2, max_instances=5)))
    result = result_of("performance.resource-limits", ev)
    assert result.status == Status.FAIL and "CPU or memory" in result.message
    assert result_of("performance.resource-limits", evidence()).status == Status.PASS


def test_non_production_should_scale_to_zero():
    warm = evidence(service={"environment": "development"}, snapshot_=scaled(min_instances=1))
    assert result_of("cost.scale-to-zero", warm).status == Status.WARNING
    idle = evidence(service={"environment": "development"}, snapshot_=scaled(min_instances=0))
    assert result_of("cost.scale-to-zero", idle).status == Status.PASS
    assert result_of("cost.scale-to-zero", evidence()).status == Status.NOT_APPLICABLE


def _traffic(count: int) -> dict:
    origin = Provenance("CloudWatch GetMetricData AWS/ApplicationELB RequestCount", NOW)
    return {TRAFFIC: Observation(count, origin, f"{count} requests in 7 days")}


def test_unused_resources_decide_from_platform_request_counts():
    rule = "cost.unused-resources"
    idle = result_of(rule, evidence(observations=_traffic(0), fleet=FleetContext(callers=["a"])))
    assert idle.status == Status.WARNING and "No traffic in 7 days" in idle.message
    assert "a" in str(idle.evidence)  # the recorded callers stay visible as context
    busy = result_of(rule, evidence(observations=_traffic(1200)))
    assert busy.status == Status.PASS and "1200 requests" in busy.message


def test_recorded_callers_alone_are_no_evidence_of_traffic():
    rule = "cost.unused-resources"
    called = result_of(rule, evidence(observations={}, fleet=FleetContext(callers=["assistant"])))
    assert called.status == Status.NO_EVIDENCE
    assert "No evidence from platform metrics" in called.message
    assert "Recorded callers: assistant" in called.message
    orphan = result_of(rule, evidence(observations={}, fleet=FleetContext(callers=[])))
    assert orphan.status == Status.NO_EVIDENCE and "recorded as calling" in orphan.message
    unknown = result_of(rule, evidence(observations={}, fleet=FleetContext(callers=None)))
    assert unknown.status == Status.NO_EVIDENCE and "not recorded" in unknown.message


def test_data_residency_patterns():
    assert result_of("compliance.data-residency", evidence()).status == Status.PASS
    us = evidence(snapshot_=snapshot(region="us-central1"))
    result = result_of("compliance.data-residency", us)
    assert result.status == Status.FAIL and "us-central1" in result.message


def test_data_residency_normalises_azure_location_names():
    ev = evidence(
        snapshot_=snapshot(provider="azure", region="West Europe"),
        config=ConsoleConfig(allowed_regions=("westeurope", "northeurope")),
    )
    assert result_of("compliance.data-residency", ev).status == Status.PASS


def test_allowed_regions_override_replaces_configured_list():
    result = result_of("compliance.data-residency", evidence(), allowed_regions=("us-*",))
    assert result.status == Status.FAIL


def test_no_residency_restriction_is_not_applicable():
    ev = evidence(config=ConsoleConfig())
    assert result_of("compliance.data-residency", ev).status == Status.NOT_APPLICABLE
