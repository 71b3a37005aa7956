"""The Kubernetes reader matches Deployments to Services, Ingresses, NetworkPolicies, pods and
RoleBindings through indexes built once per namespace: the answers must be those of the API's
own selection rules, including the shapes an index could get wrong (a Service without a
selector, a policy that selects every pod or uses only expressions, a group binding, a
`matchLabels` spanning several labels)."""

from __future__ import annotations

from datetime import UTC, datetime

from checks.audits.readers import kubernetes as reader

AT = datetime(2026, 11, 30, tzinfo=UTC)


def deployment(name: str, labels: dict, account: str = "") -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": {**labels, "tier": "mcp"}},
                "spec": {"serviceAccountName": account or name, "containers": [{"name": "s"}]},
            },
        },
        "status": {"availableReplicas": 1},
    }


def service(name: str, selector: dict | None, kind: str = "ClusterIP") -> dict:
    spec = {"type": kind, "ports": [{"port": 80, "targetPort": 8080}]}
    if selector is not None:
        spec["selector"] = selector
    return {"metadata": {"name": name}, "spec": spec}


def policy(name: str, pod_selector: dict) -> dict:
    return {"metadata": {"name": name}, "spec": {"podSelector": pod_selector, "ingress": [{}]}}


def binding(name: str, subject: dict, role: str = "view") -> dict:
    return {
        "metadata": {"name": name},
        "subjects": [subject],
        "roleRef": {"kind": "ClusterRole", "name": role},
    }


def pod(name: str, labels: dict | None, phase: str = "Running") -> dict:
    return {"metadata": {"name": name, "labels": labels}, "status": {"phase": phase}}


def namespace_read() -> reader.NamespaceRead:
    read = reader.NamespaceRead("mcp", "k8s, namespace mcp", AT)
    many = [deployment(f"svc-{i}", {"app": f"svc-{i}"}) for i in range(50)]
    read.lists = {
        "deployments": [
            deployment("a", {"app": "a", "track": "stable"}),
            deployment("b", {"app": "b"}, account="shared"),
            *many,
        ],
        "services": [
            service("external", None, "ExternalName"),
            service("a-stable", {"track": "stable", "app": "a"}, "LoadBalancer"),
            service("tier", {"tier": "mcp"}),
            service("a-canary", {"app": "a", "track": "canary"}),
            *[service(f"svc-{i}", {"app": f"svc-{i}"}) for i in range(50)],
        ],
        "ingresses": [
            {
                "metadata": {"name": "front"},
                "spec": {
                    "defaultBackend": {"service": {"name": "tier", "port": {"number": 80}}},
                    "rules": [
                        {
                            "host": "a.example.com",
                            "http": {
                                "paths": [
                                    {"backend": {"service": {"name": "a-stable", "port": {}}}}
                                ]
                            },
                        }
                    ],
                },
            }
        ],
        "networkpolicies": [
            policy("everything", {}),
            policy(
                "by-expression",
                {"matchExpressions": [{"key": "app", "operator": "In", "values": ["b"]}]},
            ),  # fmt: skip
            policy("only-a", {"matchLabels": {"app": "a", "track": "stable"}}),
            policy("canary", {"matchLabels": {"app": "a", "track": "canary"}}),
        ],
        "rolebindings": [
            binding("a-own", {"kind": "ServiceAccount", "name": "a", "namespace": "mcp"}),
            binding("a-elsewhere", {"kind": "ServiceAccount", "name": "a", "namespace": "x"}),
            binding("shared", {"kind": "ServiceAccount", "name": "shared", "namespace": "mcp"}),
        ],
        "clusterrolebindings": [
            binding("all-sa", {"kind": "Group", "name": "system:serviceaccounts:mcp"}, "edit"),
        ],
        "roles": [],
        "clusterroles": [],
        "pods": [
            pod("a-1", {"app": "a", "track": "stable"}, "Pending"),
            pod("b-0", None),
            pod("a-2", {"track": "stable", "app": "a"}),
            pod("a-canary", {"app": "a", "track": "canary"}),
        ],
        "podmetrics": [],
    }
    return read


def test_services_ingresses_and_policies_are_selected_as_the_api_does():
    read = namespace_read()
    a, b = read.lists["deployments"][:2]

    assert [s["metadata"]["name"] for s in reader._services_for(read, a)] == ["a-stable", "tier"]
    assert [s["metadata"]["name"] for s in reader._services_for(read, b)] == ["tier"]
    routes = reader._ingresses_for(read, reader._services_for(read, a))
    assert [host for _, host, _ in routes] == ["*", "a.example.com"]
    assert reader._policies(read, a) == (["everything", "only-a"], ["everything", "only-a"])
    assert reader._policies(read, b) == (["everything", "by-expression"],) * 2
    summary = reader.network(read, a).summary
    assert "Service a-stable type LoadBalancer" in summary and "Ingress front host *" in summary


def test_bindings_and_pods_are_found_for_each_deployment():
    read = namespace_read()
    a, b = read.lists["deployments"][:2]

    grants = reader.identity_grants(read, a).value["grants"]
    assert grants == [
        "RoleBinding a-own → ClusterRole view in mcp",
        "ClusterRoleBinding all-sa → ClusterRole edit cluster-wide",
    ]
    assert reader.identity_grants(read, b).value["broad"] == [
        "ClusterRoleBinding all-sa → ClusterRole edit cluster-wide: the built-in 'edit' role"
    ]
    wanted = a["spec"]["selector"]["matchLabels"]
    found = reader._pods_selected(read, "pods", wanted)
    selected = [
        p for p in found if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
    ]
    assert [p["metadata"]["name"] for p in selected] == ["a-1", "a-2"]
    assert reader._pods_selected(read, "pods", {}) == read.lists["pods"]


def test_every_deployment_finds_only_its_own_service_among_many():
    read = namespace_read()

    for d in read.lists["deployments"][2:]:
        names = [s["metadata"]["name"] for s in reader._services_for(read, d)]
        assert names == ["tier", d["metadata"]["name"]]
