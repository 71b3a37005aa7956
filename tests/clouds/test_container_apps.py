"""Azure Container Apps adapter through azure-mgmt-appcontainers against the HTTPS fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.operations.clouds.container_apps import ContainerAppsAdapter
from fleet.operations.clouds.credentials import EMULATOR_CA_ENV
from fleet.operations.clouds.errors import InvalidRequest, NotFound, PermissionDenied, Unavailable
from fleet.operations.clouds.types import AccountRef, ScalingSettings, ServiceRef
from tests.clouds.conftest import FAST
from tests.fakes.container_apps import FakeContainerApps, seed_demo

SUB = "00000000-0000-0000-0000-000000000001"
APP = (
    f"/subscriptions/{SUB}/resourceGroups/mcp-rg/providers/Microsoft.App/containerApps/mcp-weather"
)


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeContainerApps]:
    with FakeContainerApps(operation_polls=2, restart_gets=2) as server:
        seed_demo(server)
        ca = tmp_path / "fake-arm.pem"
        ca.write_bytes(server.cert_pem)
        monkeypatch.setenv(EMULATOR_CA_ENV, str(ca))  # TLS stays verified, against the fake's cert
        yield server


@pytest.fixture
def account(fake: FakeContainerApps) -> AccountRef:
    return AccountRef(
        name="demo-azure",
        provider="azure",
        subscription=SUB,
        resource_group="mcp-rg",
        endpoint=fake.endpoint,
    )


@pytest.fixture
def adapter(account: AccountRef) -> ContainerAppsAdapter:
    return ContainerAppsAdapter(account, pacing=FAST)


def weather(account: AccountRef) -> ServiceRef:
    return ServiceRef(account=account, resource="mcp-weather")


def serving(fake: FakeContainerApps) -> str:
    return fake.apps[APP.lower()]["properties"]["latestReadyRevisionName"]


def test_describe_reads_app_and_revision(adapter, account, fake):
    snapshot = adapter.describe(weather(account))

    assert snapshot.url == "https://mcp-weather.happyhill-1234abcd.westeurope.azurecontainerapps.io"
    assert snapshot.image == "mcpregistry.azurecr.io/mcp-weather:1.4.2"
    assert snapshot.revision == serving(fake)
    assert snapshot.region == "West Europe"
    assert snapshot.scaling.as_dict() == {
        "min_instances": 0,
        "max_instances": 10,
        "concurrency": 10,
        "cpu": "0.5",
        "memory": "1Gi",
    }
    assert snapshot.ready_instances == 1
    assert snapshot.ingress == "all"
    assert snapshot.service_identity.endswith("/userAssignedIdentities/mcp-weather-identity")
    env = {e.name: (e.is_secret_ref, e.value) for e in snapshot.env}
    assert env == {"LOG_LEVEL": (False, "info"), "WEATHER_API_KEY": (True, None)}
    assert snapshot.labels == {"mcp-server": "true"}
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", APP),
        ("GET", f"{APP}/revisions/{serving(fake)}"),
    ]
    assert all(r.query["api-version"] == "2026-07-01" for r in fake.requests)
    assert fake.requests[0].headers["authorization"] == "Bearer fleet-emulator-token"


def test_internal_app(adapter, account):
    docs = adapter.describe(ServiceRef(account, "mcp-docs"))
    assert docs.ingress == "internal" and docs.scaling.min_instances == 1


def test_discovery_filters_by_tag(adapter, account, fake):
    found = adapter.list_services(account, label="mcp-server=true")

    assert sorted(s.resource for s in found) == ["mcp-docs", "mcp-weather"]
    (listing,) = fake.requests
    assert listing.path.endswith("/resourceGroups/mcp-rg/providers/Microsoft.App/containerApps")


def test_redeploy_restarts_serving_revision_and_waits(adapter, account, fake):
    revision = serving(fake)
    lines: list[str] = []

    result = adapter.redeploy(weather(account), progress=lines.append)

    assert result.status == "succeeded"
    assert result.revision_before == result.revision_after == revision
    assert result.operation_id.startswith(f"{APP}/revisions/{revision}/restart@")
    (restart,) = fake.requests_to("POST")
    assert restart.path == f"{APP}/revisions/{revision}/restart"
    assert restart.query == {"api-version": "2026-07-01"}
    assert lines == [
        f"Restarting revision {revision} of mcp-weather",
        f"Revision {revision}: Running, health Healthy",  # accepted; nothing changed yet
        f"Revision {revision}: Processing, health Healthy",
        f"Revision {revision}: Running, health Healthy",
    ]


def test_apply_scaling_merge_patches_template_and_follows_async_operation(adapter, account, fake):
    before = serving(fake)
    lines: list[str] = []

    result = adapter.apply_scaling(
        weather(account),
        ScalingSettings(max_instances=4, concurrency=25, cpu="1", memory="2Gi"),
        progress=lines.append,
    )

    assert result.status == "succeeded"
    assert result.revision_before == before and result.revision_after == serving(fake) != before
    assert "/containerappOperationStatuses/" in result.operation_id
    (patch,) = fake.requests_to("PATCH")
    assert patch.content_type == "application/json"
    template = patch.body["properties"]["template"]
    assert template["scale"] == {
        "maxReplicas": 4,
        "rules": [{"name": "http-scaling", "http": {"metadata": {"concurrentRequests": "25"}}}],
    }
    assert template["containers"][0]["resources"]["cpu"] == 1.0
    assert template["containers"][0]["env"][1] == {
        "name": "WEATHER_API_KEY",
        "secretRef": "weather-key",
    }
    assert len(fake.requests_to("GET", "/containerappOperationStatuses/")) == 2
    assert "Azure reports the scaling change Succeeded" in lines
    assert lines[-1] == f"Revision {result.revision_after} is running and serving 100 %"
    snapshot = adapter.describe(weather(account))
    assert snapshot.scaling.as_dict() == {
        "min_instances": 0,
        "max_instances": 4,
        "concurrency": 25,
        "cpu": "1",
        "memory": "2Gi",
    }


def test_invalid_cpu_memory_pair_is_rejected_by_arm(adapter, account, fake):
    with pytest.raises(InvalidRequest) as caught:
        adapter.apply_scaling(weather(account), ScalingSettings(cpu="1", memory="1Gi"))

    assert "CPU - Memory combinations" in str(caught.value)
    assert "Microsoft.App/containerApps/write" in str(caught.value)
    assert fake.operations == {}


def test_permission_denied_names_action_and_scope(adapter, account, fake):
    fake.fail_next(403, method="PATCH")

    with pytest.raises(PermissionDenied) as caught:
        adapter.apply_scaling(weather(account), ScalingSettings(min_instances=1))

    message = str(caught.value)
    assert "Microsoft.App/containerApps/write" in message and APP in message
    assert "Container Apps Contributor" in message
    assert len(fake.requests_to("PATCH")) == 1


def test_restart_denied(adapter, account, fake):
    fake.fail_next(403, method="POST")

    with pytest.raises(PermissionDenied, match="revisions/restart/action"):
        adapter.redeploy(weather(account))


def test_not_found(adapter, account):
    with pytest.raises(NotFound, match="containerApps/ghost"):
        adapter.describe(ServiceRef(account, "ghost"))


def test_throttled_then_succeeds(adapter, account, fake):
    fake.fail_next(429, path_contains="/containerApps/mcp-weather", method="GET")

    assert adapter.describe(weather(account)).image
    assert len(fake.requests_to("GET", APP)) == 3  # 429, app, revision


def test_server_errors_retried_then_reported(adapter, account, fake):
    fake.fail_next(503, count=5)

    with pytest.raises(Unavailable, match="gave up after 3 attempts"):
        adapter.describe(weather(account))
    assert len(fake.requests) == 3


def test_operation_that_never_finishes_is_unknown(account, fake):
    fake.operation_polls = None

    result = ContainerAppsAdapter(account, pacing=FAST).apply_scaling(
        weather(account), ScalingSettings(min_instances=1), timeout_s=0.3
    )

    assert result.status == "unknown"
    assert "/containerappOperationStatuses/" in result.operation_id
    assert result.operation_id in result.message and "Azure portal" in result.message


def test_failed_operation_is_reported(adapter, account, fake):
    fake.fail_next_operation("Failed to pull image 'mcpregistry.azurecr.io/mcp-weather:1.4.2'")

    result = adapter.apply_scaling(weather(account), ScalingSettings(min_instances=1))

    assert result.status == "failed"
    assert "Failed to pull image" in result.message


def test_fake_requires_api_version_and_token(fake):
    import httpx

    with httpx.Client(verify=False) as http:
        no_version = http.get(f"{fake.endpoint}{APP}", headers={"Authorization": "Bearer abcdefgh"})
        no_token = http.get(f"{fake.endpoint}{APP}?api-version=2026-07-01")

    assert no_version.status_code == 400
    assert no_version.json()["error"]["code"] == "MissingApiVersionParameter"
    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == "AuthenticationFailed"
