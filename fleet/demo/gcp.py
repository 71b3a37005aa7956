"""The demo's Google Cloud: Cloud Run, Billing Budgets, Monitoring, Logging, Resource Manager and
Compute (the load balancer and Cloud Armor policy in front of the service).

Each is a strict emulator from `fleet.demo.emulators` served on loopback in the calling process.
The Cloud Run service `weather` runs the demo's weather MCP server (its revision tag URLs lead
to it too, so a canary release probes a real server); Monitoring holds its billable instance
time and requests since the 1st (what its estimated spend and the audit's traffic rule read);
Logging its JSON logs; Resource Manager the project's IAM policy; Compute a serverless NEG, a
backend service and a Cloud Armor throttle rule in front of it; Billing Budgets the copies of the
console's budgets that cover it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from checks.audits.readers.cloud_armor import COMPUTE_ENDPOINT_ENV
from checks.audits.readers.cloudrun import LOGGING_ENDPOINT_ENV, RESOURCE_MANAGER_ENDPOINT_ENV
from fleet.budgets.clients import GCP_BUDGETS_ENDPOINT_ENV, GCP_MONITORING_ENDPOINT_ENV
from fleet.costs.usage import BILLABLE_TIME, REQUEST_COUNT

ACCOUNT = "demo-gcp"
PROJECT = "demo-project"
REGION = "us-central1"
BILLING_ACCOUNT = "01D3M0-F1EE70-C0FFEE"
SERVICE_ACCOUNT = f"weather@{PROJECT}.iam.gserviceaccount.com"
# Per Cloud Run demo service: team label, min/max instances, requests per hour.
# A Cloud Armor throttle: 100 requests a minute per client IP, then 429
# (https://cloud.google.com/compute/docs/reference/rest/v1/securityPolicies).
THROTTLE = {"priority": 1000, "action": "throttle", "preview": False,
            "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}},
            "rateLimitOptions": {"conformAction": "allow", "exceedAction": "deny(429)",
                                 "enforceOnKey": "IP",
                                 "rateLimitThreshold": {"count": 100, "intervalSec": 60}}}  # fmt: skip
SERVICES: dict[str, dict[str, Any]] = {
    "weather": {"team": "research", "min": 1, "max": 5, "requests_per_hour": 240},
}


@dataclass
class DemoGcp:
    """The running emulators and the environment the console's processes need to reach them."""

    run: Any
    monitoring: Any
    logging: Any
    resource_manager: Any
    compute: Any
    budgets: Any
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.run.endpoint

    def account_spec(self) -> dict:
        return {
            "name": ACCOUNT,
            "provider": "gcp",
            "project": PROJECT,
            "region": REGION,
            "billing_account": BILLING_ACCOUNT,
            "endpoint": self.endpoint,
        }

    def stop(self) -> None:
        for fake in (self.run, self.logging, self.resource_manager, self.compute):
            fake.stop()
        self.monitoring.__exit__(None, None, None)
        self.budgets.__exit__(None, None, None)


def _hourly(since: datetime, until: datetime, value: float) -> list[tuple]:
    """DELTA points, one per whole hour from `since` to `until`."""
    points, start = [], since
    while start + timedelta(hours=1) <= until:
        points.append((start, start + timedelta(hours=1), value))
        start += timedelta(hours=1)
    return points


def _tag_base(urls: dict[str, str], service_uri: str) -> str:
    """A revision tag's URL leads to the service's demo server (a canary probes a real one).

    Cloud Run URLs read https://SERVICE-PROJECTHASH.REGION.run.app.
    """
    host = service_uri.split("//", 1)[-1]
    service = host.rsplit("-", 1)[0] if "-" in host.split(".", 1)[0] else host
    return urls.get(service, service_uri)


def start_demo_gcp(urls: dict[str, str], now: datetime | None = None) -> DemoGcp:
    """Serve the four Google APIs on 127.0.0.1, seeded for the demo's Cloud Run services.

    `urls` maps a service name to the loopback base URL of its demo server.
    """
    from fleet.demo.emulators.billing_budgets import FakeBillingBudgets
    from fleet.demo.emulators.cloudrun import FakeCloudRun
    from fleet.demo.emulators.compute import FakeCompute
    from fleet.demo.emulators.gcp_logging import FakeCloudLogging, FakeResourceManager
    from fleet.demo.emulators.monitoring import FakeMonitoring, SeededSeries

    now = now or datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    run = FakeCloudRun(operation_polls=2)
    monitoring = FakeMonitoring().__enter__()
    budgets = FakeBillingBudgets().__enter__()
    logs, crm, compute = FakeCloudLogging(), FakeResourceManager(), FakeCompute()
    compute.add_security_policy(PROJECT, "mcp-edge", [THROTTLE])
    for name, spec in SERVICES.items():
        run.add_service(
            name,
            project=PROJECT,
            location=REGION,
            image=f"us-docker.pkg.dev/{PROJECT}/mcp/{name}:1.4.2",
            labels={"mcp-server": "true", "team": spec["team"]},
            min_instances=spec["min"],
            max_instances=spec["max"],
            env={"LOG_LEVEL": "info"},
            secret_env={"FORECAST_API_KEY": f"projects/{PROJECT}/secrets/forecast-key"},
            service_account=SERVICE_ACCOUNT,
            public=False,
        )
        labels = {"service_name": name, "location": REGION}
        monitoring.seed(SeededSeries(BILLABLE_TIME, labels, _hourly(month, now, 3600.0 * spec["min"])))  # fmt: skip
        monitoring.seed(
            SeededSeries(
                REQUEST_COUNT,
                labels,
                _hourly(month, now, spec["requests_per_hour"]),
                metric_labels={"response_code_class": "2xx"},
                value_type="INT64",
            )
        )
        logs.add_entries(PROJECT, name, [{"message": "tool call", "tool": "get_forecast"}] * 30)
        neg = compute.add_serverless_neg(PROJECT, REGION, f"{name}-neg", name)
        compute.add_backend_service(PROJECT, f"{name}-backend", [neg], security_policy="mcp-edge")
    run.tag_uri = lambda service_uri, tag: _tag_base(urls, service_uri)
    crm.set_policy(
        PROJECT,
        {"roles/datastore.user": [f"serviceAccount:{SERVICE_ACCOUNT}"]},
        audit_configs={"allServices": ["ADMIN_READ", "DATA_READ", "DATA_WRITE"]},
    )
    for fake in (run, logs, crm, compute):
        fake.start()
    env = {
        GCP_MONITORING_ENDPOINT_ENV: monitoring.endpoint,
        LOGGING_ENDPOINT_ENV: logs.endpoint,
        RESOURCE_MANAGER_ENDPOINT_ENV: crm.endpoint,
        COMPUTE_ENDPOINT_ENV: compute.endpoint,
        GCP_BUDGETS_ENDPOINT_ENV: budgets.endpoint,
    }
    return DemoGcp(run, monitoring, logs, crm, compute, budgets, env)
