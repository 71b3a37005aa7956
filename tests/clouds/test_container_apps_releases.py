"""Container Apps restarts, releases, rollback and traffic, with verdicts from evidence.

The fake answers as ARM does: a restart is accepted before anything changes, a finished ARM
operation does not mean the new revision runs, multiple-revision mode routes traffic by weight.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.operations.clouds.container_apps import ContainerAppsAdapter
from fleet.operations.clouds.credentials import EMULATOR_CA_ENV
from fleet.operations.clouds.errors import InvalidRequest, NotFound
from fleet.operations.clouds.types import AccountRef, ScalingSettings, ServiceRef, TrafficSplit
from tests.clouds.conftest import FAST
from tests.fakes.container_apps import FakeContainerApps

SUB = "00000000-0000-0000-0000-000000000001"
BASE = f"/subscriptions/{SUB}/resourceGroups/mcp-rg/providers/Microsoft.App/containerApps"
OLD_IMAGE = "mcpregistry.azurecr.io/mcp-weather:1.4.2"
NEW_IMAGE = "mcpregistry.azurecr.io/mcp-weather:1.5.0"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeContainerApps]:
    with FakeContainerApps(operation_polls=2, restart_gets=2) as server:
        ca = tmp_path / "fake-arm.pem"
        ca.write_bytes(server.cert_pem)
        monkeypatch.setenv(EMULATOR_CA_ENV, str(ca))
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


@pytest.fixture
def single(fake: FakeContainerApps, account: AccountRef) -> tuple[str, ServiceRef]:
    return fake.add_app("mcp-weather"), ServiceRef(account, "mcp-weather")


@pytest.fixture
def multiple(fake: FakeContainerApps, account: AccountRef) -> tuple[str, ServiceRef]:
    return fake.add_app("mcp-multi", mode="Multiple"), ServiceRef(account, "mcp-multi")


def first_revision(fake: FakeContainerApps, app_id: str) -> str:
    return next(iter(fake.weights(app_id)))


# -- restart verdicts -------------------------------------------------------------------------
def test_a_restart_that_never_shows_is_unknown_not_succeeded(adapter, fake, single):
    # ARM accepts the restart (200) before anything changes: the revision still reads Running.
    # Declaring success on that first poll reports a restart nobody has seen.
    app_id, ref = single
    fake.restart_lag_gets = 10_000

    result = adapter.redeploy(ref, timeout_s=0.3)

    assert result.status == "unknown"
    assert "never showed it restarting" in result.message
    assert fake.restarts == [first_revision(fake, app_id)]


def test_a_restart_seen_only_as_new_replicas_counts(adapter, fake, single):
    # The revision went down and up between two polls: the replicas are all new.
    app_id, ref = single
    fake.restart_gets = 0
    revision = first_revision(fake, app_id)
    key = f"{app_id}/revisions/{revision}".lower()
    before = {r["name"] for r in fake.replicas[key]}

    result = adapter.redeploy(ref)

    assert result.status == "succeeded", result.message
    assert before and not before & {r["name"] for r in fake.replicas[key]}
    assert len(fake.requests_to("GET", "/replicas")) >= 2


def test_degraded_after_restart_is_a_failure_with_the_reason(adapter, fake, single):
    app_id, ref = single
    fake.fail_next_restart("Degraded", "Container 'server' was terminated with exit code '1'")

    result = adapter.redeploy(ref)

    assert result.status == "failed"
    assert "Degraded" in result.message and "exit code '1'" in result.message
    assert any("container server" in line and "exit code" in line for line in result.diagnostics)


def test_failed_after_restart_is_a_failure_with_the_provisioning_error(adapter, fake, single):
    _, ref = single
    fake.fail_next_restart("Failed", "Secret 'weather-key' could not be read from Key Vault")

    result = adapter.redeploy(ref)

    assert result.status == "failed"
    assert "Key Vault" in result.message


def test_multiple_mode_restarts_the_revision_that_carries_traffic_not_the_latest(
    adapter, fake, multiple
):
    app_id, ref = multiple
    serving = first_revision(fake, app_id)
    latest = fake.deploy(app_id, image=NEW_IMAGE)
    fake.set_traffic(app_id, {serving: 100})  # pinned: the latest revision takes nothing

    result = adapter.redeploy(ref)

    assert result.status == "succeeded", result.message
    assert fake.restarts == [serving]
    assert latest not in fake.restarts
    assert result.revision_after == serving


def test_multiple_mode_restarts_every_revision_with_traffic(adapter, fake, multiple):
    app_id, ref = multiple
    first = first_revision(fake, app_id)
    second = fake.deploy(app_id, image=NEW_IMAGE)
    fake.set_traffic(app_id, {first: 60, second: 40})

    result = adapter.redeploy(ref)

    assert result.status == "succeeded", result.message
    assert sorted(fake.restarts) == sorted([first, second])
    assert f"{first} (60 %)" in result.message and f"{second} (40 %)" in result.message


# -- releases ---------------------------------------------------------------------------------
def test_release_in_single_mode_replaces_the_revision(adapter, fake, single):
    app_id, ref = single
    old = first_revision(fake, app_id)

    result = adapter.release(ref, NEW_IMAGE, reason="v1.5")

    assert result.status == "succeeded", result.message
    assert result.revision_before == old
    assert result.revision_after.startswith("mcp-weather--fc")
    assert (result.image_before, result.image_after) == (OLD_IMAGE, NEW_IMAGE)
    assert fake.weights(app_id) == {result.revision_after: 100}
    assert fake.revision(app_id, old)["properties"]["active"] is False
    (patch,) = fake.requests_to("PATCH")
    template = patch.body["properties"]["template"]
    assert template["containers"][0]["image"] == NEW_IMAGE
    assert f"mcp-weather--{template['revisionSuffix']}" == result.revision_after
    assert "configuration" not in patch.body["properties"]  # single mode has no traffic block


def test_release_whose_revision_never_starts_fails_though_arm_said_succeeded(adapter, fake, single):
    app_id, ref = single
    old = first_revision(fake, app_id)
    fake.fail_next_revision("Failed", "ImagePullBackOff: manifest for weather:1.5.0 not found")

    result = adapter.release(ref, NEW_IMAGE)

    assert result.status == "failed"
    assert "did not start" in result.message and "manifest for weather:1.5.0" in result.message
    assert result.diagnostics
    assert fake.weights(app_id) == {old: 100}


def test_a_release_is_not_done_when_the_operation_is(account, fake, single):
    _, ref = single
    fake.activation_gets = 10_000  # the revision is created but never starts

    result = ContainerAppsAdapter(account, pacing=FAST).release(ref, NEW_IMAGE, timeout_s=0.3)

    assert result.status == "unknown"
    assert "has not started yet" in result.message
    assert result.revision_after.startswith("mcp-weather--fc")


def test_canary_is_refused_in_single_revision_mode(adapter, fake, single):
    _, ref = single

    assert adapter.supports_traffic_split(ref) is False
    with pytest.raises(InvalidRequest, match="traffic_percent: .*single-revision mode"):
        adapter.release(ref, NEW_IMAGE, traffic_percent=10)
    assert fake.requests_to("PATCH") == []


def test_canary_in_multiple_revision_mode(adapter, fake, multiple):
    app_id, ref = multiple
    old = first_revision(fake, app_id)

    result = adapter.release(ref, NEW_IMAGE, traffic_percent=10)

    assert adapter.supports_traffic_split(ref) is True
    assert result.status == "succeeded", result.message
    assert fake.weights(app_id) == {result.revision_after: 10, old: 90}
    (patch,) = fake.requests_to("PATCH")
    assert patch.body["properties"]["configuration"]["ingress"]["traffic"] == [
        {"revisionName": result.revision_after, "weight": 10},
        {"revisionName": old, "weight": 90},
    ]


def test_promote_a_canary(adapter, fake, multiple):
    app_id, ref = multiple
    canary = adapter.release(ref, NEW_IMAGE, traffic_percent=10).revision_after

    result = adapter.set_traffic(ref, [TrafficSplit(canary, 100)])

    assert result.status == "succeeded", result.message
    assert fake.weights(app_id) == {canary: 100}
    assert result.image_after == NEW_IMAGE
    # Routed as latestRevision, so a later scaling change serves instead of staying pinned.
    traffic = fake.apps[app_id.lower()]["properties"]["configuration"]["ingress"]["traffic"]
    assert traffic == [{"latestRevision": True, "weight": 100}]
    assert adapter.apply_scaling(ref, ScalingSettings(max_instances=4)).status == "succeeded"


def test_set_traffic_is_refused_in_single_mode(adapter, single):
    _, ref = single
    with pytest.raises(InvalidRequest, match="single-revision mode"):
        adapter.set_traffic(ref, [TrafficSplit("", 100)])


def test_set_traffic_names_an_unknown_revision(adapter, multiple):
    _, ref = multiple
    with pytest.raises(InvalidRequest, match="splits: mcp-multi has no revision mcp-multi--nope"):
        adapter.set_traffic(ref, [TrafficSplit("mcp-multi--nope", 100)])


def test_rollback_in_multiple_mode_activates_and_routes_to_the_revision(adapter, fake, multiple):
    app_id, ref = multiple
    good = first_revision(fake, app_id)
    bad = adapter.release(ref, NEW_IMAGE).revision_after
    fake.revision(app_id, good)["properties"]["active"] = False

    result = adapter.rollback(ref, good)

    assert result.status == "succeeded", result.message
    assert fake.weights(app_id) == {good: 100}
    assert (result.revision_before, result.revision_after) == (bad, good)
    assert (result.image_before, result.image_after) == (NEW_IMAGE, OLD_IMAGE)
    (activate,) = fake.requests_to("POST", "/activate")
    assert activate.path.endswith(f"/revisions/{good}/activate")


def test_rollback_in_single_mode_builds_a_new_revision_from_the_old_template(adapter, fake, single):
    app_id, ref = single
    good = first_revision(fake, app_id)
    adapter.release(ref, NEW_IMAGE)

    result = adapter.rollback(ref, good)

    assert result.status == "succeeded", result.message
    assert result.revision_after not in (good,) and result.image_after == OLD_IMAGE
    assert fake.weights(app_id) == {result.revision_after: 100}
    assert f"Rolled back to {good}'s template" in result.message


def test_rollback_to_an_unknown_revision(adapter, single):
    _, ref = single
    with pytest.raises(NotFound):
        adapter.rollback(ref, "mcp-weather--nope")


def test_list_revisions_follows_next_link_with_weights(adapter, fake, multiple):
    app_id, ref = multiple
    first = first_revision(fake, app_id)
    second = fake.deploy(app_id, image=NEW_IMAGE)
    third = fake.deploy(app_id, image=NEW_IMAGE, failed=("Failed", "bad image"))
    fake.set_traffic(app_id, {first: 30, second: 70})
    fake.list_page_size = 2

    revisions = adapter.list_revisions(ref)

    assert [(r.name, r.traffic_percent, r.ready) for r in revisions] == [
        (third, 0, False),
        (second, 70, True),
        (first, 30, True),
    ]
    assert revisions[1].image == NEW_IMAGE
    pages = fake.requests_to("GET", "/revisions")
    assert [p.query.get("$skipToken") for p in pages] == [None, "2"]


# -- template changes: fixed suffixes, pinned traffic -----------------------------------------
def test_scaling_an_app_with_a_fixed_revision_suffix_uses_a_new_suffix(adapter, fake, account):
    # Reusing a suffix fails the provisioning ("revision with suffix already exists").
    app_id = fake.add_app("mcp-fixed", revision_suffix="v1")

    result = adapter.apply_scaling(
        ServiceRef(account, "mcp-fixed"), ScalingSettings(max_instances=3)
    )

    assert result.status == "succeeded", result.message
    (patch,) = fake.requests_to("PATCH")
    suffix = patch.body["properties"]["template"]["revisionSuffix"]
    assert suffix != "v1" and result.revision_after == f"mcp-fixed--{suffix}"
    assert fake.weights(app_id) == {result.revision_after: 100}


def test_the_fake_fails_a_reused_revision_suffix(account, fake):
    fake.add_app("mcp-fixed", revision_suffix="v1")
    from azure.mgmt.appcontainers import ContainerAppsAPIClient

    from fleet.operations.clouds.credentials import azure_connection_verify, azure_credential

    client = ContainerAppsAPIClient(
        azure_credential(account),
        SUB,
        base_url=fake.endpoint,
        connection_verify=azure_connection_verify(account),
        polling_interval=0.01,
    )
    poller = client.container_apps.begin_update(
        "mcp-rg", "mcp-fixed", {"properties": {"template": {"scale": {"maxReplicas": 3}}}}
    )
    with pytest.raises(Exception, match="revision with suffix v1 already exists"):
        poller.result()


def test_scaling_in_multiple_mode_with_pinned_traffic_is_not_succeeded(adapter, fake, multiple):
    app_id, ref = multiple
    pinned = first_revision(fake, app_id)
    fake.set_traffic(app_id, {pinned: 100})

    result = adapter.apply_scaling(ref, ScalingSettings(max_instances=4))

    assert result.status == "failed"
    assert "serves 0 %: traffic is pinned to" in result.message and pinned in result.message


def test_throttled_revision_list_is_retried_after_retry_after(adapter, fake, multiple):
    _, ref = multiple
    fake.fail_next(429, path_contains="/revisions", method="GET")

    assert len(adapter.list_revisions(ref)) == 1
    assert len(fake.requests_to("GET", "/revisions")) == 2


@pytest.mark.parametrize("image", ["", "bad image"])
def test_release_refuses_a_bad_image(adapter, fake, single, image):
    _, ref = single
    with pytest.raises(InvalidRequest, match="^image: "):
        adapter.release(ref, image)
    assert fake.requests == []


def test_a_scaling_change_is_not_done_when_the_operation_is(account, fake, single):
    # ARM's operation Succeeded, but the new revision is still provisioning: not yet serving.
    _, ref = single
    fake.activation_gets = 10_000

    result = ContainerAppsAdapter(account, pacing=FAST).apply_scaling(
        ref, ScalingSettings(max_instances=4), timeout_s=0.3
    )

    assert result.status == "unknown"
    assert "has not started yet" in result.message


def test_a_scaling_change_whose_revision_crashes_is_failed(adapter, fake, single):
    app_id, ref = single
    old = first_revision(fake, app_id)
    fake.fail_next_revision("Degraded", "Container 'server' was terminated with exit code '137'")

    result = adapter.apply_scaling(ref, ScalingSettings(max_instances=4))

    assert result.status == "failed"
    assert "exit code '137'" in result.message
    assert fake.weights(app_id) == {old: 100}


def test_discovery_follows_next_link(adapter, fake, account):
    for name in ("mcp-a", "mcp-b", "mcp-c"):
        fake.add_app(name, tags={"mcp-server": "true"})
    fake.list_page_size = 2

    found = adapter.list_services(account, label="mcp-server")

    assert sorted(s.resource for s in found) == ["mcp-a", "mcp-b", "mcp-c"]
    assert len(fake.requests_to("GET", "/containerApps")) == 2


def test_a_release_waits_for_min_replicas(account, fake):
    # Running with fewer replicas than minReplicas is not the rollout yet.
    fake.add_app("mcp-warm", min_replicas=2)
    fake.started_replicas = 1
    lines: list[str] = []

    result = ContainerAppsAdapter(account, pacing=FAST).release(
        ServiceRef(account, "mcp-warm"), NEW_IMAGE, timeout_s=0.3, progress=lines.append
    )

    assert result.status == "unknown"
    assert any("1 of 2 replicas" in line for line in lines)


def test_a_restart_waits_for_min_replicas(account, fake):
    # Running again with 1 of its 2 minimum replicas is not yet a finished restart.
    fake.add_app("mcp-warm", min_replicas=2)
    fake.started_replicas = 1
    lines: list[str] = []

    result = ContainerAppsAdapter(account, pacing=FAST).redeploy(
        ServiceRef(account, "mcp-warm"), timeout_s=0.3, progress=lines.append
    )

    assert result.status == "unknown"
    assert any("Running, health Healthy, 1 of 2 replicas" in line for line in lines)


def test_a_throttled_answer_is_retried_after_its_retry_after(adapter, fake, multiple):
    import time

    _, ref = multiple
    fake.retry_after = "1"
    fake.fail_next(503, path_contains="/revisions", method="GET")
    started = time.monotonic()

    adapter.list_revisions(ref)

    assert time.monotonic() - started >= 1.0  # FAST pacing alone would retry within 0.02 s
    assert len(fake.requests_to("GET", "/revisions")) == 2
