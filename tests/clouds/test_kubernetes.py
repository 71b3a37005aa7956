"""Kubernetes adapter through the official `kubernetes` client against the strict local fake."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from fleet.operations.clouds.errors import InvalidRequest, NotFound, PermissionDenied, Unavailable
from fleet.operations.clouds.kubernetes import RESTARTED_AT, KubernetesAdapter
from fleet.operations.clouds.pacing import Pacing
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
        "cpu_request": "500m",
        "memory_request": "256Mi",
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
    assert listing.query == {"labelSelector": "mcp-server=true", "limit": "250"}


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
        "Waiting up to 630s: the Deployment's progressDeadlineSeconds is 600, and its own "
        "verdict comes after that.",
        "Waiting for the deployment controller to observe the change",
        "1 of 2 new replicas updated",
        "1 old replicas pending termination",
        "All 2 replicas updated and available",
    ]
    # the image did not change, only the pod template annotation
    stored = fake.objects["deployments"][("mcp", "mcp-weather")]
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.4.2")


def test_apply_scaling_patches_hpa_and_container_limits(adapter, account, fake):
    result = adapter.apply_scaling(
        weather(account),
        ScalingSettings(max_instances=10, cpu="250m", cpu_request="100m", memory="1Gi"),
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
                                "requests": {"cpu": "100m"},
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
        "cpu_request": "100m",
        "memory_request": "256Mi",
    }


# -- verdict fix 1: requests and limits are separate ---------------------------------------------
def test_requests_and_limits_are_read_separately(adapter, account, fake):
    # Fails on the old adapter: it read only limits, so a pod reserving 100m showed "500m".
    fake.add_deployment(
        "mcp-lean", requests={"cpu": "100m", "memory": "128Mi"}, limits={"memory": "512Mi"}
    )

    scaling = adapter.describe(ServiceRef(account, "mcp-lean")).scaling

    assert (scaling.cpu, scaling.cpu_request) == (None, "100m")
    assert (scaling.memory, scaling.memory_request) == ("512Mi", "128Mi")


def test_a_request_is_written_as_a_request_not_a_limit(adapter, account, fake):
    # Fails on the old adapter: it had no way to change what the scheduler reserves.
    result = adapter.apply_scaling(weather(account), ScalingSettings(memory_request="128Mi"))

    assert result.status == "succeeded"
    (patch,) = fake.requests_to("PATCH")
    container = patch.body["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"requests": {"memory": "128Mi"}}
    stored = fake.deployment("mcp-weather")["spec"]["template"]["spec"]["containers"][0]
    assert stored["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}


def test_a_limit_below_the_request_is_refused_naming_both(adapter, account, fake):
    # Fails on the old adapter: it silently lowered the request (what the scheduler reserves).
    with pytest.raises(InvalidRequest, match=r"cpu request \(500m\) would be above the cpu limit"):
        adapter.apply_scaling(weather(account), ScalingSettings(cpu="250m"))
    assert fake.requests_to("PATCH") == []


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


def test_cluster_lost_mid_rollout_is_unknown(account, fake):
    fake.rollout_gets = 0
    fake.fail_next(503, count=100, method="GET", when=lambda r: bool(fake.requests_to("PATCH")))

    result = KubernetesAdapter(account, pacing=FAST).redeploy(weather(account), timeout_s=0.3)

    assert result.status == "unknown"
    assert result.operation_id == "mcp/deployment/mcp-weather@generation=2"
    assert "kubectl rollout status deployment/mcp-weather -n mcp" in result.message


# -- verdict fix 2: the wait outlasts progressDeadlineSeconds ------------------------------------
def test_a_stalled_rollout_waits_for_the_progress_deadline_and_fails(adapter, account, fake):
    # Fails on the old adapter: it gave up after timeout_s (shorter than the deadline) and
    # reported "unknown", although the controller was about to say the rollout failed.
    fake.add_deployment("mcp-slow", progress_deadline_s=1)
    fake.rollout_gets = 0  # new pods never become ready (readiness probe failing)
    started = time.monotonic()

    result = adapter.redeploy(ServiceRef(account, "mcp-slow"), timeout_s=0.2)

    assert result.status == "failed"
    assert time.monotonic() - started >= 1
    assert "ProgressDeadlineExceeded" in " ".join(result.diagnostics)
    assert "has timed out progressing" in result.message
    assert any("Readiness probe failed" in line for line in result.diagnostics)


# -- verdict fix 3: crash loops, OOM kills, image pulls and scheduling fail with their reason ----
@pytest.mark.parametrize(
    ("fault", "reason", "detail"),
    [
        ("crashloop", "CrashLoopBackOff", "last exit code 1 (Error)"),
        ("oomkilled", "OOMKilled", "exit code 137"),
        ("imagepull", "ImagePullBackOff", "Back-off pulling image"),
        ("unschedulable", "FailedScheduling", "Insufficient cpu"),
    ],
)
def test_a_broken_rollout_fails_with_the_platform_reason(
    adapter, account, fake, fault, reason, detail
):
    # Fails on the old adapter: it waited (here 5 s) and then said "unknown".
    fake.rollout_faults[("mcp", "mcp-weather")] = fault
    adapter.unschedulable_grace_s = 0

    result = adapter.redeploy(weather(account), timeout_s=5)

    assert result.status == "failed"
    assert reason in result.message and detail in result.message
    assert "roll back" in result.message
    pods = [line for line in result.diagnostics if line.startswith("Pod mcp-weather-")]
    assert pods, result.diagnostics
    assert any(line.startswith("Event Warning") for line in result.diagnostics)
    assert fake.requests_to("GET", "/api/v1/namespaces/mcp/pods")
    events = fake.requests_to("GET", "/api/v1/namespaces/mcp/events")[0]
    assert events.query["fieldSelector"] == "type=Warning"


def test_unschedulable_pods_get_a_grace_period_for_the_autoscaler(adapter, account, fake):
    fake.add_deployment("mcp-slow", progress_deadline_s=1)
    fake.rollout_faults[("mcp", "mcp-slow")] = "unschedulable"
    adapter.unschedulable_grace_s = 60  # longer than the deadline: the controller decides

    result = adapter.redeploy(ServiceRef(account, "mcp-slow"), timeout_s=0.2)

    assert result.status == "failed" and "timed out progressing" in result.message
    assert any("not scheduled (Unschedulable" in line for line in result.diagnostics)


def test_without_pods_permission_the_deadline_still_decides(adapter, account, fake):
    fake.add_deployment("mcp-slow", progress_deadline_s=1)
    fake.rollout_faults[("mcp", "mcp-slow")] = "crashloop"
    fake.fail_next(403, count=1000, path_contains="/pods")

    result = adapter.redeploy(ServiceRef(account, "mcp-slow"), timeout_s=0.2)

    assert result.status == "failed" and "timed out progressing" in result.message
    assert any(
        "Could not read the pods" in line and "pods list" in line for line in result.diagnostics
    )


# -- releases ----------------------------------------------------------------------------------
def test_release_patches_the_image_and_reports_before_and_after(adapter, account, fake):
    result = adapter.release(
        weather(account), "ghcr.io/example/mcp-weather:1.5.0", reason="ship 1.5"
    )

    assert result.status == "succeeded"
    assert (result.image_before, result.image_after) == (
        "ghcr.io/example/mcp-weather:1.4.2",
        "ghcr.io/example/mcp-weather:1.5.0",
    )
    assert (result.revision_before, result.revision_after) == ("1", "2")
    (patch,) = fake.requests_to("PATCH")
    assert patch.content_type == SMP
    assert patch.body["spec"] == {
        "template": {
            "spec": {
                "containers": [{"name": "server", "image": "ghcr.io/example/mcp-weather:1.5.0"}]
            }
        }
    }
    assert patch.body["metadata"]["resourceVersion"]  # conditional on what we read
    assert patch.body["metadata"]["annotations"] == {"kubernetes.io/change-cause": "ship 1.5"}
    revisions = adapter.list_revisions(weather(account))
    assert [(r.name, r.image, r.active, r.traffic_percent) for r in revisions] == [
        ("2", "ghcr.io/example/mcp-weather:1.5.0", True, 100),
        ("1", "ghcr.io/example/mcp-weather:1.4.2", False, 0),
    ]


def test_release_of_a_crashing_image_fails_with_the_reason(adapter, account, fake):
    fake.image_faults["ghcr.io/example/mcp-weather:bad"] = "crashloop"

    result = adapter.release(weather(account), "ghcr.io/example/mcp-weather:bad", timeout_s=5)

    assert result.status == "failed" and "CrashLoopBackOff" in result.message
    assert result.image_after == "ghcr.io/example/mcp-weather:bad"


def test_release_picks_the_named_or_default_container_and_refuses_ambiguity(adapter, account, fake):
    proxy = {"name": "proxy", "image": "envoyproxy/envoy:v1.30.1"}
    fake.add_deployment("mcp-mesh", sidecars=[proxy])
    mesh = ServiceRef(account, "mcp-mesh")

    with pytest.raises(InvalidRequest, match=r"2 containers \(server, proxy\): say which one"):
        adapter.release(mesh, "ghcr.io/example/mcp-mesh:2.0.0")
    with pytest.raises(InvalidRequest, match="has no container 'sidecar'"):
        adapter.release(mesh, "sidecar=ghcr.io/example/mcp-mesh:2.0.0")
    assert fake.requests_to("PATCH") == []

    result = adapter.release(mesh, "server=ghcr.io/example/mcp-mesh:2.0.0")

    assert result.status == "succeeded"
    containers = fake.deployment("mcp-mesh")["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [
        "ghcr.io/example/mcp-mesh:2.0.0",
        "envoyproxy/envoy:v1.30.1",
    ]


def test_release_retries_after_a_409_conflict(adapter, account, fake):
    fake.concurrent_writes.add(("mcp", "mcp-weather"))
    lines: list[str] = []

    result = adapter.release(
        weather(account), "ghcr.io/example/mcp-weather:1.5.0", progress=lines.append
    )

    assert result.status == "succeeded"
    first, second = fake.requests_to("PATCH")
    assert first.body["metadata"]["resourceVersion"] != second.body["metadata"]["resourceVersion"]
    assert "The Deployment changed while we were patching it; reading it again" in lines
    annotations = fake.deployment("mcp-weather")["metadata"]["annotations"]
    assert annotations["example.com/touched-by"] == "ci"  # the other write was kept


def test_no_canary_on_a_plain_deployment(adapter, account, fake):
    assert adapter.supports_traffic_split(weather(account)) is False
    with pytest.raises(InvalidRequest, match="no traffic split.*rolling update"):
        adapter.release(weather(account), "ghcr.io/example/mcp-weather:1.5.0", traffic_percent=10)
    assert fake.requests_to("PATCH") == []


def test_rollback_restores_a_replicaset_template_like_rollout_undo(adapter, account, fake):
    adapter.release(weather(account), "ghcr.io/example/mcp-weather:1.5.0")
    adapter.release(weather(account), "ghcr.io/example/mcp-weather:1.6.0")
    fake.clear_requests()

    result = adapter.rollback(weather(account), "1", reason="1.6 is slow")

    assert result.status == "succeeded"
    assert (result.image_before, result.image_after) == (
        "ghcr.io/example/mcp-weather:1.6.0",
        "ghcr.io/example/mcp-weather:1.4.2",
    )
    # the controller reuses the old ReplicaSet under the next revision number
    assert (result.revision_before, result.revision_after) == ("3", "4")
    (patch,) = fake.requests_to("PATCH")
    assert patch.content_type == "application/json-patch+json"
    assert [op["path"] for op in patch.body] == [
        "/spec/template",
        "/metadata/annotations",
        "/metadata/resourceVersion",
    ]
    assert "pod-template-hash" not in patch.body[0]["value"]["metadata"]["labels"]
    assert [r.name for r in adapter.list_revisions(weather(account))] == ["4", "3", "2"]


def test_rollback_to_an_unknown_revision_names_the_recorded_ones(adapter, account, fake):
    with pytest.raises(NotFound, match=r"no revision 7 \(recorded revisions: 1;"):
        adapter.rollback(weather(account), "7")
    with pytest.raises(InvalidRequest, match="already runs revision 1"):
        adapter.rollback(weather(account), "1")


# -- the fake's list chunking and Retry-After -----------------------------------------------------
def test_lists_are_read_in_chunks(adapter, account, fake):
    for index in range(3):
        fake.add_deployment(f"mcp-extra-{index}", labels={"mcp-server": "true"})
    adapter.page_size = 2

    found = adapter.list_services(account, label="mcp-server=true")

    assert len(found) == 5
    pages = fake.requests_to("GET", "/apis/apps/v1/namespaces/mcp/deployments")
    assert [bool(p.query.get("continue")) for p in pages] == [False, True, True]


def test_an_expired_continue_token_is_reported_as_the_api_says(adapter, account, fake):
    for index in range(3):
        fake.add_deployment(f"mcp-extra-{index}")
    adapter.page_size = 2
    fake.fail_next(
        410,
        path_contains="/apis/apps/v1/namespaces/mcp/deployments",
        when=lambda request: bool(request.query.get("continue")),
    )

    with pytest.raises(InvalidRequest) as caught:
        adapter.describe_many([weather(account), ServiceRef(account, "mcp-files")])

    assert caught.value.status == 410
    assert "deployments.apps list" in str(caught.value) and "too old" in str(caught.value)


def test_describe_many_reads_lists_as_the_apis_json_in_chunks(adapter, account, fake):
    adapter.page_size = 1
    one = adapter.describe(weather(account))
    fake.requests.clear()

    found = adapter.describe_many([weather(account), ServiceRef(account, "mcp-files")])

    assert found["mcp-weather"] == one
    assert found["mcp-weather"].raw == fake.deployment("mcp-weather")  # as the API served it
    assert found["mcp-weather"].created.endswith("+00:00")
    pages = fake.requests_to("GET", "/apis/apps/v1/namespaces/mcp/deployments")
    assert [p.query.get("limit") for p in pages] == ["1"] * len(pages) and len(pages) >= 3


def test_throttling_honours_retry_after(account, fake):
    fake.fail_next(429, path_contains=DEPLOYMENT)
    patient = Pacing(attempts=3, backoff_initial_s=0.01, backoff_max_s=5, request_timeout_s=5)
    started = time.monotonic()

    KubernetesAdapter(account, pacing=patient).describe(weather(account))

    assert time.monotonic() - started >= 1  # the fake said Retry-After: 1


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


def test_fake_models_the_controller_lag_and_list_rules(fake):
    import httpx

    auth = {"Authorization": "Bearer fleet-emulator-token"}
    base = f"{fake.endpoint}/apis/apps/v1/namespaces/mcp"
    patch = httpx.patch(
        f"{base}/deployments/mcp-weather",
        json={"spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}},
        headers={**auth, "Content-Type": "application/strategic-merge-patch+json"},
    ).json()
    first = httpx.get(f"{base}/deployments/mcp-weather", headers=auth).json()
    second = httpx.get(f"{base}/deployments/mcp-weather", headers=auth).json()
    stale = httpx.patch(
        f"{base}/deployments/mcp-weather",
        json={"metadata": {"resourceVersion": patch["metadata"]["resourceVersion"]}},
        headers={**auth, "Content-Type": "application/strategic-merge-patch+json"},
    )
    bad_token = httpx.get(f"{base}/replicasets", params={"limit": 1, "continue": "x"}, headers=auth)
    bad_field = httpx.get(
        f"{fake.endpoint}/api/v1/namespaces/mcp/events",
        params={"fieldSelector": "spec.image=x"},
        headers=auth,
    )

    assert patch["metadata"]["generation"] == 2
    assert first["status"]["observedGeneration"] == 1  # not observed yet
    assert second["status"]["observedGeneration"] == 2
    assert second["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    assert bad_token.status_code == 400 and bad_field.status_code == 400


def test_describe_many_lists_the_namespace_once_and_matches_describe(adapter, account, fake):
    names = ["mcp-weather", "mcp-files", "agent-backend", "ghost"]
    one_by_one = {n: adapter.describe(ServiceRef(account, n)) for n in names[:3]}
    fake.requests.clear()

    found = adapter.describe_many([ServiceRef(account, n) for n in names])

    assert {n: found[n] for n in names[:3]} == one_by_one
    assert isinstance(found["ghost"], NotFound) and "deployments/ghost" in str(found["ghost"])
    # Three lists for the whole namespace, whatever the number of services: no read per service.
    assert sorted((r.method, r.path) for r in fake.requests) == [
        ("GET", "/api/v1/namespaces/mcp/services"),
        ("GET", "/apis/apps/v1/namespaces/mcp/deployments"),
        ("GET", HPAS),
    ]


def test_describe_many_reads_each_service_when_the_role_may_not_list(adapter, account, fake):
    fake.fail_next(403, path_contains="/apis/apps/v1/namespaces/mcp/deployments", method="GET")

    found = adapter.describe_many([weather(account), ServiceRef(account, "mcp-files")])

    assert found["mcp-weather"].image == "ghcr.io/example/mcp-weather:1.4.2"
    assert found["mcp-files"].image
