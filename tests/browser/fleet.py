"""A small lived-in fleet for the browser tests, made through the console's own service functions.

Two services on a Kubernetes cluster (the strict emulator in fleet/demo/emulators/kubernetes.py) whose URLs are
a real MCP server on loopback, an agent backend that calls them, a finished fleet audit, a budget
with thresholds, an alert channel, an open and a resolved incident, a finished redeploy, a
refresh job and an API token: enough for every main page to show its real content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from checks.audits import services as audits
from checks.audits.models import AuditRun
from checks.state import record_state_change
from console.models import Job
from console.notifications import services as alerting
from console.tokens import issue_token
from fleet import services as registry
from fleet.budgets import services as budgets
from fleet.budgets.models import Budget
from fleet.models import CloudAccount, Service
from fleet.operations import services as cloud
from fleet.operations.models import Redeploy


@dataclass
class BrowserFleet:
    account: CloudAccount
    weather: Service
    files: Service
    agent: Service
    audit_run: AuditRun
    budget: Budget
    redeploy: Redeploy
    job: Job


def build_fleet(actor: User, *, kube_endpoint: str, mcp_url: str) -> BrowserFleet:
    """Everything each main page needs to show real content (the redeploy and audit run eagerly)."""
    account = registry.save_account(
        actor=actor,
        source="ui",
        spec={
            "name": "prod-k8s",
            "provider": "kubernetes",
            "endpoint": kube_endpoint,
            "namespace": "mcp",
        },
    )

    def service(name: str, **spec) -> Service:
        base = {"name": name, "url": mcp_url, "environment": "production", "team": "tools"}
        return registry.save_service(actor=actor, source="ui", spec={**base, **spec})

    weather = service("weather", account="prod-k8s", resource="mcp-weather", tags=["maps"])
    files = service("files", account="prod-k8s", resource="mcp-files", team="platform")
    agent = service(
        "assistant", kind="agent_backend", depends_on=["weather", "files"], team="platform"
    )
    alerting.save_channel(
        actor=actor,
        source="ui",
        spec={"name": "ops-webhook", "type": "webhook", "target": "http://127.0.0.1:9/hook"},
    )
    budget = budgets.save_budget(
        actor=actor,
        source="ui",
        spec={
            "name": "tools-monthly",
            "scope": "team",
            "scope_value": "tools",
            "amount": "250",
            "currency": "USD",
            "thresholds": "50, 90, 100",
        },
    )
    now = timezone.now()
    live = {"last_checked_at": now}
    went_down = now - timedelta(minutes=12)
    record_state_change(weather, "unknown", "down", "connection refused", at=went_down, live=live)
    record_state_change(
        weather, "down", "up", "healthy again", at=went_down + timedelta(minutes=3), live=live
    )
    record_state_change(files, "unknown", "degraded", "p95 latency 2.4 s", at=now, live=live)
    redeploy, _ = cloud.request_redeploy(weather, actor, reason="rotate keys")
    job = cloud.request_sync(weather, actor)
    run = audits.create_run(actor=actor, trigger="manual")
    issue_token(actor, "ci-deployer")
    redeploy.refresh_from_db()
    run.refresh_from_db()
    job.refresh_from_db()
    return BrowserFleet(account, weather, files, agent, run, budget, redeploy, job)
