"""Releases through the console: new image, rollback, canary refusal, batches and dry runs,
against the strict Kubernetes fake and a real MCP server for the post-deploy probe."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from console.celery import app
from console.models import ApiToken, AuditLogEntry
from fleet.models import Service
from fleet.operations import releases
from fleet.operations import services as cs
from fleet.operations.models import Redeploy, RedeployBatch

pytestmark = pytest.mark.django_db

NEW = "ghcr.io/example/mcp-weather:1.5.0"
OLD = "ghcr.io/example/mcp-weather:1.4.2"


def api(user) -> Client:
    _, raw = ApiToken.issue(user, "ci")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def post(client: Client, path: str, body: dict | None = None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def release_now(service, actor, capture, image: str = NEW, **kw) -> Redeploy:
    with capture(execute=True):
        redeploy, _ = releases.request_release(service, actor, image, **kw)
    redeploy.refresh_from_db()
    return redeploy


def test_api_release_deploys_the_image_and_records_before_and_after(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    cs.sync_observed(kubernetes.service)
    client = api(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(
            client, "/api/v1/services/weather/releases", {"image": NEW, "reason": "ship 1.5"}
        )

    assert response.status_code == 202
    body = client.get(f"/api/v1/releases/{response.json()['id']}").json()
    assert body["action"] == "release" and body["status"] == "succeeded"
    assert (body["image_before"], body["image_after"]) == (OLD, NEW)
    assert (body["revision_before"], body["revision_after"]) == ("1", "2")
    assert "Healthy" in body["log"]
    requested = AuditLogEntry.objects.get(action="release-request")
    assert requested.actor == operator and requested.after["target_image"] == NEW
    done = AuditLogEntry.objects.get(action="release")
    assert done.before == {"revision": "1", "image": OLD}
    assert done.after["image_after"] == NEW and done.after["reason"] == "ship 1.5"
    listed = client.get("/api/v1/services/weather/releases").json()
    assert [r["id"] for r in listed] == [body["id"]]


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("", "Give the image to deploy"),
        ("ghcr.io/example/mcp-weather", "names no tag or digest"),
        ("ghcr.io/Example/mcp-weather:1.5", "upper-case letters"),
        ("ghcr.io/example/mcp weather:1.5", "is not an image reference"),
        ("ghcr.io/example/mcp-weather@sha256:abc123", "not a sha256 digest"),
    ],
)
def test_a_bad_image_reference_is_a_422_naming_the_field(kubernetes, operator, image, problem):
    response = post(api(operator), "/api/v1/services/weather/releases", {"image": image})

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "image"] and problem in error["msg"]
    assert not Redeploy.objects.exists()


def test_a_digest_is_a_valid_release(kubernetes, operator, django_capture_on_commit_callbacks):
    digest = "ghcr.io/example/mcp-weather@sha256:" + "a" * 64

    redeploy = release_now(
        kubernetes.service, operator, django_capture_on_commit_callbacks, image=digest
    )

    assert redeploy.status == "succeeded" and redeploy.image_after == digest


def test_no_canary_on_kubernetes_offers_the_rolling_update(kubernetes, operator):
    response = post(
        api(operator), "/api/v1/services/weather/releases", {"image": NEW, "canary_percent": 10}
    )

    assert response.status_code == 422
    error = response.json()["detail"][0]
    assert error["loc"] == ["body", "canary_percent"]
    assert "no traffic split" in error["msg"] and "rolling update" in error["msg"]
    assert kubernetes.fake.requests_to("PATCH") == []


def test_a_crashing_release_fails_with_pod_diagnostics_on_the_page(
    kubernetes, operator, operator_client, django_capture_on_commit_callbacks
):
    kubernetes.fake.image_faults[NEW] = "crashloop"

    redeploy = release_now(kubernetes.service, operator, django_capture_on_commit_callbacks)

    assert redeploy.status == "failed"
    assert "CrashLoopBackOff" in redeploy.error
    assert any(line.startswith("Pod mcp-weather-") for line in redeploy.diagnostics)
    assert "Healthy" not in redeploy.log  # no probe claims success
    page = operator_client.get(redeploy.get_absolute_url()).content.decode()
    assert "CrashLoopBackOff" in page and "Back-off restarting failed container" in page
    failed = AuditLogEntry.objects.get(action="release")
    assert failed.after["status"] == "failed"
    # A failed rollout does not claim what serves now.
    assert failed.after["image"] == "not verified: the release failed"


def test_rollback_to_the_previous_revision_in_one_call(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    release_now(kubernetes.service, operator, django_capture_on_commit_callbacks)
    client = api(operator)
    revisions = client.get("/api/v1/services/weather/revisions").json()
    assert [(r["name"], r["image"], r["active"]) for r in revisions] == [
        ("2", NEW, True),
        ("1", OLD, False),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, "/api/v1/services/weather/rollback", {"reason": "1.5 is bad"})

    assert response.status_code == 202
    rollback = Redeploy.objects.get(pk=response.json()["id"])
    assert rollback.action == "rollback" and rollback.status == "succeeded"
    assert rollback.target_revision == "1"
    assert (rollback.image_before, rollback.image_after) == (NEW, OLD)
    assert "The previous revision is 1" in rollback.log
    audit = AuditLogEntry.objects.get(action="rollback")
    assert audit.actor == operator and audit.after["image_after"] == OLD
    # The audit log's before/after diff reads image NEW -> OLD, not NEW -> nothing.
    assert (audit.before["image"], audit.after["image"]) == (NEW, OLD)
    assert (audit.before["revision"], audit.after["revision"]) == ("2", "3")


def test_rollback_errors_name_the_field(kubernetes, operator, viewer):
    client = api(operator)

    assert post(api(viewer), "/api/v1/services/weather/rollback").status_code == 403
    bad = post(client, "/api/v1/services/weather/rollback", {"revision": "1; rm -rf"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "revision"]
    unknown = post(client, "/api/v1/services/weather/rollback", {"to": "1"})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "to"]


def test_a_rollback_to_a_missing_revision_fails_naming_the_recorded_ones(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        redeploy, _ = releases.request_rollback(kubernetes.service, operator, "9")
    redeploy.refresh_from_db()

    assert redeploy.status == "failed"
    assert "no revision 9 (recorded revisions: 1;" in redeploy.error


def test_one_rollout_in_flight_per_service_whatever_its_action(kubernetes, operator):
    first, created = releases.request_release(kubernetes.service, operator, NEW)
    assert created

    response = post(api(operator), "/api/v1/services/weather/rollback")

    assert response.status_code == 409
    assert response.json()["redeploy"]["id"] == first.pk
    assert "release of weather is already in flight" in response.json()["detail"]


# -- batches ----------------------------------------------------------------------------------
@pytest.fixture
def two_services(kubernetes):
    files = Service.objects.create(
        name="files",
        url=kubernetes.service.url,
        account=kubernetes.account,
        resource="mcp-files",
        team="tools",
        tags=["edge"],
    )
    cs.sync_observed(kubernetes.service)
    cs.sync_observed(files)
    return kubernetes.service, files


def test_dry_run_lists_exactly_what_each_service_gets(two_services, operator):
    response = post(
        api(operator),
        "/api/v1/release-batches",
        {"team": "tools", "image_tag": "2.0.0", "dry_run": True},
    )

    assert response.status_code == 200
    assert [
        (p["service"], p["image_before"], p["image_after"]) for p in response.json()["plan"]
    ] == [
        ("files", OLD, "ghcr.io/example/mcp-weather:2.0.0"),
        ("weather", OLD, "ghcr.io/example/mcp-weather:2.0.0"),
    ]
    assert not Redeploy.objects.exists()


def test_batch_release_stops_at_the_first_failure(
    two_services, operator, django_capture_on_commit_callbacks, kubernetes
):
    kubernetes.fake.image_faults["ghcr.io/example/mcp-weather:2.0.0"] = "imagepull"

    with django_capture_on_commit_callbacks(execute=True):
        batch, plan = releases.request_batch_release(
            list(two_services), operator, image_tag="2.0.0", concurrency=1, reason="2.0"
        )

    batch.refresh_from_db()
    assert batch.status == "failed" and batch.action == "release"
    first, second = batch.redeploys.order_by("pk")
    assert first.status == "failed" and "ImagePullBackOff" in first.error
    assert second.status == "failed" and second.error.startswith("Not started")
    assert AuditLogEntry.objects.get(action="release-batch").after["services"] == {
        "weather": "ghcr.io/example/mcp-weather:2.0.0",
        "files": "ghcr.io/example/mcp-weather:2.0.0",
    }


def test_batch_selection_errors_name_the_field(two_services, operator):
    with pytest.raises(ValidationError) as caught:
        releases.select_services([], team="nobody")
    assert "No service matches team 'nobody'" in caught.value.message_dict["services"][0]
    with pytest.raises(ValidationError) as caught:
        releases.plan_batch_release(list(two_services), image=NEW, image_tag="2.0")
    assert "image" in caught.value.message_dict
    assert not RedeployBatch.objects.exists()


# -- the CLI ----------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_cli_release_and_rollback_wait_for_the_verdict(kubernetes, capsys):
    call_command("release", "weather", "--image", NEW, "--wait", "--reason", "cli")
    out = capsys.readouterr().out
    assert f"image {OLD} → {NEW}" in out and "Succeeded" in out

    call_command("rollback", "weather", "--wait")
    out = capsys.readouterr().out
    assert "Rollback" in out and f"image {NEW} → {OLD}" in out
    assert AuditLogEntry.objects.filter(action="rollback", actor_label__startswith="cli:").exists()

    call_command("rollback", "weather", "--list")
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].startswith("3 (serving) 100%") and OLD in listing[0]


def test_cli_names_the_bad_option(kubernetes):
    with pytest.raises(CommandError, match="--image: 'nope' names no tag or digest"):
        call_command("release", "weather", "--image", "nope")
    with pytest.raises(CommandError, match="--canary: No canary for weather"):
        call_command("release", "weather", "--image", NEW, "--canary", "10")
    with pytest.raises(CommandError, match="--to: 'x y' is not a revision"):
        call_command("rollback", "weather", "--to", "x y")


@pytest.mark.django_db(transaction=True)
def test_cli_wait_says_when_no_worker_is_running(kubernetes, settings, monkeypatch):
    monkeypatch.setitem(app.conf, "task_always_eager", False)  # a real queue, no worker on it
    settings.FLEET_CLI_WORKER_GRACE_SECONDS = 0.2

    with pytest.raises(CommandError) as caught:
        call_command("release", "weather", "--image", NEW, "--wait", "--timeout", "60")

    assert caught.value.returncode == 4
    assert "no Celery worker is running" in str(caught.value)
    assert "--foreground" in str(caught.value)
    assert Redeploy.objects.get().status == "queued"  # still there for a worker


@pytest.mark.django_db(transaction=True)
def test_cli_foreground_runs_the_job_without_a_worker(kubernetes, monkeypatch, capsys):
    monkeypatch.setitem(app.conf, "task_always_eager", False)

    call_command("release", "weather", "--image", NEW, "--foreground")

    assert Redeploy.objects.get().status == "succeeded"
    assert "Succeeded" in capsys.readouterr().out


def test_cli_dry_run(two_services, capsys):
    call_command("release", "--team", "tools", "--image-tag", "2.0.0", "--dry-run")

    out = capsys.readouterr().out
    assert "Dry run: 2 service(s), nothing changes." in out
    assert f"weather: {OLD} → ghcr.io/example/mcp-weather:2.0.0" in out
    assert not Redeploy.objects.exists()


# -- canary through the framework, on Cloud Run (which splits traffic) ----------------------------
CLOUD_RUN = "projects/demo-project/locations/us-central1/services/mcp-weather"


@pytest.fixture
def quick_canary(settings):
    settings.FLEET_CANARY_PROBE_INTERVAL_SECONDS = 0.2


def canary_now(platform, actor, capture, percent: int = 10, watch: int = 1) -> Redeploy:
    with capture(execute=True):
        redeploy, _ = releases.request_release(
            platform.service,
            actor,
            "us-docker.pkg.dev/demo-project/mcp/weather:1.5.0",
            reason="canary 1.5",
            canary_percent=percent,
            canary_watch_s=watch,
        )
    redeploy.refresh_from_db()
    return redeploy


def test_cloud_run_canary_is_watched_then_promoted(
    cloudrun, operator, quick_canary, django_capture_on_commit_callbacks
):
    old = cloudrun.fake.revision_of(CLOUD_RUN)

    redeploy = canary_now(cloudrun, operator, django_capture_on_commit_callbacks)

    assert redeploy.action == "canary" and redeploy.status == "succeeded", redeploy.error
    new = redeploy.revision_after
    assert new != old and cloudrun.fake.serving(CLOUD_RUN) == {new: 100}
    assert redeploy.image_after == "us-docker.pkg.dev/demo-project/mcp/weather:1.5.0"
    assert "Canary probe 1 of" in redeploy.log and "promoting" in redeploy.log
    steps = list(
        AuditLogEntry.objects.filter(action__startswith="canary")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert steps == ["canary-request", "canary-start", "canary-promote", "canary"]
    start = AuditLogEntry.objects.get(action="canary-start")
    assert start.before == {"traffic": {old: 100}} and start.after["traffic"] == {new: 10}
    assert start.actor == operator


def test_an_unhealthy_cloud_run_canary_is_rolled_back_automatically(
    cloudrun, broken_url, operator, quick_canary, django_capture_on_commit_callbacks
):
    Service.objects.filter(pk=cloudrun.service.pk).update(url=broken_url)
    cloudrun.service.refresh_from_db()
    cloudrun.fake.tag_uri = lambda service_uri, tag: broken_url.rsplit("/mcp", 1)[0]
    old = cloudrun.fake.revision_of(CLOUD_RUN)

    redeploy = canary_now(cloudrun, operator, django_capture_on_commit_callbacks, watch=5)

    assert redeploy.status == "failed"
    assert redeploy.error.startswith("Canary rolled back automatically")
    assert cloudrun.fake.serving(CLOUD_RUN) == {old: 100}  # traffic is back where it was
    rollback = AuditLogEntry.objects.get(action="canary-rollback")
    assert rollback.after["traffic"] == {old: 100} and rollback.after["status"] == "succeeded"
    assert rollback.after["reason"] == "canary 1.5"
    assert not AuditLogEntry.objects.filter(action="canary-promote").exists()


def test_canary_bounds_name_the_field(cloudrun, operator):
    client = api(operator)
    for body, field in (
        ({"canary_percent": 100}, "canary_percent"),
        ({"canary_percent": 10, "canary_watch_s": 0}, "canary_watch_s"),
        ({"canary_watch_s": 30}, "canary_watch_s"),
    ):
        response = post(client, "/api/v1/services/weather/releases", {"image": NEW, **body})
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", field]


def test_ecs_release_and_rollback_through_the_framework(
    ecs, operator, django_capture_on_commit_callbacks
):
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mcp-weather:1.5.0"
    with django_capture_on_commit_callbacks(execute=True):
        release, _ = releases.request_release(ecs.service, operator, image, container="server")
    release.refresh_from_db()

    assert release.status == "succeeded", release.error
    assert release.image_after == image and release.container == "server"
    assert release.revision_after.endswith(":2")

    with django_capture_on_commit_callbacks(execute=True):
        rollback, _ = releases.request_rollback(ecs.service, operator)
    rollback.refresh_from_db()
    assert rollback.status == "succeeded", rollback.error
    assert rollback.target_revision.endswith(":1")
    assert rollback.image_after.endswith("mcp-weather:1.4.2")


def test_container_names_only_where_the_platform_has_them(cloudrun, operator):
    with pytest.raises(ValidationError) as caught:
        releases.request_release(cloudrun.service, operator, NEW, container="server")
    assert (
        "Only Kubernetes and ECS releases name a container"
        in (caught.value.message_dict["container"][0])
    )


def test_after_a_failed_release_rollback_returns_to_the_revision_before_it(
    kubernetes, operator, django_capture_on_commit_callbacks
):
    kubernetes.fake.image_faults[NEW] = "oomkilled"
    failed = release_now(kubernetes.service, operator, django_capture_on_commit_callbacks)
    assert failed.status == "failed" and "OOMKilled" in failed.error

    with django_capture_on_commit_callbacks(execute=True):
        rollback, _ = releases.request_rollback(kubernetes.service, operator, reason="OOM")
    rollback.refresh_from_db()

    assert rollback.status == "succeeded", rollback.error
    assert rollback.target_revision == "1" and rollback.image_after == OLD
    pods = kubernetes.fake.pods_of(kubernetes.fake.replicasets_of("mcp-weather")[-1])
    assert pods and all(p["status"]["containerStatuses"][0]["ready"] for p in pods)


def test_a_refused_promotion_says_where_traffic_was_left(
    cloudrun, operator, quick_canary, django_capture_on_commit_callbacks
):
    old = cloudrun.fake.revision_of(CLOUD_RUN)
    cloudrun.fake.fail_next(
        403, method="PATCH", when=lambda r: len(cloudrun.fake.requests_to("PATCH")) >= 2
    )

    redeploy = canary_now(cloudrun, operator, django_capture_on_commit_callbacks)

    assert redeploy.status == "failed"
    assert "promoting revision" in redeploy.error and "may still serve 10%" in redeploy.error
    assert cloudrun.fake.serving(CLOUD_RUN) == {redeploy.revision_after: 10, old: 90}
    promote = AuditLogEntry.objects.get(action="canary-promote")
    assert promote.after["status"] == "failed"
