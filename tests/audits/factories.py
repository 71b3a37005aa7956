"""Evidence fixtures built from the real shared shapes (ServiceSnapshot, ProbeOutcome, ...)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from checks.audits.evidence import (
    AUDIT_LOGS,
    BUDGET_COVERAGE,
    ENCRYPTION,
    IDENTITY_GRANTS,
    METRICS,
    RATE_LIMITS,
    SHUTDOWN,
    STATEFUL,
    STRUCTURED_LOGS,
    TRAFFIC,
    USAGE,
    ConsoleConfig,
    Evidence,
    FleetContext,
    FleetMember,
    Observation,
    ProbeStats,
    Provenance,
    ServiceFacts,
)
from checks.probing.types import ProbeOutcome, TlsInfo, ToolInfo
from fleet.operations.clouds.types import EnvVar, ScalingSettings, ServiceSnapshot

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
READ_AT = datetime(2026, 11, 20, 11, 58, tzinfo=UTC)


def snapshot(**changes: Any) -> ServiceSnapshot:
    """A well-configured production Cloud Run service."""
    base = ServiceSnapshot(
        provider="gcp",
        resource="notes-mcp",
        url="https://notes-mcp-abc-ew.a.run.app",
        image="europe-docker.pkg.dev/acme/mcp/notes:1.4.2",
        revision="notes-mcp-00042-xyz",
        region="europe-west1",
        scaling=ScalingSettings(
            min_instances=2, max_instances=20, concurrency=80, cpu="1", memory="512Mi"
        ),
        ready_instances=2,
        ingress="internal",
        allows_unauthenticated=False,
        service_identity="notes-mcp@acme-prod.iam.gserviceaccount.com",
        env=[
            EnvVar("PORT", False, "8080"),
            EnvVar("GCS_BUCKET", False, "notes-data"),
            EnvVar("OPENAI_API_KEY", True),
        ],
    )
    return replace(base, **changes)


def tools() -> list[ToolInfo]:
    """Honest tools, as a typical notes server lists them."""
    return [
        ToolInfo(
            "add_note",
            "Add a new note with a title and content. Returns the note id.",
            {
                "type": "object",
                "properties": {"title": {"type": "string"}, "content": {"type": "string"}},
                "required": ["title", "content"],
            },
        ),
        ToolInfo(
            "delete_note",
            "Delete a note by its id.",
            {"type": "object", "properties": {"note_id": {"type": "string"}}},
            {"destructiveHint": True, "readOnlyHint": False},
        ),
        ToolInfo(
            "fetch_page",
            "Fetch the web page at the given URL and return its text.",
            {"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}},
            {"readOnlyHint": True},
        ),
    ]


def probe(**changes: Any) -> ProbeOutcome:
    """A successful probe of a healthy server over valid TLS."""
    base = ProbeOutcome(
        ok=True,
        latency_ms=84.0,
        transport="streamable-http",
        protocol_version="2025-11-25",
        server_name="notes",
        server_version="1.4.2",
        tools=tools(),
        http_status=200,
        tls=TlsInfo(
            days_to_expiry=62.0,
            not_after="2027-01-21T00:00:00+00:00",
            hostname_matches=True,
            issuer="Google Trust Services",
        ),
        unauthenticated_tools_list=False,
    )
    return replace(base, **changes)


def evidence(
    *,
    service: dict[str, Any] | None = None,
    snapshot_: ServiceSnapshot | None | str = "default",
    probe_: ProbeOutcome | None | str = "default",
    **changes: Any,
) -> Evidence:
    """Evidence for a production MCP server that passes every automated rule, with changes."""
    facts = ServiceFacts(
        name="notes",
        kind="mcp_server",
        url="https://notes.mcp.acme.example/mcp",
        environment="production",
        team="knowledge",
        requires_auth=True,
        provider="gcp",
        account="acme-prod",
        resource="notes-mcp",
        health_path="/health",
        origin=Provenance("console service registry", READ_AT),
    )
    if service:
        facts = replace(facts, **service)
    base = Evidence(
        service=facts,
        snapshot=snapshot() if snapshot_ == "default" else snapshot_,  # type: ignore[arg-type]
        snapshot_from=Provenance(
            "Cloud Run API projects/acme-prod/locations/europe-west1/services/notes-mcp", READ_AT
        ),
        probe=probe() if probe_ == "default" else probe_,  # type: ignore[arg-type]
        probe_from=Provenance("console probe https://notes.mcp.acme.example/mcp", READ_AT),
        probe_stats=ProbeStats(count=2016, uptime_pct=99.95, p95_latency_ms=180.0),
        fleet=FleetContext(
            others=[
                FleetMember("search", "mcp_server", "gcp", "acme-prod", "search-mcp", "search@x"),
                FleetMember("assistant", "agent_backend", "gcp", "acme-prod", "assistant", "a@x"),
            ],
            callers=["assistant"],
            origin=Provenance("console service registry", READ_AT),
        ),
        config=ConsoleConfig(
            alert_routed=True,
            budget_covered=True,
            allowed_regions=("europe-*",),
            oldest_protocol_version="2025-03-26",
            origin=Provenance("console configuration", READ_AT),
        ),
        observations={
            STRUCTURED_LOGS: Observation(
                True,
                Provenance("Cloud Logging API entries.list (last 50 entries)", READ_AT),
                "50 of 50 recent entries were jsonPayload",
            ),
            AUDIT_LOGS: Observation(
                True,
                Provenance("Resource Manager API projects.getIamPolicy auditConfigs", READ_AT),
                "allServices: ADMIN_READ, DATA_READ, DATA_WRITE",
            ),
            BUDGET_COVERAGE: Observation(
                True,
                Provenance("console budgets and Cloud Billing Budgets billingAccounts/X", READ_AT),
                "covered by fleet-notes (cloud)",
            ),
            TRAFFIC: Observation(
                1200,
                Provenance("Cloud Monitoring run.googleapis.com/request_count (7 days)", READ_AT),
                "1200 requests in 7 days",
            ),
            **platform_facts(),
        },
    )
    return replace(base, **changes)


MIB = 1024**2


def platform_facts(changes: dict[str, Any] | None = None) -> dict[str, Observation]:
    """What the evidence readers report about a well-run service, by key, with changes (a
    change of None leaves that key out, as when a platform cannot show it). Who can connect and
    the routes are left to the cloud description unless given."""
    where = Provenance("Kubernetes API (acme-prod, namespace mcp)", READ_AT)
    values: dict[str, Any] = {
        SHUTDOWN: {"grace_s": 30, "drain": "preStop sleep 5 s", "drain_s": 5, "drains_first": True},
        METRICS: True,
        RATE_LIMITS: {"front": ["notes"], "limits": ["Ingress notes: 20 requests per second"]},
        IDENTITY_GRANTS: {
            "identity": "system:serviceaccount:mcp:notes",
            "grants": ["RoleBinding notes-config → Role config-reader in mcp"],
            "broad": [],
        },
        USAGE: {
            "pods": 2,
            "cpu": 0.3,
            "memory": 200 * MIB,
            "cpu_request": 0.5,
            "memory_request": 256 * MIB,
            "cpu_limit": 1.0,
            "memory_limit": 512 * MIB,
            "window": "30s sample",
        },
        STATEFUL: {"stateful": False, "why": []},
        ENCRYPTION: {"key": "", "managed_by": "Google"},
    }
    values.update(changes or {})
    return {
        key: Observation(value, where, str(value))
        for key, value in values.items()
        if value is not None
    }


def result_of(rule_id: str, ev: Evidence, **overrides: Any):
    """Evaluate one catalogue rule against the evidence, as the engine would."""
    from checks.audits.catalogue import get_rule
    from checks.audits.engine import Overrides, evaluate

    [result] = evaluate(ev, [get_rule(rule_id)], Overrides(**overrides), now=NOW)
    return result
