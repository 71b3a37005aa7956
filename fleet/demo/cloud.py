"""The demo's Kubernetes: a seeded cluster for the quickstart, so a newcomer can press Redeploy.

`start_demo_cloud()` serves the strict Kubernetes emulator (`fleet/demo/emulators/`) on loopback
(in a background thread of the calling process) with one Deployment per Kubernetes demo service
in namespace `demo`. `with_demo_cloud(fleet_yaml, endpoint)` rewrites the demo fleet file so
those services live in a `demo-k8s` account pointed at it (`fleet.demo.clouds` does the same for
all four platforms). The console's processes need `FLEET_CLOUD_EMULATOR=1`, honoured only for
loopback endpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

DEMO_ACCOUNT = "demo-k8s"
DEMO_NAMESPACE = "demo"

# Per demo service: (labels, HPA min/max or None for fixed replicas, plain env, secret env).
DEPLOYMENTS: dict[str, tuple[dict, tuple[int, int] | None, dict, dict]] = {
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


# How each demo Deployment is run, some well and some not, so the first audit has something honest
# to say: drain hooks, scrape annotations, requests/limits, observed use, logs, policies, RBAC.
_GOOD_LOG = [json.dumps({"level": "info", "tool": "call", "ms": 12})] * 30
_RUNTIME: dict[str, dict[str, Any]] = {
    "notes": {
        "requests": {"cpu": "250m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "pod_annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
        "pod_spec": {"terminationGracePeriodSeconds": 30},
        "container_extra": {"lifecycle": {"preStop": {"sleep": {"seconds": 5}}}},
        "usage": {"cpu": "120m", "memory": "90Mi"},
        "logs": _GOOD_LOG,
    },
    "search": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
        "usage": {"cpu": "180m", "memory": "210Mi"},
        "logs": _GOOD_LOG,
    },
    "calendar": {  # left alone since it was set up: oversized, plain logs, an editor's role
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
        "usage": {"cpu": "6m", "memory": "48Mi"},
        "logs": ["GET /sse 200", "list_events ok", "WARNING slow upstream"] * 10,
    },
    "inventory": {  # keeps stock data on a volume; killed 2 s after SIGTERM; memory tight
        "requests": {"cpu": "250m", "memory": "192Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "pod_spec": {
            "terminationGracePeriodSeconds": 2,
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "inventory-data"}}],
        },
        "container_extra": {"volumeMounts": [{"name": "data", "mountPath": "/var/lib/stock"}]},
        "usage": {"cpu": "200m", "memory": "241Mi"},
        "logs": [json.dumps({"level": "info", "tool": "stock"}), "Traceback (most recent call)"]
        * 15,
    },
    "assistant": {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
        "pod_annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
        "pod_spec": {"terminationGracePeriodSeconds": 45},
        "container_extra": {"lifecycle": {"preStop": {"exec": {"command": ["sleep", "10"]}}}},
        "usage": {"cpu": "310m", "memory": "400Mi"},
        "logs": _GOOD_LOG,
    },
}


def _seed_cluster(fake: Any) -> None:
    """Network policies, ingresses, RBAC and monitors around the demo Deployments."""
    ns = DEMO_NAMESPACE
    agents = [{"podSelector": {"matchLabels": {"role": "agent"}}}]
    ingress_nginx = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    ]
    fake.add_network_policy("notes-from-agents", namespace=ns, pod_selector={"app": "notes"},
                            allow_from=agents)  # fmt: skip
    fake.add_network_policy("search-from-agents-and-ingress", namespace=ns,
                            pod_selector={"app": "search"}, allow_from=agents + ingress_nginx)  # fmt: skip
    fake.add_network_policy("inventory-allow-all", namespace=ns,
                            pod_selector={"app": "inventory"}, allow_from=[])  # fmt: skip
    fake.add_network_policy("assistant-from-ingress", namespace=ns,
                            pod_selector={"app": "assistant"}, allow_from=ingress_nginx)  # fmt: skip
    fake.add_ingress("search", namespace=ns, service="search", host="search.demo.example",
                     annotations={"nginx.ingress.kubernetes.io/limit-rps": "20"})  # fmt: skip
    fake.add_ingress("inventory", namespace=ns, service="inventory",
                     host="inventory.demo.example")  # fmt: skip
    fake.add_ingress("assistant", namespace=ns, service="assistant",
                     host="assistant.demo.example",
                     annotations={"nginx.ingress.kubernetes.io/limit-rpm": "600"})  # fmt: skip
    fake.add_role("config-reader", [{"apiGroups": [""], "resources": ["configmaps"],
                                     "verbs": ["get", "watch"]}], namespace=ns)  # fmt: skip
    fake.bind_role("notes-config", namespace=ns, service_account="notes-sa",
                   role="config-reader", role_kind="Role")  # fmt: skip
    fake.bind_role("calendar-edit", namespace=ns, service_account="calendar-sa", role="edit")
    fake.bind_role("assistant-view", namespace=ns, service_account="assistant-sa", role="view")
    fake.prometheus_operator = True
    fake.add_object("servicemonitors", "search", ns, {
        "labels": {"release": "prometheus"},
        "spec": {"selector": {"matchLabels": {"app": "search"}},
                 "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}]},
    })  # fmt: skip


@dataclass
class DemoCloud:
    """The running fake and what the fleet file needs to point at it."""

    fake: object  # fleet.demo.emulators.kubernetes.FakeKubernetes

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
    from fleet.demo.emulators.kubernetes import FakeKubernetes

    fake = FakeKubernetes(port=port, rollout_gets=rollout_gets)
    for name, (labels, hpa, env, secret_env) in DEPLOYMENTS.items():
        runtime = dict(_RUNTIME[name])
        fake.pod_usage[(DEMO_NAMESPACE, name)] = runtime.pop("usage")
        fake.pod_logs[(DEMO_NAMESPACE, name)] = runtime.pop("logs")
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
            **runtime,
        )
    _seed_cluster(fake)
    fake.start()
    return DemoCloud(fake)


def with_demo_cloud(fleet_yaml: str, endpoint: str) -> str:
    """The demo fleet file with every service moved into the demo Kubernetes account."""
    fleet = yaml.safe_load(fleet_yaml)
    fleet["accounts"] = [a for a in fleet.get("accounts") or [] if a["name"] != DEMO_ACCOUNT]
    fleet["accounts"].append(demo_account(endpoint))
    for service in fleet.get("services") or []:
        if service["name"] in DEPLOYMENTS:
            service["account"] = DEMO_ACCOUNT
            service["resource"] = service["name"]
    return yaml.safe_dump(fleet, sort_keys=False)
