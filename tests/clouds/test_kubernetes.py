"""Kubernetes adapter through the official `kubernetes` client against the strict local fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleet.operations.clouds.errors import InvalidRequest, NotFound, PermissionDenied, Unavailable
from fleet.operations.clouds.kubernetes import RESTARTED_AT, KubernetesAdapter
from fleet.operations.clouds.types import AccountRef, ScalingSettings, ServiceRef
from tests.clouds.conftest import FAST
from tests.fakes.kubernetes import FakeKubernetes, seed_demo

DEPLOYMENT = "/apis/apps/v1/namespaces/mcp/deployments/mcp-weather"
HPAS = "/apis/autoscaling/v2/namespaces/mcp/horizontalpodautoscalers"
SMP = "application/strategic-merge-patch+json"


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    with FakeKubernetes(token="fleet-emulator-token", rollout_gets=3) as server:
        seed_demo(server)
        yield server


@pytest.fixture
def account(fake: FakeKubernetes) -> AccountRef:
    return AccountRef(
        name="demo-k8s", provider="kubernetes", namespace="mcp", endpoint=fake.endpoint
    )


@pytest.fixture
def adapter(account: AccountRef) -> KubernetesAdapter:
    return KubernetesAdapter(account, pacing=FAST)


def weather(account: AccountRef) -> ServiceRef:
    return ServiceRef(account=account, resource="mcp-weather")


def test_describe_combines_deployment_hpa_and_service(adapter, account, fake):
    snapshot = adapter.describe(weather(account))

    assert snapshot.url == "http://203.0.113.10"
    assert snapshot.ingress == "all"
    assert snapshot.image == "ghcr.io/example/mcp-weather:1.4.2"
    assert snapshot.revision == "1"
    assert snapshot.ready_instances == 2
    assert snapshot.scaling.as_dict() == {
        "min_instances": 2,
        "max_instances": 6,
        "concurrency": None,
        "cpu": "500m",
        "memory": "256Mi",
    }
    assert snapshot.service_identity == "mcp-weather"
    env = {e.name: (e.is_secret_ref, e.value) for e in snapshot.env}
    assert env == {"LOG_LEVEL": (False, "info"), "WEATHER_API_KEY": (True, None)}
    assert snapshot.raw["spec"]["template"]["spec"]["serviceAccountName"] == "mcp-weather"
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", DEPLOYMENT),
        ("GET", HPAS),
        ("GET", "/api/v1/namespaces/mcp/services"),
    ]
    assert fake.requests[0].headers["authorization"] == "Bearer fleet-emulator-token"


def test_internal_service_url_and_fixed_replicas(adapter, account):
    files = adapter.describe(ServiceRef(account, "mcp-files"))
    backend = adapter.describe(ServiceRef(account, "agent-backend"))

    assert files.url == "http://mcp-files.mcp.svc.cluster.local"
    assert files.ingress == "internal"
    assert (files.scaling.min_instances, files.scaling.max_instances) == (1, 1)
    assert backend.url == "" and backend.ingress == "none"


def test_discovery_uses_a_label_selector(adapter, account, fake):
    found = adapter.list_services(account, label="mcp-server=true")

    assert sorted(s.resource for s in found) == ["mcp-files", "mcp-weather"]
    listing = fake.requests_to("GET", "/apis/apps/v1/namespaces/mcp/deployments")[0]
    assert listing.query == {"labelSelector": "mcp-server=true"}


def test_redeploy_is_a_rollout_restart_and_waits_for_it(adapter, account, fake):
    lines: list[str] = []

    result = adapter.redeploy(weather(account), reason="new secret", progress=lines.append)

    assert result.status == "succeeded"
    assert (result.revision_before, result.revision_after) == ("1", "2")
    assert result.operation_id == "mcp/deployment/mcp-weather@generation=2"
    (patch,) = fake.requests_to("PATCH")
    assert patch.path == DEPLOYMENT and patch.content_type == SMP
    annotations = patch.body["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {RESTARTED_AT, "fleet-console/redeploy-reason"}
    assert patch.body["spec"].keys() == {"template"}
    assert lines[1:] == [
        "1 of 2 new replicas updated",
        "1 old replicas pending termination",
        "All 2 replicas updated and available",
    ]
    # the image did not change, only the pod template annotation
    stored = fake.objects["deployments"][("mcp", "mcp-weather")]
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4.2")


def test_apply_scaling_patches_hpa_and_container_limits(adapter, account, fake):
    result = adapter.apply_scaling(
        weather(account), ScalingSettings(max_instances=10, cpu="250m", memory="1Gi")
    )

    assert result.status == "succeeded" and result.revision_after == "2"
    hpa_patch, deployment_patch = fake.requests_to("PATCH")
    assert hpa_patch.path == f"{HPAS}/mcp-weather"
    assert hpa_patch.body == {"spec": {"maxReplicas": 10}}
    assert deployment_patch.body == {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "server",
                            "resources": {
                                "limits": {"cpu": "250m", "memory": "1Gi"},
                                "requests": {"cpu": "250m"},  # lowered: 500m > new limit
                            },
                        }
                    ]
                }
            }
        }
    }
    snapshot = adapter.describe(weather(account))
    assert snapshot.scaling.as_dict() == {
        "min_instances": 2,
        "max_instances": 10,
        "concurrency": None,
        "cpu": "250m",
        "memory": "1Gi",
    }


def test_apply_scaling_without_hpa_sets_replicas(adapter, account, fake):
    result = adapter.apply_scaling(
        ServiceRef(account, "mcp-files"), ScalingSettings(min_instances=3)
    )

    assert result.status == "succeeded"
    (patch,) = fake.requests_to("PATCH")
    assert patch.body == {"spec": {"replicas": 3}}
    assert adapter.describe(ServiceRef(account, "mcp-files")).ready_instances == 3


def test_min_max_range_without_hpa_is_refused_with_advice(adapter, account, fake):
    with pytest.raises(InvalidRequest, match="no HorizontalPodAutoscaler"):
        adapter.apply_scaling(
            ServiceRef(account, "mcp-files"), ScalingSettings(min_instances=1, max_instances=4)
        )
    with pytest.raises(InvalidRequest, match="concurrency"):
        adapter.apply_scaling(weather(account), ScalingSettings(concurrency=10))
    assert fake.requests_to("PATCH") == []


def test_invalid_hpa_range_is_rejected_by_the_api(adapter, account):
    with pytest.raises(InvalidRequest, match="must be greater than or equal to `minReplicas`"):
        adapter.apply_scaling(weather(account), ScalingSettings(max_instances=1))


def test_permission_denied_names_verb_resource_and_namespace(adapter, account, fake):
    fake.fail_next(403, method="PATCH")

    with pytest.raises(PermissionDenied) as caught:
        adapter.redeploy(weather(account))

    message = str(caught.value)
    assert "deployments.apps patch" in message
    assert "deployments/mcp-weather in namespace mcp" in message
    assert 'cannot patch resource "deployments"' in message  # the API server's own words


def test_not_found(adapter, account):
    with pytest.raises(NotFound, match="deployments/ghost"):
        adapter.describe(ServiceRef(account, "ghost"))


def test_throttled_then_succeeds(adapter, account, fake):
    fake.fail_next(429, path_contains=DEPLOYMENT)

    assert adapter.describe(weather(account)).image
    assert len(fake.requests_to("GET", DEPLOYMENT)) == 2


def test_server_errors_retried_then_reported(adapter, account, fake):
    fake.fail_next(500, count=5, path_contains=DEPLOYMENT)

    with pytest.raises(Unavailable, match="gave up after 3 attempts"):
        adapter.describe(weather(account))
    assert len(fake.requests_to("GET", DEPLOYMENT)) == 3


def test_rollout_that_never_finishes_is_unknown(account, fake):
    fake.rollout_gets = 0

    result = KubernetesAdapter(account, pacing=FAST).redeploy(weather(account), timeout_s=0.3)

    assert result.status == "unknown"
    assert result.operation_id == "mcp/deployment/mcp-weather@generation=2"
    assert "kubectl rollout status deployment/mcp-weather -n mcp" in result.message


def test_rollout_past_its_deadline_fails(adapter, account, fake):
    fake.failing_rollouts.add(("mcp", "mcp-weather"))

    result = adapter.redeploy(weather(account))

    assert result.status == "failed"
    assert "timed out progressing" in result.message


def test_fake_is_strict_about_patch_content_type_and_auth(fake):
    import httpx

    url = f"{fake.endpoint}{DEPLOYMENT}"
    auth = {"Authorization": "Bearer fleet-emulator-token"}
    wrong_type = httpx.patch(
        url, json={"spec": {"replicas": 1}}, headers={**auth, "Content-Type": "application/json"}
    )
    no_token = httpx.get(url)

    assert wrong_type.status_code == 415
    assert wrong_type.json()["reason"] == "UnsupportedMediaType"
    assert no_token.status_code == 401 and no_token.json()["kind"] == "Status"
