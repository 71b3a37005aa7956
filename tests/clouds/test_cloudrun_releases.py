"""Cloud Run releases, rollback, canary traffic and truthful verdicts, against the strict fake.

Each verdict test is a case where reading `latestReadyRevision` alone says "succeeded" while the
service serves something else (traffic pinned or split), or where the real API answers in a way
the adapter must handle (fixed revision names, project numbers).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import Conflict
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf import field_mask_pb2

from fleet.operations.clouds.cloudrun import CloudRunAdapter
from fleet.operations.clouds.errors import InvalidRequest, NotFound
from fleet.operations.clouds.types import AccountRef, ScalingSettings, ServiceRef, TrafficSplit
from tests.clouds.conftest import FAST
from tests.fakes.cloudrun import FakeCloudRun, project_number, seed_demo

NAME = "projects/demo-project/locations/us-central1/services/mcp-weather"
NEW_IMAGE = "us-docker.pkg.dev/demo-project/mcp/weather:1.5.0"
OLD_IMAGE = "us-docker.pkg.dev/demo-project/mcp/weather:1.4.2"


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


@pytest.fixture
def weather(account: AccountRef) -> ServiceRef:
    return ServiceRef(account=account, resource="mcp-weather")


# -- releases ---------------------------------------------------------------------------------
def test_release_builds_a_uniquely_named_revision_that_takes_all_traffic(adapter, weather, fake):
    old = fake.revision_of(NAME)
    lines: list[str] = []

    result = adapter.release(weather, NEW_IMAGE, reason="v1.5", progress=lines.append)

    assert result.status == "succeeded", result.message
    assert result.revision_before == old
    assert result.revision_after.startswith("mcp-weather-fc")
    assert (result.image_before, result.image_after) == (OLD_IMAGE, NEW_IMAGE)
    assert fake.serving(NAME) == {result.revision_after: 100}
    (patch,) = fake.requests_to("PATCH")
    mask = patch.query["updateMask"].split(",")
    assert {"template.revision", "template.containers"} <= set(mask)
    assert "traffic" not in mask  # traffic already follows the latest ready revision
    assert patch.body["template"]["revision"] == result.revision_after
    assert any("Releasing" in line and NEW_IMAGE in line for line in lines)


def test_canary_release_sends_the_share_to_the_new_revision_and_keeps_the_rest(
    adapter, weather, fake
):
    old = fake.revision_of(NAME)

    result = adapter.release(weather, NEW_IMAGE, traffic_percent=10)

    assert result.status == "succeeded", result.message
    assert fake.serving(NAME) == {result.revision_after: 10, old: 90}
    assert "serves 10 %" in result.message


def test_canary_on_a_split_service_keeps_the_current_proportions(adapter, weather, fake):
    first = fake.revision_of(NAME)
    second = fake.deploy(NAME, image="us-docker.pkg.dev/demo-project/mcp/weather:1.4.3")
    fake.pin_traffic(NAME, {first: 70, second: 30})

    result = adapter.release(weather, NEW_IMAGE, traffic_percent=20)

    assert result.status == "succeeded", result.message
    assert fake.serving(NAME) == {result.revision_after: 20, first: 56, second: 24}


def test_release_keeps_tag_only_targets(adapter, weather, fake):
    old = fake.revision_of(NAME)
    fake.pin_traffic(NAME, {"": 100, old: 0}, tags={old: "stable"})

    adapter.release(weather, NEW_IMAGE, traffic_percent=5)

    tagged = [t for t in fake.services[NAME]["traffic"] if t.get("tag") == "stable"]
    assert [t["revision"] for t in tagged] == [old]  # still there, exactly once


def test_canary_keeps_the_tag_of_a_serving_revision(adapter, weather, fake):
    old = fake.revision_of(NAME)
    fake.pin_traffic(NAME, {old: 100}, tags={old: "stable"})

    result = adapter.release(weather, NEW_IMAGE, traffic_percent=10)

    assert fake.serving(NAME) == {result.revision_after: 10, old: 90}
    assert [t["revision"] for t in fake.services[NAME]["traffic"] if t.get("tag") == "stable"] == [
        old
    ]


def test_canary_revision_gets_its_own_url_for_the_probes_and_loses_it_when_promoted(
    adapter, weather, fake
):
    result = adapter.release(weather, NEW_IMAGE, traffic_percent=10)

    tag = f"canary-{result.revision_after.rsplit('-', 1)[-1]}"
    assert result.probe_url == fake.tag_uri(fake.services[NAME]["uri"], tag)
    assert result.probe_url.startswith(f"https://{tag}---")
    adapter.set_traffic(weather, [TrafficSplit(revision=result.revision_after, percent=100)])
    assert not [t for t in fake.services[NAME]["traffic"] if t.get("tag") == tag]


def test_canary_behind_internal_ingress_gets_no_revision_url(adapter, weather, fake):
    fake.services[NAME]["ingress"] = "INGRESS_TRAFFIC_INTERNAL_ONLY"
    seen: list[str] = []

    result = adapter.release(weather, NEW_IMAGE, traffic_percent=10, progress=seen.append)

    assert result.status == "succeeded" and result.probe_url == ""
    assert any("No revision URL for the canary's probes" in line for line in seen)
    assert not [t for t in fake.services[NAME]["traffic"] if t.get("tag")]


def test_promote_a_canary_with_set_traffic(adapter, weather, fake):
    canary = adapter.release(weather, NEW_IMAGE, traffic_percent=10).revision_after

    result = adapter.set_traffic(weather, [TrafficSplit(revision=canary, percent=100)])

    assert result.status == "succeeded", result.message
    assert fake.serving(NAME) == {canary: 100}
    assert result.image_after == NEW_IMAGE
    assert fake.requests_to("PATCH")[-1].query["updateMask"] == "traffic"
    # Routed as LATEST, so the next redeploy serves instead of staying pinned to the canary.
    assert [t["type"] for t in fake.services[NAME]["traffic"]] == [
        "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    ]
    assert adapter.redeploy(weather).status == "succeeded"


def test_set_traffic_to_latest(adapter, weather, fake):
    old = fake.revision_of(NAME)
    canary = adapter.release(weather, NEW_IMAGE, traffic_percent=10).revision_after

    result = adapter.set_traffic(weather, [TrafficSplit(revision="", percent=100)])

    assert result.status == "succeeded"
    assert fake.serving(NAME) == {canary: 100} and old not in fake.serving(NAME)


def test_set_traffic_that_does_not_add_up_is_refused_before_calling_the_cloud(
    adapter, weather, fake
):
    with pytest.raises(InvalidRequest, match="splits: percentages must add up to 100, not 90"):
        adapter.set_traffic(weather, [TrafficSplit("", 60), TrafficSplit("x", 30)])
    assert fake.requests == []


def test_rollback_sends_all_traffic_to_the_named_revision(adapter, weather, fake):
    good = fake.revision_of(NAME)
    bad = adapter.release(weather, NEW_IMAGE).revision_after

    result = adapter.rollback(weather, good, reason="5xx spike")

    assert result.status == "succeeded", result.message
    assert fake.serving(NAME) == {good: 100}
    assert (result.revision_before, result.revision_after) == (bad, good)
    assert (result.image_before, result.image_after) == (NEW_IMAGE, OLD_IMAGE)
    assert fake.services[NAME]["traffic"] == [
        {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": good, "percent": 100}
    ]


def test_rollback_accepts_a_full_revision_name_with_the_project_number(adapter, weather, fake):
    good = fake.revision_of(NAME)
    adapter.release(weather, NEW_IMAGE)
    numbered = f"{NAME.replace('demo-project', project_number('demo-project'))}/revisions/{good}"

    assert adapter.rollback(weather, numbered).status == "succeeded"
    assert fake.serving(NAME) == {good: 100}


def test_rollback_to_an_unknown_revision_says_so(adapter, weather, fake):
    with pytest.raises(NotFound, match="revisions/mcp-weather-nope"):
        adapter.rollback(weather, "mcp-weather-nope")
    assert fake.requests_to("PATCH") == []


def test_rollback_to_a_revision_that_never_became_ready_is_refused(adapter, weather, fake):
    broken = fake.deploy(NAME, image=NEW_IMAGE, failed="Container failed to start.")

    with pytest.raises(InvalidRequest, match="not ready.*Container failed to start"):
        adapter.rollback(weather, broken)
    assert fake.requests_to("PATCH") == []


def test_list_revisions_newest_first_with_the_share_each_serves(adapter, weather, fake):
    first = fake.revision_of(NAME)
    second = fake.deploy(NAME, image="us-docker.pkg.dev/demo-project/mcp/weather:1.4.3")
    third = fake.deploy(NAME, image=NEW_IMAGE, failed="Container failed to start.")
    fake.pin_traffic(NAME, {first: 25, second: 75})
    fake.list_page_size = 2  # three revisions: two pages

    revisions = adapter.list_revisions(weather)

    assert [(r.name, r.traffic_percent, r.active, r.ready) for r in revisions] == [
        (third, 0, False, False),
        (second, 75, True, True),
        (first, 25, True, True),
    ]
    assert revisions[0].image == NEW_IMAGE and revisions[0].created.startswith("2025-01-03")
    pages = fake.requests_to("GET", "/revisions")
    assert [p.query.get("pageToken") for p in pages] == [None, "2"]


def test_failed_release_reports_the_revision_conditions_and_nothing_moves(adapter, weather, fake):
    old = fake.revision_of(NAME)
    fake.fail_next_operation("Container failed to start and listen on PORT=8080.")

    result = adapter.release(weather, NEW_IMAGE)

    assert result.status == "failed"
    assert "listen on PORT=8080" in result.message
    assert result.revision_after.startswith("mcp-weather-fc")
    assert any(
        line.startswith(f"{result.revision_after} ContainerHealthy: failed")
        and "HEALTH_CHECK_CONTAINER_ERROR" in line
        and "PORT=8080" in line
        for line in result.diagnostics
    ), result.diagnostics
    assert fake.serving(NAME) == {old: 100}


@pytest.mark.parametrize("image", ["", "  ", "repo/image:tag with space"])
def test_release_refuses_a_bad_image_naming_the_field(adapter, weather, fake, image):
    with pytest.raises(InvalidRequest, match="^image: "):
        adapter.release(weather, image)
    assert fake.requests == []


@pytest.mark.parametrize("percent", [0, 100, 150])
def test_canary_share_must_be_a_real_split(adapter, weather, percent):
    with pytest.raises(InvalidRequest, match="traffic_percent must be between 1 and 99"):
        adapter.release(weather, NEW_IMAGE, traffic_percent=percent)


def test_cloud_run_supports_traffic_split(adapter, weather):
    assert adapter.supports_traffic_split(weather) is True


# -- verdicts that match what is serving ------------------------------------------------------
def test_redeploy_of_a_pinned_service_is_not_reported_as_serving_the_new_revision(
    adapter, weather, fake
):
    # Traffic pinned to a named revision (a rollback, --no-traffic): the new revision becomes
    # latestReadyRevision but serves 0 %. Reading latestReadyRevision alone says "succeeded".
    pinned = fake.revision_of(NAME)
    fake.pin_traffic(NAME, {pinned: 100})

    result = adapter.redeploy(weather)

    assert result.status == "failed"
    assert fake.revision_of(NAME) == result.revision_after != pinned
    assert f"New revision {result.revision_after} is ready but serves 0 %" in result.message
    assert f"traffic is pinned to {pinned} (100 %)" in result.message
    assert fake.serving(NAME) == {pinned: 100}


def test_scaling_change_on_a_pinned_service_is_not_succeeded(adapter, weather, fake):
    fake.pin_traffic(NAME, {fake.revision_of(NAME): 100})

    result = adapter.apply_scaling(weather, ScalingSettings(min_instances=1))

    assert result.status == "failed"
    assert "serves 0 %" in result.message


def test_redeploy_of_a_split_service_succeeds_with_the_latest_share(adapter, weather, fake):
    pinned = fake.revision_of(NAME)
    fake.pin_traffic(NAME, {"": 30, pinned: 70})

    result = adapter.redeploy(weather)

    assert result.status == "succeeded", result.message
    assert fake.serving(NAME) == {result.revision_after: 30, pinned: 70}
    assert "serves 30 % as intended" in result.message


def test_fixed_revision_name_redeploys_with_a_new_unique_name(account, fake):
    # A service deployed with `gcloud --revision-suffix` / Terraform has template.revision set:
    # sending it again asks for a second revision with the same name, which is a 409.
    fake.add_service("pinned-name", revision_name="pinned-name-v1")
    name = "projects/demo-project/locations/us-central1/services/pinned-name"
    adapter = CloudRunAdapter(account, pacing=FAST)

    result = adapter.redeploy(ServiceRef(account, "pinned-name"))

    assert result.status == "succeeded", result.message
    assert result.revision_before == "pinned-name-v1"
    assert result.revision_after.startswith("pinned-name-fc")
    (patch,) = fake.requests_to("PATCH")
    assert "template.revision" in patch.query["updateMask"].split(",")
    assert patch.body["template"]["revision"] == result.revision_after
    assert fake.serving(name) == {result.revision_after: 100}


def test_scaling_a_fixed_revision_name_service_does_not_409(account, fake):
    fake.add_service("pinned-name", revision_name="pinned-name-v1")

    result = CloudRunAdapter(account, pacing=FAST).apply_scaling(
        ServiceRef(account, "pinned-name"), ScalingSettings(max_instances=3)
    )

    assert result.status == "succeeded", result.message


def test_fake_answers_409_for_an_existing_revision_name(fake):
    fake.add_service("pinned-name", revision_name="pinned-name-v1")
    name = "projects/demo-project/locations/us-central1/services/pinned-name"
    client = run_v2.ServicesClient(
        credentials=AnonymousCredentials(),
        transport="rest",
        client_options=ClientOptions(api_endpoint=fake.endpoint),
    )
    service = client.get_service(name=name)
    service.template.annotations["x"] = "y"
    request = run_v2.UpdateServiceRequest(
        service=run_v2.Service(name=name, template=service.template),
        update_mask=field_mask_pb2.FieldMask(paths=["template.annotations"]),
    )

    with pytest.raises(Conflict, match="'pinned-name-v1' with different configuration"):
        client.update_service(request=request)


def test_project_numbers_in_answers_are_mapped_back_to_the_project_id(
    adapter, account, weather, fake
):
    number = project_number("demo-project")
    raw = fake.services[NAME]
    assert fake._render(raw, fake.requests[0] if fake.requests else _plain())["name"].startswith(
        f"projects/{number}/"
    )

    snapshot = adapter.describe(weather)
    listed = adapter.list_services(account)
    revisions = adapter.list_revisions(weather)

    assert snapshot.resource == NAME
    assert NAME in {s.resource for s in listed}
    assert revisions[0].name == fake.revision_of(NAME) and revisions[0].traffic_percent == 100
    assert snapshot.revision == fake.revision_of(NAME)


def test_failed_redeploy_shows_the_revision_conditions(adapter, weather, fake):
    fake.fail_next_operation("Container failed to start and listen on PORT=8080.")

    result = adapter.redeploy(weather)

    assert result.status == "failed"
    assert any("ContainerHealthy: failed" in line for line in result.diagnostics)
    assert any(line.startswith("service Ready: failed") for line in result.diagnostics)


def test_an_operation_is_accepted_before_anything_serves_differently(account, weather, fake):
    old = fake.revision_of(NAME)
    fake.operation_polls = None  # the rollout never finishes

    result = CloudRunAdapter(account, pacing=FAST).release(weather, NEW_IMAGE, timeout_s=0.2)

    assert result.status == "unknown"
    assert result.image_before == OLD_IMAGE
    assert result.revision_after.startswith("mcp-weather-fc")
    assert fake.serving(NAME) == {old: 100}
    assert fake.services[NAME]["template"]["containers"][0]["image"] == NEW_IMAGE


def test_throttled_revision_list_is_retried(adapter, weather, fake):
    fake.fail_next(429, path_contains="/revisions", method="GET")

    assert len(adapter.list_revisions(weather)) == 1
    assert len(fake.requests_to("GET", "/revisions")) == 2


def _plain():
    from tests.fakes.server import RecordedRequest

    return RecordedRequest("GET", "/", {"$alt": "json"}, {}, None)


def test_describe_shows_the_image_that_serves_when_traffic_is_pinned(adapter, weather, fake):
    good = fake.revision_of(NAME)
    adapter.release(weather, NEW_IMAGE)
    adapter.rollback(weather, good)

    snapshot = adapter.describe(weather)

    assert snapshot.revision == good
    assert snapshot.image == OLD_IMAGE  # the template says 1.5.0; 1.4.2 is what serves


def test_no_traffic_status_in_the_answer_is_unknown_not_a_verdict(adapter, weather, fake):
    fake.report_traffic_statuses = False

    result = adapter.redeploy(weather)

    assert result.status == "unknown"
    assert "reported no traffic status" in result.message


def test_a_throttled_answer_is_retried_after_its_retry_after(adapter, weather, fake):
    import time

    fake.retry_after = "1"
    fake.fail_next(429, path_contains="/revisions", method="GET")
    started = time.monotonic()

    adapter.list_revisions(weather)

    assert time.monotonic() - started >= 1.0  # FAST pacing alone would retry within 0.02 s
    assert len(fake.requests_to("GET", "/revisions")) == 2


def test_release_changes_the_ingress_container_and_leaves_sidecars(account, fake):
    sidecar = "us-docker.pkg.dev/demo-project/otel/collector:0.98"
    fake.add_service("with-sidecar", sidecar_image=sidecar)
    name = "projects/demo-project/locations/us-central1/services/with-sidecar"
    adapter = CloudRunAdapter(account, pacing=FAST)

    result = adapter.release(ServiceRef(account, "with-sidecar"), NEW_IMAGE)

    assert result.status == "succeeded", result.message
    assert (result.image_before, result.image_after) == (OLD_IMAGE, NEW_IMAGE)
    images = [c["image"] for c in fake.services[name]["template"]["containers"]]
    assert images == [sidecar, NEW_IMAGE]
    assert adapter.describe(ServiceRef(account, "with-sidecar")).image == NEW_IMAGE
