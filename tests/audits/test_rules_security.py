"""Security rules: secrets, identity, network exposure, platform auth and tool schemas."""

from __future__ import annotations

from checks.audits.evidence import RATE_LIMITS, FleetContext, FleetMember
from checks.audits.results import Status
from checks.probing.types import ToolInfo
from fleet.operations.clouds.types import EnvVar
from tests.audits.factories import evidence, platform_facts, probe, result_of, snapshot


def test_secret_references_pass():
    result = result_of("security.secrets-in-secret-manager", evidence())
    assert result.status == Status.PASS
    assert "1 from a secret store" in result.evidence[0].value


def test_plain_api_key_fails_naming_the_variable_but_not_the_value():
    env = [EnvVar("PORT", False, "8080"), EnvVar("OPENAI_API_KEY", False, "sk-" + "x" * 40)]
    result = result_of("security.secrets-in-secret-manager", evidence(snapshot_=snapshot(env=env)))
    assert result.status == Status.FAIL
    assert "OPENAI_API_KEY" in result.message
    shown = " ".join([result.message, *(i.value for i in result.evidence)])
    assert "x" * 40 not in shown


def test_secrets_without_cloud_description_is_no_evidence():
    result = result_of("security.secrets-in-secret-manager", evidence(snapshot_=None))
    assert result.status == Status.NO_EVIDENCE


def test_default_compute_service_account_fails():
    snap = snapshot(service_identity="123456789-compute@developer.gserviceaccount.com")
    result = result_of("security.dedicated-identity", evidence(snapshot_=snap))
    assert result.status == Status.FAIL


def test_kubernetes_default_service_account_fails():
    snap = snapshot(provider="kubernetes", service_identity="default")
    assert result_of("security.dedicated-identity", evidence(snapshot_=snap)).status == Status.FAIL


def test_identity_shared_with_another_service_fails():
    shared = "notes-mcp@acme-prod.iam.gserviceaccount.com"
    ev = evidence(
        fleet=FleetContext(others=[FleetMember("search", "mcp_server", "gcp", "p", "s", shared)])
    )
    result = result_of("security.dedicated-identity", ev)
    assert result.status == Status.FAIL and "search" in result.message


def test_dedicated_identity_passes():
    assert result_of("security.dedicated-identity", evidence()).status == Status.PASS


def test_public_ingress_warns_unless_tagged_public():
    open_snap = snapshot(ingress="all")
    assert (
        result_of("security.network-restricted", evidence(snapshot_=open_snap)).status
        == Status.WARNING
    )
    tagged = evidence(snapshot_=open_snap, service={"tags": ("public",)})
    assert result_of("security.network-restricted", tagged).status == Status.PASS


def test_platform_admits_anyone_and_server_lists_tools_anonymously_fails():
    ev = evidence(
        snapshot_=snapshot(allows_unauthenticated=True),
        probe_=probe(unauthenticated_tools_list=True),
    )
    assert result_of("security.platform-auth", ev).status == Status.FAIL


def test_platform_admits_anyone_but_app_checks_credentials_warns():
    ev = evidence(snapshot_=snapshot(allows_unauthenticated=True))
    assert result_of("security.platform-auth", ev).status == Status.WARNING


def test_platform_auth_unknown_is_no_evidence():
    ev = evidence(snapshot_=snapshot(allows_unauthenticated=None))
    assert result_of("security.platform-auth", ev).status == Status.NO_EVIDENCE


def test_typed_tool_schemas_pass_and_untyped_parameters_warn():
    assert result_of("security.tool-input-schemas", evidence()).status == Status.PASS
    loose = ToolInfo("run", "Run a query.", {"type": "object", "properties": {"q": {}}})
    result = result_of("security.tool-input-schemas", evidence(probe_=probe(tools=[loose])))
    assert result.status == Status.WARNING and "run (q)" in result.evidence[-1].value


def test_tool_without_object_schema_fails():
    bare = ToolInfo("run", "Run a query.", {})
    result = result_of("security.tool-input-schemas", evidence(probe_=probe(tools=[bare])))
    assert result.status == Status.FAIL


def test_rate_limiting_without_evidence_needs_attestation():
    facts = platform_facts({RATE_LIMITS: None})
    result = result_of("security.rate-limiting", evidence(observations=facts))
    assert result.status == Status.NEEDS_ATTESTATION
