"""deploy/kubernetes: every rendered object is a valid Kubernetes object, and the topology holds.

Each object is checked against the `kubernetes` client's models (generated from the Kubernetes
OpenAPI schema): every field must be one the model knows at that place, with the right type, and the
model's own client-side validation (required fields, enums) must accept it.
"""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes.client as k8s
import pytest
import yaml
from django.conf import settings

from tests.deploy.conftest import DEPLOY, load_deploy_script

kustomize = load_deploy_script("kustomize")
KUBERNETES = DEPLOY / "kubernetes"
DIRECTORIES = ["base", "overlays/example", "fleet-namespace"]
PRIMITIVES = {
    "bytes": str,
    "str": str,
    "int": int,
    "bool": bool,
    "float": (int, float),
    "datetime": str,
}


def schema_problems(data: object, type_name: str, path: str) -> list[str]:
    """Where `data` does not fit the client model `type_name` (unknown fields, wrong types)."""
    if type_name == "object":  # IntOrString, free-form
        return []
    if type_name in PRIMITIVES:
        ok = isinstance(data, PRIMITIVES[type_name]) and not (
            type_name != "bool" and isinstance(data, bool)
        )
        return [] if ok else [f"{path}: expected {type_name}, got {data!r}"]
    if type_name.startswith(("list[", "List[")):
        if not isinstance(data, list):
            return [f"{path}: expected a list"]
        inner = type_name[5:-1]
        return [p for i, v in enumerate(data) for p in schema_problems(v, inner, f"{path}[{i}]")]
    if type_name.startswith(("dict(", "Dict[")):
        if not isinstance(data, dict):
            return [f"{path}: expected a map"]
        inner = type_name[5:-1].split(", ", 1)[1]
        return [p for k, v in data.items() for p in schema_problems(v, inner, f"{path}.{k}")]
    model = getattr(k8s, type_name)
    if not isinstance(data, dict):
        return [f"{path}: expected a {type_name} object"]
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    problems = []
    for key, value in data.items():
        if key not in by_json:
            problems.append(f"{path}.{key}: unknown field for {type_name}")
        else:
            problems += schema_problems(value, model.openapi_types[by_json[key]], f"{path}.{key}")
    return problems


def model_name(obj: dict) -> str:
    version = obj["apiVersion"].rsplit("/", 1)[-1]
    return f"{version[0].upper()}{version[1:]}{obj['kind']}"


def validate(obj: dict) -> object:
    name = model_name(obj)
    assert hasattr(k8s, name), f"{obj['kind']} {obj['apiVersion']}: no such Kubernetes type"
    problems = schema_problems(obj, name, f"{obj['kind']}/{obj['metadata']['name']}")
    assert not problems, "\n".join(problems)
    # The model's own checks: required fields present, enum values allowed.
    return k8s.ApiClient().deserialize(json.dumps(obj), name, "application/json")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {d: kustomize.render(KUBERNETES / d) for d in DIRECTORIES}


def _by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_every_rendered_object_is_a_valid_kubernetes_object(rendered, directory):
    for obj in rendered[directory]:
        validate(obj)


def test_the_validator_refuses_unknown_fields_and_missing_required_ones():
    good = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(AssertionError, match=r"spec.prots: unknown field for V1ServiceSpec"):
        validate({**good, "spec": {"prots": []}})
    with pytest.raises(AssertionError, match=r"replicas: expected int"):
        validate({**good, "kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": "2"}})
    with pytest.raises(ValueError, match="selector"):
        validate({**good, "kind": "Deployment", "apiVersion": "apps/v1", "spec": {"template": {}}})


