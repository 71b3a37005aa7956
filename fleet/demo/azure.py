"""The demo's Azure: the Container Apps ARM emulator over HTTPS with its own certificate.

The console trusts that certificate through `FLEET_CLOUD_EMULATOR_CA` (a file under
`VAR_DIR/demo/`), honoured only for a loopback endpoint under `FLEET_CLOUD_EMULATOR=1`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleet.operations.clouds.credentials import EMULATOR_CA_ENV

ACCOUNT = "demo-azure"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "mcp-rg"
REGION = "westeurope"
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
    from fleet.demo.emulators.container_apps import FakeContainerApps

    fake = FakeContainerApps(operation_polls=2, restart_gets=2)
    for name, spec in SERVICES.items():
        fake.add_app(
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
        )
    fake.start()
    state_dir.mkdir(parents=True, exist_ok=True)
    ca = state_dir / "container-apps-ca.pem"
    ca.write_bytes(fake.cert_pem)
    return DemoAzure(fake, {EMULATOR_CA_ENV: str(ca)})
