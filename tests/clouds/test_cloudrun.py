"""Cloud Run adapter through the official run_v2 REST client against the strict local fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fleet.operations.clouds.cloudrun import REDEPLOY_ANNOTATION, CloudRunAdapter
from fleet.operations.clouds.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Timeout,
    Unavailable,
)
from fleet.operations.clouds.pacing import Pacing
from fleet.operations.clouds.types import AccountRef, ScalingSettings, ServiceRef
from tests.clouds.conftest import FAST
from tests.fakes.cloudrun import FakeCloudRun, project_number, seed_demo

NAME = "projects/demo-project/locations/us-central1/services/mcp-weather"
OPERATIONS = f"projects/{project_number('demo-project')}/locations/us-central1/operations/"


@pytest.fixture
def fake() -> Iterator[FakeCloudRun]:
    with FakeCloudRun(operation_polls=2) as server:
        seed_demo(server)
        yield server


@pytest.fixture
def account(fake: FakeCloudRun) -> AccountRef:
    return AccountRef(
        name="demo-gcp",
        provider="gcp",
        project="demo-project",
        region="us-central1",
        endpoint=fake.endpoint,
    )


@pytest.fixture
def adapter(account: AccountRef) -> CloudRunAdapter:
    return CloudRunAdapter(account, pacing=FAST)


def weather(account: AccountRef) -> ServiceRef:
    return ServiceRef(account=account, resource="mcp-weather")


def test_describe_reads_service_and_iam_policy(adapter, account, fake):
    snapshot = adapter.describe(weather(account))

    assert snapshot.resource == NAME
    assert snapshot.url.startswith("https://mcp-weather-") and snapshot.url.endswith(".run.app")
    assert snapshot.image == "us-docker.pkg.dev/demo-project/mcp/weather:1.4.2"
    assert snapshot.revision == fake.revision_of(NAME)
    assert snapshot.region == "us-central1"
    assert snapshot.scaling.as_dict() == {
        "min_instances": 0,
        "max_instances": 10,
        "concurrency": 80,
        "cpu": "1",
        "memory": "512Mi",
    }
    assert snapshot.ingress == "all"
    assert snapshot.allows_unauthenticated is True
    assert snapshot.service_identity.endswith("-compute@developer.gserviceaccount.com")
    assert snapshot.labels == {"mcp-server": "true", "team": "tools"}
    env = {e.name: (e.is_secret_ref, e.value) for e in snapshot.env}
    assert env == {"LOG_LEVEL": (False, "info"), "WEATHER_API_KEY": (True, None)}
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", f"/v2/{NAME}"),
        ("GET", f"/v2/{NAME}:getIamPolicy"),
    ]
    assert all(r.query["$alt"] == "json;enum-encoding=int" for r in fake.requests)


def test_private_and_internal_services(adapter, account):
    search = adapter.describe(ServiceRef(account, "mcp-search"))
    backend = adapter.describe(ServiceRef(account, "agent-backend"))

    assert search.allows_unauthenticated is False
    assert search.scaling.min_instances == 1
    assert backend.ingress == "internal"


def test_describe_still_works_without_get_iam_policy(adapter, account, fake):
    fake.fail_next(403, path_contains=":getIamPolicy")

    snapshot = adapter.describe(weather(account))

    assert snapshot.image and snapshot.allows_unauthenticated is None


def test_discovery_with_label_filter(adapter, account, fake):
    found = adapter.list_services(account, label="mcp-server=true")
    everything = adapter.list_services(account)

    assert sorted(s.resource.rsplit("/", 1)[-1] for s in found) == ["mcp-search", "mcp-weather"]
    assert len(everything) == 3
    assert (
        fake.requests_to("GET")[0].path
        == "/v2/projects/demo-project/locations/us-central1/services"
    )


def test_discovery_without_region_lists_each_location_not_the_wildcard(fake):
    # The v2 API refuses `locations/-` on list; the adapter asks each Cloud Run location.
    fake.add_service("mcp-eu", location="europe-west1", labels={"mcp-server": "true"})
    fake.list_page_size = 2
    account = AccountRef(name="all", provider="gcp", project="demo-project", endpoint=fake.endpoint)

    found = CloudRunAdapter(account, pacing=FAST).list_services(account, label="mcp-server")

    assert sorted(s.region for s in found) == ["europe-west1", "us-central1", "us-central1"]
    assert sorted(s.resource for s in found)[0] == (
        "projects/demo-project/locations/europe-west1/services/mcp-eu"
    )
    assert fake.requests_to("GET", "/locations/-/") == []
    locations = fake.requests_to("GET", "/v1/projects/demo-project/locations")
    assert [c.query.get("pageToken") for c in locations] == [None, "2"]  # paginated
    us = fake.requests_to("GET", "/v2/projects/demo-project/locations/us-central1/services")
    assert sorted(c.query.get("pageToken") or "" for c in us) == ["", "2"]


def test_the_fake_refuses_the_location_wildcard(fake):
    account = AccountRef(name="all", provider="gcp", project="demo-project", endpoint=fake.endpoint)
    wildcard = AccountRef(**{**account.__dict__, "region": "-"})

    with pytest.raises(InvalidRequest, match="cannot be the '-' wildcard"):
        CloudRunAdapter(wildcard, pacing=FAST).list_services(wildcard)


def test_redeploy_rolls_out_new_revision_and_reports_progress(adapter, account, fake):
    before = fake.revision_of(NAME)
    lines: list[str] = []

    result = adapter.redeploy(weather(account), reason="stuck sessions", progress=lines.append)

    assert result.status == "succeeded"
    assert result.revision_before == before
    assert result.revision_after == fake.revision_of(NAME) != before
    assert result.revision_after.startswith("mcp-weather-00002-")
    assert result.operation_id.startswith(OPERATIONS)
    (patch,) = fake.requests_to("PATCH")
    assert patch.query["updateMask"] == "template.annotations"
    annotations = patch.body["template"]["annotations"]
    assert REDEPLOY_ANNOTATION in annotations
    assert annotations["fleet-console/redeploy-reason"] == "stuck sessions"
    assert patch.body["template"]["containers"][0]["image"].endswith("weather:1.4.2")
    assert len(fake.requests_to("GET", "/operations/")) == 2
    assert any("Waiting for revision" in line for line in lines)
    assert lines[-1] == f"Revision {result.revision_after} is ready and serving"


def test_apply_scaling_sends_only_the_changed_fields(adapter, account, fake):
    result = adapter.apply_scaling(
        weather(account), ScalingSettings(min_instances=1, max_instances=5, concurrency=40)
    )

    assert result.status == "succeeded"
    (patch,) = fake.requests_to("PATCH")
    assert patch.query["updateMask"] == (
        "template.scaling.minInstanceCount,template.scaling.maxInstanceCount,"
        "template.maxInstanceRequestConcurrency"
    )
    after = adapter.describe(weather(account)).scaling
    assert (after.min_instances, after.max_instances, after.concurrency) == (1, 5, 40)
    assert (after.cpu, after.memory) == ("1", "512Mi")


def test_apply_scaling_cpu_and_memory_replace_the_container_list(adapter, account, fake):
    result = adapter.apply_scaling(weather(account), ScalingSettings(cpu="2", memory="2Gi"))

    assert result.status == "succeeded"
    (patch,) = fake.requests_to("PATCH")
    assert patch.query["updateMask"] == "template.containers"
    assert patch.body["template"]["containers"][0]["resources"]["limits"] == {
        "cpu": "2",
        "memory": "2Gi",
    }
    assert fake.services[NAME]["template"]["scaling"]["maxInstanceCount"] == 10


def test_impossible_scaling_is_rejected_with_clouds_reason(adapter, account, fake):
    with pytest.raises(InvalidRequest) as caught:
        adapter.apply_scaling(weather(account), ScalingSettings(min_instances=20))

    assert "must be greater than or equal to" in str(caught.value)
    assert "run.services.update" in str(caught.value)
    assert fake.operations == {}
    assert len(fake.requests_to("PATCH")) == 1  # a 400 is not retried


def test_permission_denied_names_permission_and_resource(adapter, account, fake):
    fake.fail_next(403, method="PATCH")

    with pytest.raises(PermissionDenied) as caught:
        adapter.redeploy(weather(account))

    message = str(caught.value)
    assert "run.services.update" in message and NAME in message and "demo-gcp" in message
    assert "roles/run.developer" in message
    assert len(fake.requests_to("PATCH")) == 1


def test_not_found(adapter, account):
    with pytest.raises(NotFound) as caught:
        adapter.describe(ServiceRef(account, "no-such-service"))

    assert "services/no-such-service" in str(caught.value)


def test_throttled_then_succeeds(adapter, account, fake):
    fake.fail_next(429, path_contains="/services/mcp-weather", method="GET")

    snapshot = adapter.describe(weather(account))

    assert snapshot.image
    assert len(fake.requests_to("GET", f"/v2/{NAME}")) == 3  # 429, then get, then getIamPolicy


def test_server_errors_are_retried_then_reported(adapter, account, fake):
    fake.fail_next(500, count=10)

    with pytest.raises(Unavailable) as caught:
        adapter.describe(weather(account))

    assert len(fake.requests) == FAST.attempts
    assert "after 3 attempts" in str(caught.value)
    assert "run.services.get" in str(caught.value)


def test_operation_that_never_finishes_is_unknown_not_succeeded(account, fake):
    fake.operation_polls = None
    adapter = CloudRunAdapter(account, pacing=FAST)

    result = adapter.redeploy(weather(account), timeout_s=0.3)

    assert result.status == "unknown"
    assert result.operation_id in result.message
    assert result.operation_id.startswith(OPERATIONS)
    assert "Google Cloud console" in result.message


def test_failed_rollout_is_reported(adapter, account, fake):
    fake.fail_next_operation("Container failed to start and listen on PORT=8080.")

    result = adapter.redeploy(weather(account))

    assert result.status == "failed"
    assert "listen on PORT=8080" in result.message


def test_slow_api_raises_timeout(account, fake):
    fake.delay_next(1.0)
    slow = Pacing(attempts=1, request_timeout_s=0.3)

    with pytest.raises(Timeout) as caught:
        CloudRunAdapter(account, pacing=slow).describe(weather(account))

    assert "run.services.get" in str(caught.value)


def test_fake_rejects_unknown_update_mask_paths(fake):
    from google.api_core.client_options import ClientOptions
    from google.api_core.exceptions import BadRequest
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2
    from google.protobuf import field_mask_pb2

    client = run_v2.ServicesClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=fake.endpoint),
    )
    request = run_v2.UpdateServiceRequest(
        service=run_v2.Service(name=NAME),
        update_mask=field_mask_pb2.FieldMask(paths=["template.no_such_field"]),
    )
    with pytest.raises(BadRequest, match="Invalid update mask path"):
        client.update_service(request=request)
    request.update_mask.paths[:] = ["uri"]
    with pytest.raises(BadRequest, match="output only"):
        client.update_service(request=request)


def test_losing_contact_mid_rollout_is_unknown_with_the_reason(adapter, account, fake):
    fake.fail_next(500, count=10, path_contains="/operations/")

    result = adapter.redeploy(weather(account))

    assert result.status == "unknown"
    assert result.operation_id in result.message
    assert "lost track" in result.message and "run.operations.get" in result.message
