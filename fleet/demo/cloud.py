"""A local Kubernetes-shaped cloud for the quickstart, so a newcomer can press Redeploy and watch.

`start_demo_cloud()` serves the strict Kubernetes fake from `tests/fakes/` on loopback (in a
background thread of the calling process) with one Deployment per demo service in namespace
`demo`. `with_demo_cloud(fleet_yaml, endpoint)` rewrites the demo fleet file so the services live
in a `demo-k8s` account pointed at it. The worker must run with `FLEET_CLOUD_EMULATOR=1` (see
`enable_emulator_credentials`); that switch is honoured only for loopback endpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import yaml

from fleet.demo.servers import DEMO_ORDER
from fleet.operations.clouds.credentials import EMULATOR_ENV

DEMO_ACCOUNT = "demo-k8s"
DEMO_NAMESPACE = "demo"

# Per demo service: (labels, HPA min/max or None for fixed replicas, plain env, secret env).
_DEPLOYMENTS: dict[str, tuple[dict, tuple[int, int] | None, dict, dict]] = {
    "notes": ({"mcp-server": "true", "team": "platform"}, (2, 6), {"LOG_LEVEL": "info"}, {}),
    "search": (
        {"mcp-server": "true", "team": "research"},
        (1, 4),
        {"LOG_LEVEL": "info"},
        {"SEARCH_API_KEY": ("search", "api-key")},
    ),
    "calendar": ({"mcp-server": "true", "team": "productivity"}, None, {}, {}),
    "inventory": (
        {"mcp-server": "true", "team": "commerce"},
        (2, 8),
        {},
        {"DB_PASSWORD": ("inventory-db", "password")},
    ),
    "assistant": ({"role": "agent", "team": "platform"}, (1, 3), {"MODEL": "demo"}, {}),
}


@dataclass
class DemoCloud:
    """The running fake and what the fleet file needs to point at it."""

    fake: object  # tests.fakes.kubernetes.FakeKubernetes

    @property
    def endpoint(self) -> str:
        return self.fake.endpoint  # type: ignore[attr-defined]

    def account_spec(self) -> dict:
        return demo_account(self.endpoint)

    def stop(self) -> None:
        self.fake.stop()  # type: ignore[attr-defined]


def demo_account(endpoint: str) -> dict:
    """The fleet-file entry for the demo Kubernetes account."""
    return {
        "name": DEMO_ACCOUNT,
        "provider": "kubernetes",
        "namespace": DEMO_NAMESPACE,
        "endpoint": endpoint,
    }


def start_demo_cloud(port: int = 0, rollout_gets: int = 4) -> DemoCloud:
    """Serve a seeded Kubernetes fake on 127.0.0.1 (port 0 = any free port) and return it.

    A rollout completes after `rollout_gets` status reads, so with the default polling pace a
    demo redeploy takes about ten seconds: long enough to watch the progress.
    """
    from tests.fakes.kubernetes import FakeKubernetes  # the strict fake doubles as the demo cloud

    fake = FakeKubernetes(port=port, rollout_gets=rollout_gets)
    for name in DEMO_ORDER:
        labels, hpa, env, secret_env = _DEPLOYMENTS[name]
        fake.add_deployment(
            name,
            namespace=DEMO_NAMESPACE,
            image=f"ghcr.io/example/mcp-{name}:1.0.0",
            replicas=hpa[0] if hpa else 1,
            labels=labels,
            env=env,
            secret_env=secret_env,
            service_account=f"{name}-sa",
            hpa=hpa,
        )
    fake.start()
    return DemoCloud(fake)


def with_demo_cloud(fleet_yaml: str, endpoint: str) -> str:
    """The demo fleet file with every service moved into the demo Kubernetes account."""
    fleet = yaml.safe_load(fleet_yaml)
    fleet["accounts"] = [a for a in fleet.get("accounts") or [] if a["name"] != DEMO_ACCOUNT]
    fleet["accounts"].append(demo_account(endpoint))
    for service in fleet.get("services") or []:
        if service["name"] in _DEPLOYMENTS:
            service["account"] = DEMO_ACCOUNT
            service["resource"] = service["name"]
    return yaml.safe_dump(fleet, sort_keys=False)


def enable_emulator_credentials() -> None:
    """Let this process and the children it starts (worker, beat) use emulator credentials.

    Honoured only for accounts whose endpoint is on loopback, so it never weakens a real cloud.
    """
    os.environ[EMULATOR_ENV] = "1"