def test_web_workers_beat_and_migration_run_separately_with_resources_and_probes(rendered):
    objects = rendered["overlays/example"]
    deployments = _by_kind(objects, "Deployment")
    assert deployments["fleet-console-beat"]["spec"]["replicas"] == 1
    assert deployments["fleet-console-beat"]["spec"]["strategy"] == {"type": "Recreate"}
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        assert (
            spec["selector"]["matchLabels"].items()
            <= spec["template"]["metadata"]["labels"].items()
        )
        (container,) = spec["template"]["spec"]["containers"]
        assert container["image"] == "registry.example.com/platform/fleet-console:1.0.0", name
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), name
        assert "livenessProbe" in container, name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert deployment["metadata"]["namespace"] == "fleet-console"
    web = deployments["fleet-console-web"]["spec"]["template"]
    assert web["spec"]["containers"][0]["args"] == ["web"]
    assert "healthcheck.py" in str(web["spec"]["containers"][0]["readinessProbe"])
    assert web["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    (job,) = _by_kind(objects, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_worker_pools_consume_every_queue_and_each_scales_and_has_a_budget(rendered):
    objects = rendered["overlays/example"]
    workers = {n: d for n, d in _by_kind(objects, "Deployment").items() if "-worker-" in n}
    queues = []
    for deployment in workers.values():
        env = {
            e["name"]: e["value"]
            for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        queues += env["FLEET_WORKER_QUEUES"].split(",")
    assert sorted(queues) == sorted(settings.FLEET_TASK_QUEUES)  # each queue, in one pool
    hpas = _by_kind(objects, "HorizontalPodAutoscaler")
    pdbs = _by_kind(objects, "PodDisruptionBudget")
    for name in [*workers, "fleet-console-web"]:
        assert hpas[name]["spec"]["scaleTargetRef"]["name"] == name
        assert name in pdbs
    assert "fleet-console-beat" not in hpas
    assert _by_kind(objects, "Deployment")["fleet-console-worker-probes"]["spec"]["replicas"] == 3
    assert hpas["fleet-console-worker-probes"]["spec"]["minReplicas"] == 3


def test_secrets_and_settings_come_from_objects_that_are_rendered(rendered):
    objects = rendered["overlays/example"]
    secret = _by_kind(objects, "Secret")["fleet-console"]
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= secret["data"].keys()
    config = _by_kind(objects, "ConfigMap")["fleet-console-config"]
    assert config["data"]["ALLOWED_HOSTS"] == "fleet.example.com"
    for deployment in _by_kind(objects, "Deployment").values():
        env_from = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"secretRef": {"name": "fleet-console"}} in env_from
        assert {"configMapRef": {"name": "fleet-console-config"}} in env_from


def test_least_privilege_only_cloud_pools_get_a_token_and_only_fleet_namespaces_a_role(rendered):
    accounts = _by_kind(rendered["overlays/example"], "ServiceAccount")
    assert accounts["fleet-console"]["automountServiceAccountToken"] is False
    assert accounts["fleet-console-cloud"]["automountServiceAccountToken"] is True
    cloud_pools = {"fleet-console-worker-cloud", "fleet-console-worker-audits"}
    for name, deployment in _by_kind(rendered["overlays/example"], "Deployment").items():
        expected = "fleet-console-cloud" if name in cloud_pools else "fleet-console"
        assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == expected
    assert not _by_kind(rendered["overlays/example"], "Role")
    role = _by_kind(rendered["fleet-namespace"], "Role")["fleet-console"]
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert verbs == {"get", "list", "patch"}  # nothing creates, deletes or reads secrets
    assert all("secrets" not in rule["resources"] for rule in role["rules"])
    binding = _by_kind(rendered["fleet-namespace"], "RoleBinding")["fleet-console"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "fleet-console-cloud", "namespace": "fleet-console"}
    ]


def test_network_policies_deny_by_default_and_keep_workers_off_metadata_addresses(rendered):
    policies = _by_kind(rendered["overlays/example"], "NetworkPolicy")
    deny = policies["fleet-console-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny
    egress = policies["fleet-console-worker-egress"]["spec"]["egress"][0]["to"]
    assert "169.254.0.0/16" in egress[0]["ipBlock"]["except"]


def test_the_renderer_refuses_what_it_does_not_implement(tmp_path: Path):
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [], "helmCharts": [{"name": "x"}]})
    )
    with pytest.raises(kustomize.KustomizeError, match="helmCharts"):
        kustomize.render(tmp_path)
