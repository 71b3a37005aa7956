"""The versioned catalogue of production-readiness rules.

Every item of the "Production Checklist" in the deployment guide maps to a rule through
`CHECKLIST` (item texts verbatim, so a test can prove full coverage against the guide), plus an
`mcp` section of MCP-specific rules the guide does not list. Rule ids are stable: results,
overrides and attestations refer to them across catalogue versions. Bump `CATALOGUE_VERSION`
whenever a rule is added, removed or its decision logic changes.
"""

from __future__ import annotations

from checks.audits.rule import Rule
from checks.audits.rules import (
    compliance,
    cost,
    infrastructure,
    mcp,
    observability,
    performance,
    reliability,
    security,
)

CATALOGUE_VERSION = "2026.11.2"  # .2: rules decided from platform evidence

# Display order and titles of the sections.
SECTIONS: dict[str, str] = {
    "infrastructure": "Infrastructure",
    "security": "Security",
    "observability": "Observability",
    "reliability": "Reliability",
    "performance": "Performance",
    "cost": "Cost",
    "compliance": "Compliance",
    "mcp": "MCP",
}

RULES: tuple[Rule, ...] = (
    *infrastructure.RULES,
    *security.RULES,
    *observability.RULES,
    *reliability.RULES,
    *performance.RULES,
    *cost.RULES,
    *compliance.RULES,
    *mcp.RULES,
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}
if len(RULES_BY_ID) != len(RULES):
    raise RuntimeError("duplicate rule id in the audit catalogue")

# The guide's checklist, section by section, each item to the rule that primarily decides it.
# Other rules may cite the same item through Rule.checklist_item (e.g. a manual review next to
# an automated check).
CHECKLIST: dict[str, dict[str, str]] = {
    "Infrastructure": {
        "Each MCP server is a separate service": "infrastructure.separate-mcp-service",
        "Agent backend is a separate service": "infrastructure.separate-agent-backend",
        "All services can reach each other": "infrastructure.service-reachability",
        "Load balancer/ingress configured": "infrastructure.ingress-configured",
        "SSL/TLS certificates valid": "infrastructure.tls-valid",
        "DNS records pointing to services": "infrastructure.dns-resolves",
    },
    "Security": {
        "API keys in secret manager (not .env files)": "security.secrets-in-secret-manager",
        "IAM roles follow least privilege": "security.dedicated-identity",
        "Network policies restrict traffic": "security.network-restricted",
        "Rate limiting enabled": "security.rate-limiting",
        "Input validation on all tools": "security.tool-input-schemas",
        "Output sanitization for LLM safety": "security.output-sanitization",
    },
    "Observability": {
        "Structured logging enabled": "observability.structured-logging",
        "Metrics collection configured": "observability.metrics",
        "Health check endpoints working": "observability.health-endpoint",
        "Alerts set up for failures": "observability.alert-routing",
        "Dashboards created": "observability.dashboards",
    },
    "Reliability": {
        "Auto-scaling configured": "reliability.autoscaling-bounded",
        "Multiple replicas for HA": "reliability.multiple-replicas",
        "Graceful shutdown handling": "reliability.graceful-shutdown",
        "Retry logic in MCP clients": "reliability.client-retries",
        "Circuit breakers for failing servers": "reliability.circuit-breakers",
        "Backup/restore plan for data": "reliability.backup-restore",
    },
    "Performance": {
        "Connection pooling enabled": "performance.connection-pooling",
        "Caching where appropriate": "performance.caching",
        "Resource limits set correctly": "performance.resource-limits",
        "Load testing completed": "performance.load-testing",
    },
    "Cost": {
        "Budget alerts configured": "cost.budget-coverage",
        "Resources right-sized": "cost.right-sizing",
        "Scale-to-zero enabled where possible": "cost.scale-to-zero",
        "Unused resources cleaned up": "cost.unused-resources",
    },
    "Compliance": {
        "Data residency requirements met": "compliance.data-residency",
        "Audit logging enabled": "compliance.audit-logging",
        "Sensitive data encrypted at rest": "compliance.encryption-at-rest",
        "PII handling compliant with regulations": "compliance.pii-handling",
    },
}


def get_rule(rule_id: str) -> Rule:
    """The catalogue rule with this id; a clear ValueError for an unknown id."""
    try:
        return RULES_BY_ID[rule_id]
    except KeyError:
        raise ValueError(f"unknown audit rule id {rule_id!r}") from None


def section_title(section: str) -> str:
    """The display title of a section; custom sections show as written."""
    return SECTIONS.get(section, section)
