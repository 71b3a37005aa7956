"""The demo's Azure: the Container Apps ARM emulator over HTTPS with its own certificate, with
the ARM providers the audit reads beside it (role assignments, Azure Monitor metrics and the
activity log's diagnostic settings), seeded so the app looks lived in: a week of requests and
CPU/memory peaks, built-in authentication, a narrow custom role, an exported activity log, a
search index on an Azure Files share (so backups are asked for), a team budget made in Cost
Management and JSON console lines in the environment's Log Analytics workspace.

The console trusts that certificate through `FLEET_CLOUD_EMULATOR_CA` (a file under
`VAR_DIR/demo/`), honoured only for a loopback endpoint under `FLEET_CLOUD_EMULATOR=1`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fleet.operations.clouds.credentials import EMULATOR_CA_ENV

ACCOUNT = "demo-azure"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "mcp-rg"
REGION = "westeurope"
WORKSPACE = "5c6f2a1e-0d3b-4c7a-9e21-6b8f4d2c1a90"  # the environment's Log Analytics customerId
# Per Container Apps demo service: tags, min/max replicas, concurrent requests per replica.
SERVICES: dict[str, dict[str, Any]] = {
    "docs": {"tags": {"team": "productivity", "mcp-server": "true"}, "min": 1, "max": 4,
             "concurrency": 20},
}  # fmt: skip


@dataclass
class DemoAzure:
    fake: Any
    env: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.fake.endpoint

    def account_spec(self) -> dict:
        return {
            "name": ACCOUNT,
            "provider": "azure",
            "subscription": SUBSCRIPTION,
            "resource_group": RESOURCE_GROUP,
            "region": REGION,
            "endpoint": self.endpoint,
        }

    def stop(self) -> None:
        self.fake.stop()


def start_demo_azure(state_dir: Path) -> DemoAzure:
    """Serve Container Apps on https://127.0.0.1 and write its certificate under `state_dir`."""
    from fleet.demo.emulators.azure_arm import FakeArm

    fake = FakeArm(operation_polls=2, restart_gets=2)
    for name, spec in SERVICES.items():
        app_id = fake.add_app(
            name,
            subscription=SUBSCRIPTION,
            resource_group=RESOURCE_GROUP,
            image=f"mcpdemo.azurecr.io/{name}:3.1.0",
            tags=spec["tags"],
            min_replicas=spec["min"],
            max_replicas=spec["max"],
            concurrency=spec["concurrency"],
            cpu=0.5,
            memory="1Gi",
            env={"LOG_LEVEL": "info"},
            secret_env={"INDEX_KEY": "index-key"},
            external=False,
            volumes={"search-index": "AzureFile", "tmp": "EmptyDir"},
        )
        _lived_in(fake, app_id)
        fake.send_logs(fake.environment_of(app_id), "log-analytics", WORKSPACE)
        fake.add_console_logs(WORKSPACE, name, [
            f'{{"level": "info", "logger": "{name}", "msg": "{m}"}}'
            for m in ("tools/list", "tools/call search_docs", "tools/call fetch_page")
        ] * 5)  # fmt: skip
    fake.export_activity_log(SUBSCRIPTION, "to-ops-workspace", {"Administrative": True})
    # A team budget someone made in Cost Management on the resource group, filtered on the tag.
    fake.add_budget(SUBSCRIPTION, "productivity-monthly", 300.0, resource_group=RESOURCE_GROUP,
                    filter={"tags": {"name": "team", "operator": "In",
                                     "values": ["productivity"]}})  # fmt: skip
    fake.start()
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = state_dir / "container-apps-ca.pem"
    ca.write_bytes(fake.cert_pem)
    return DemoAzure(fake, {EMULATOR_CA_ENV: str(ca)})


def _lived_in(fake: Any, app_id: str) -> None:
    """A week of platform history for one app: daily requests and CPU/memory peaks (about a
    quarter of its 0.5 cores and 40 % of its 1Gi), Easy Auth refusing anonymous callers with
    401 (Microsoft Entra ID), and a custom role that only reads its search index."""
    now = datetime.now(UTC)
    days = [now - timedelta(days=d, hours=2) for d in range(7)]
    fake.add_requests(app_id, [(t, 1200.0 + 150 * (i % 4)) for i, t in enumerate(days)])
    fake.add_usage(
        app_id,
        cpu_cores=[(t, 0.08 + 0.01 * (i % 5)) for i, t in enumerate(days)],
        memory_bytes=[(t, (380 + 8 * (i % 5)) * 1024**2) for i, t in enumerate(days)],
    )
    fake.set_auth(app_id, action="Return401", providers=("azureActiveDirectory",))
    role = f"{app_id.rsplit('/', 1)[-1]}-index-reader"
    fake.define(role, ["Microsoft.Search/searchServices/indexes/read"])
    fake.assign(SUBSCRIPTION, fake.principal_of(app_id), role,
                scope=f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}")  # fmt: skip
