"""Infrastructure rules against evidence shaped like real snapshots and probes."""

from __future__ import annotations

from dataclasses import replace

from checks.audits.evidence import FleetContext, FleetMember
from checks.audits.results import Status
from checks.probing.types import TlsInfo
from tests.audits.factories import evidence, probe, result_of, snapshot


def with_others(*others: FleetMember):
    return evidence(fleet=FleetContext(others=list(others), callers=["assistant"]))


def test_mcp_server_with_its_own_resource_passes():
    assert result_of("infrastructure.separate-mcp-service", evidence()).status == Status.PASS


def test_two_mcp_servers_in_one_resource_fail_naming_the_other():
    ev = with_others(FleetMember("calendar", "mcp_server", "gcp", "acme-prod", "notes-mcp"))
    result = result_of("infrastructure.separate-mcp-service", ev)
    assert result.status == Status.FAIL
    assert "calendar" in result.message


def test_same_resource_name_in_another_account_is_a_different_deployment():
    ev = with_others(FleetMember("notes-staging", "mcp_server", "gcp", "acme-dev", "notes-mcp"))
    assert result_of("infrastructure.separate-mcp-service", ev).status == Status.PASS


def test_url_only_service_has_no_deployment_evidence():
    ev = evidence(service={"provider": "url", "account": "", "resource": ""}, snapshot_=None)
    result = result_of("infrastructure.separate-mcp-service", ev)
    assert result.status == Status.NO_EVIDENCE


def test_agent_backend_bundled_with_an_mcp_server_fails():
    ev = evidence(
        service={"name": "assistant", "kind": "agent_backend", "resource": "assistant"},
        fleet=FleetContext(
            others=[FleetMember("notes", "mcp_server", "gcp", "acme-prod", "assistant")]
        ),
    )
    result = result_of("infrastructure.separate-agent-backend", ev)
    assert result.status == Status.FAIL and "notes" in result.message


def test_agent_backend_rule_does_not_apply_to_mcp_servers():
    result = result_of("infrastructure.separate-agent-backend", evidence())
    assert result.status == Status.NOT_APPLICABLE


def test_ingress_none_fails_and_internal_passes():
    ev = evidence(snapshot_=snapshot(ingress="none", url=""))
    assert result_of("infrastructure.ingress-configured", ev).status == Status.FAIL
    assert result_of("infrastructure.ingress-configured", evidence()).status == Status.PASS


def test_ingress_unknown_without_url_is_no_evidence():
    ev = evidence(snapshot_=snapshot(ingress="", url=""))
    assert result_of("infrastructure.ingress-configured", ev).status == Status.NO_EVIDENCE


def tls(**changes) -> TlsInfo:
    return replace(probe().tls, **changes)


def test_tls_valid_certificate_passes_and_shows_where_it_was_read():
    result = result_of("infrastructure.tls-valid", evidence())
    assert result.status == Status.PASS
    sources = {item.source for item in result.evidence}
    assert sources == {"console probe https://notes.mcp.acme.example/mcp"}
    assert all(item.observed_at is not None for item in result.evidence)


def test_tls_expiry_thresholds():
    def status(days: float, **thresholds) -> Status:
        ev = evidence(probe_=probe(tls=tls(days_to_expiry=days)))
        return result_of("infrastructure.tls-valid", ev, **thresholds).status

    assert status(45) == Status.PASS
    assert status(20) == Status.WARNING
    assert status(3) == Status.FAIL
    assert status(-1) == Status.FAIL


def test_tls_thresholds_are_configurable():
    from checks.audits.evidence import Thresholds

    ev = evidence(probe_=probe(tls=tls(days_to_expiry=45)))
    result = result_of("infrastructure.tls-valid", ev, thresholds=Thresholds(tls_warning_days=60))
    assert result.status == Status.WARNING


def test_tls_hostname_mismatch_and_handshake_error_fail():
    mismatch = evidence(probe_=probe(tls=tls(hostname_matches=False)))
    assert result_of("infrastructure.tls-valid", mismatch).status == Status.FAIL
    broken = evidence(probe_=probe(ok=False, tls=TlsInfo(error="certificate verify failed")))
    result = result_of("infrastructure.tls-valid", broken)
    assert result.status == Status.FAIL and "certificate verify failed" in result.message


def test_plain_http_fails_in_production_and_warns_elsewhere():
    prod = evidence(service={"url": "http://notes.internal/mcp"})
    assert result_of("infrastructure.tls-valid", prod).status == Status.FAIL
    dev = evidence(service={"url": "http://notes.internal/mcp", "environment": "staging"})
    assert result_of("infrastructure.tls-valid", dev).status == Status.WARNING


def test_tls_without_probe_is_no_evidence():
    ev = evidence(probe_=None)
    assert result_of("infrastructure.tls-valid", ev).status == Status.NO_EVIDENCE


def test_dns_resolution_failure_fails_and_success_passes():
    failing = probe(
        ok=False,
        phase="connect",
        error="connect: [Errno -2] Name or service not known (notes.mcp.acme.example)",
        tools=[],
    )
    assert result_of("infrastructure.dns-resolves", evidence(probe_=failing)).status == Status.FAIL
    assert result_of("infrastructure.dns-resolves", evidence()).status == Status.PASS


def test_dns_refused_connection_is_not_blamed_on_dns():
    refused = probe(ok=False, phase="connect", error="connect: connection refused", tools=[])
    result = result_of("infrastructure.dns-resolves", evidence(probe_=refused))
    assert result.status == Status.NO_EVIDENCE


def test_service_addressed_by_ip_warns():
    ev = evidence(service={"url": "https://10.1.2.3/mcp"})
    assert result_of("infrastructure.dns-resolves", ev).status == Status.WARNING


def test_reachability_is_a_manual_rule():
    result = result_of("infrastructure.service-reachability", evidence())
    assert result.status == Status.NEEDS_ATTESTATION and result.mode == "manual"
